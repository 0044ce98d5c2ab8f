"""The agent link under good and bad input: typed errors or silent resync, never a crash
or a hang, and a retried request is answered from cache, not applied twice."""

from __future__ import annotations

import cbor2
import pytest
from dbch.errors import DeviceError
from dbch.link import frames as protocol
from dbch.link.client import AgentClient
from dbch.link.frames import (
    KIND_ERROR,
    KIND_REPLY,
    VERSION,
    Link,
    encode_agent_frame,
    encode_frame,
    encode_request,
)
from dbch.link.transport import Transport
from helpers import HUB_BOARD


def reply(link: Link, seq: int, timeout: float = 2.0) -> protocol.Frame | None:
    return link._await_replies({seq}, timeout).get(seq)


def error_code(frame: protocol.Frame) -> str:
    assert frame.kind == KIND_ERROR
    return frame.decode_body()["code"]


@pytest.fixture
def raw(hub_board):
    with Transport(hub_board.port) as t:
        t.discard_input()
        link = Link(t, on_console=None, seq=100)
        link.request("hello")
        yield link


def test_hello_identifies_agent_board_and_firmware(hub) -> None:
    from dbch.boards.deploy import firmware_hash

    h = hub.hello()
    assert h.proto == VERSION and h.board == HUB_BOARD and h.radio == "sx1262"
    assert h.fw_hash == firmware_hash()
    assert len(h.uid) == 8


def test_status_reports_health(hub) -> None:
    st = hub.status()
    assert st["uptime_ms"] >= 0
    assert st["reset_cause"] in {"power_on", "hard", "soft", "watchdog"}
    assert 0 < st["heap"]["free"] <= st["heap"]["total"]
    assert st["counters"]["rx"] >= 1


def test_an_argument_named_command_reaches_the_board(hub) -> None:
    # The soak's fuzz drew an extra argument named `command`: the client raised TypeError
    # (its own parameter) instead of sending it; the board names the argument it refuses.
    with pytest.raises(DeviceError) as e:
        hub.call("echo", data=b"x", command="x")
    assert e.value.code == "bad_argument" and e.value.field == "command"


def test_garbage_between_frames_is_ignored(raw: Link) -> None:
    raw.transport.write(b"\x00\xff\x80garbage with no mark\r\n" + bytes(range(6, 256)) + b"\n")
    assert raw.request("hello")["proto"] == VERSION


def test_truncated_frame_is_dropped_when_the_next_frame_starts(raw: Link) -> None:
    line = encode_request(raw.next_seq(), "hello")
    raw.transport.write(line[: len(line) // 2])  # cut short, no newline
    assert raw.request("hello")["proto"] == VERSION  # the next frame's mark resynchronises


def test_wrong_crc_gets_a_typed_error(raw: Link) -> None:
    seq = raw.next_seq()
    frame = bytearray(encode_frame(0, seq, cbor2.dumps(["hello", {}])))
    frame[-3] = ord("A") if frame[-3] != ord("A") else ord("B")  # damage the CRC
    raw.transport.write(bytes(frame))
    assert error_code(reply(raw, seq)) == "bad_crc"


def test_oversized_frame_gets_too_large(raw: Link) -> None:
    seq = raw.next_seq()
    raw.transport.write(encode_request(seq, "echo", {"data": b"x" * 2000}))
    assert error_code(reply(raw, seq)) == "too_large"
    assert raw.request("hello")["proto"] == VERSION


def test_largest_frame_the_board_takes_is_accepted(raw: Link) -> None:
    # hello says how long a request frame may be (512 bytes on the WL55 twin, whose
    # 112 KB heap also holds the code): header 3 + CRC 4 + CBOR ["echo", {"data": h'..'}]
    limit = raw.request("hello")["max_request"]
    assert limit in (512, protocol.MAX_REQUEST_FRAME)
    overhead = len(cbor2.dumps(["echo", {"data": b""}])) + 3 + 4 + 2  # +2: longer length
    data = (bytes(range(256)) * 4)[: limit - overhead]
    assert raw.request("echo", {"data": data})["data"] == data
    seq = raw.next_seq()
    raw.transport.write(encode_request(seq, "echo", {"data": data + b"x" * 8}))
    assert error_code(reply(raw, seq)) == "too_large"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff\xfe", "bad_cbor"),
        (cbor2.dumps({"not": "a list"}), "bad_request"),
        (cbor2.dumps([]), "bad_request"),
        (cbor2.dumps(["nonsense", {}]), "unknown_command"),
        (cbor2.dumps(["hello", [1, 2]]), "bad_argument"),
        (cbor2.dumps(["hello", {"extra": 1}]), "bad_argument"),
        (cbor2.dumps(["memtest", {"size": "big"}]), "bad_argument"),
        (cbor2.dumps(["memtest", {"size": -5}]), "bad_argument"),
        (cbor2.dumps(["memtest", {}]), "bad_argument"),
        (cbor2.dumps(["echo", {"data": True}]), "bad_argument"),
        (cbor2.dumps(1.5), "bad_cbor"),
    ],
)
def test_bad_requests_get_typed_errors(raw: Link, body: bytes, code: str) -> None:
    seq = raw.next_seq()
    raw.transport.write(encode_frame(0, seq, body))
    assert error_code(reply(raw, seq)) == code
    assert raw.request("hello")["proto"] == VERSION


def test_bad_argument_names_the_field(hub: AgentClient) -> None:
    with pytest.raises(DeviceError) as e:
        hub.call("memtest", size="big")
    assert e.value.code == "bad_argument" and e.value.field == "size"


def test_a_reply_frame_sent_to_the_agent_is_refused(raw: Link) -> None:
    seq = raw.next_seq()
    raw.transport.write(encode_frame(KIND_REPLY, seq, cbor2.dumps(["hello", {}])))
    assert error_code(reply(raw, seq)) == "bad_frame"


def test_retry_with_same_seq_is_answered_from_cache(raw: Link) -> None:
    seq = raw.next_seq()
    line = encode_request(seq, "status")
    raw.transport.write(line)
    first = reply(raw, seq)
    raw.transport.write(line)  # the same request again: a retry after a lost reply
    second = reply(raw, seq)
    assert first.body == second.body  # byte for byte: not computed again
    after = raw.request("status")
    assert after["counters"]["retries"] >= 1


def test_console_output_between_frames_reaches_the_user(hub_board) -> None:
    # A print from the device (here: a MicroPython traceback line) arrives between frames.
    seen: list[bytes] = []
    with Transport(hub_board.port) as t:
        t.discard_input()
        link = Link(t, on_console=seen.append)
        link.request("hello")
        t.write(b"not a frame, echoed by nobody\n")
        # the device's own output: the agent's reply plus text before the mark on one line
        line = b"Traceback (most recent call last):" + encode_agent_frame(
            3, 1, cbor2.dumps({"ev": "x"})
        )
        link.transport._buf += line
        assert link.wait_event("x", timeout=1) == {"ev": "x"}
    assert seen == [b"Traceback (most recent call last):"]


def test_many_requests_in_one_burst_all_answered(raw: Link) -> None:
    seqs = [raw.next_seq() for _ in range(50)]
    raw.transport.write(b"".join(encode_request(s, "hello") for s in seqs))
    for s in seqs:
        frame = reply(raw, s, timeout=5)
        assert frame is not None and frame.kind == KIND_REPLY
