"""Several open requests in one round trip (Link.request_many, AgentClient.call_many): the
replies come back in order, a lost one is asked for again on its own, an error reply is
the DeviceError it would be alone, and a real agent answers them all."""

from __future__ import annotations

import cbor2
import pytest
from dbch.errors import DeviceError, TransportError
from dbch.link.client import AgentClient
from dbch.link.frames import (
    KIND_ERROR,
    KIND_REPLY,
    Link,
    decode_frame,
    encode_agent_frame,
    split_line,
)
from helpers import ensure_agent


class FakeAgent:
    """A transport that answers requests as an agent would (the reply echoes the command),
    losing the first reply to the commands in `lose` and refusing those in `refuse`."""

    url = "fake://agent"

    def __init__(self, lose: set[str] = frozenset(), refuse: set[str] = frozenset()):
        self.lose, self.refuse = set(lose), set(refuse)
        self.out: list[bytes] = []
        self.writes: list[list[str]] = []

    def write(self, data: bytes) -> None:
        asked = []
        for line in data.splitlines(keepends=True):
            _, text = split_line(line)
            frame = decode_frame(text)
            command = cbor2.loads(frame.body)[0]
            asked.append(command)
            if command in self.lose:
                self.lose.discard(command)
                continue
            if command in self.refuse:
                body = cbor2.dumps({"code": "bad_argument", "field": "x"})
                self.out.append(encode_agent_frame(KIND_ERROR, frame.seq, body))
            else:
                self.out.append(
                    encode_agent_frame(KIND_REPLY, frame.seq, cbor2.dumps({"c": command}))
                )
        self.writes.append(asked)

    def read_line(self, timeout: float) -> bytes | None:
        return self.out.pop(0) if self.out else None


def test_replies_come_back_in_order_in_one_write() -> None:
    fake = FakeAgent()
    got = Link(fake, on_console=None).request_many([("a", None), ("b", None), ("c", None)])
    assert got == [{"c": "a"}, {"c": "b"}, {"c": "c"}]
    assert fake.writes == [["a", "b", "c"]]  # one write: one round trip


def test_a_lost_reply_is_asked_for_again_alone() -> None:
    fake = FakeAgent(lose={"b"})
    link = Link(fake, on_console=None)
    got = link.request_many([("a", None), ("b", None), ("c", None)], timeout=0.05)
    assert got == [{"c": "a"}, {"c": "b"}, {"c": "c"}]
    assert fake.writes == [["a", "b", "c"], ["b"]] and link.stats["retries"] == 1


def test_an_error_reply_is_a_device_error_and_silence_a_transport_error() -> None:
    with pytest.raises(DeviceError) as e:
        Link(FakeAgent(refuse={"b"}), on_console=None).request_many([("a", None), ("b", None)])
    assert e.value.code == "bad_argument"
    lossy = FakeAgent(lose={"a"})
    with pytest.raises(TransportError, match="no reply to request"):
        Link(lossy, on_console=None).request_many([("a", None)], timeout=0.05, retries=0)


def test_a_real_agent_answers_them_all(hub_board) -> None:
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        hello, cfg, status = hub.call_many("hello", "get_config", "status")
        assert hello["board"] == hub.hello().board
        assert set(cfg) >= {"configured"} and "uptime_ms" in status
        with pytest.raises(ValueError):
            hub.call_many("hello", "set_config")  # signed commands go one at a time
