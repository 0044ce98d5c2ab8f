"""Replies the host cannot trust: a board (or whatever answers on the port) sends
well-framed replies with the wrong shapes. The host says which field is wrong in one
line and exits 2; it never crashes (a `uid` sent as an integer used to make `bytes(2**34)`
and a MemoryError traceback)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest
from dbch.link.frames import KIND_ERROR, KIND_REPLY, decode_frame, encode_agent_frame

DBCH = str(Path(sys.executable).parent / "dbch")

GOOD_HELLO = {
    "proto": 1,
    "fw": {"version": "0.1.0", "hash": "ab" * 32},
    "board": "PICO_WAVESHARE_SX1262",
    "radio": "sx1262",
    "uid": b"\x01" * 8,
    "platform": "rp2",
    "mp": [1, 29, 0],
    "epoch": 1970,
    "max_request": 1024,
}


class Refusal(dict):
    """An error reply (KIND_ERROR) the fake agent sends instead of a reply."""


class FakeAgent:
    """Answers every request on a TCP port (socket://) with the reply given for its
    command: a stand-in for a broken or hostile device."""

    def __init__(self, replies: dict[str, object]):
        self.replies = replies
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    buf += data
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        if b"\x1e" not in line:
                            continue
                        frame = decode_frame(line.split(b"\x1e", 1)[1])
                        command = cbor2.loads(frame.body)[0]
                        reply = self.replies.get(command, {})
                        kind = KIND_ERROR if isinstance(reply, Refusal) else KIND_REPLY
                        body = cbor2.dumps(dict(reply) if kind == KIND_ERROR else reply)
                        conn.sendall(encode_agent_frame(kind, frame.seq, body))


@pytest.fixture
def fake() -> Iterator[type[FakeAgent]]:
    made: list[FakeAgent] = []

    def make(replies: dict[str, object]) -> FakeAgent:
        agent = FakeAgent(replies)
        made.append(agent)
        return agent

    yield make  # type: ignore[misc]
    for agent in made:
        agent.server.close()


@pytest.mark.parametrize(
    ("command", "replies", "field"),
    [
        ("hello", {"hello": {**GOOD_HELLO, "uid": 2**34}}, "uid is int, not bytes"),
        ("hello", {"hello": {**GOOD_HELLO, "fw": {"version": 3}}}, "fw.version is int"),
        ("hello", {"hello": {**GOOD_HELLO, "ticks_ms": "5"}}, "ticks_ms is str, not int"),
        ("status", {"status": {"uptime_ms": "soon", "heap": {}}}, "uptime_ms is str"),
        ("status", {"status": {"uptime_ms": 5, "heap": {"used": [1]}}}, "heap.used is list"),
        ("status", {"status": ["not", "a", "map"]}, "is not a map"),
        (
            "config",
            {"get_config": {"configured": True, "fields": {"page28": "0xE0000001"}}},
            "fields.page28 is not an int",
        ),
        ("channel", {"get_channel": {"page": 28, "freq_hz": 8.6e8}}, "freq_hz is float"),
        # an error reply whose code is a number exited 1 ("device refused: 7")
        ("status", {"status": Refusal(code=7)}, "code is int, not a string"),
    ],
)
def test_a_malformed_reply_is_one_line_and_exit_2(fake, command, replies, field) -> None:
    agent = fake(replies)
    out = subprocess.run(
        [DBCH, command, "--port", f"socket://127.0.0.1:{agent.port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "malformed" in out.stderr and field in out.stderr, out.stderr


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        # protocol 2's words and digests, misused: a word this dbch does not know, a tag
        # other than 23, a tag 23 over text instead of bytes
        ({"uptime_ms": cbor2.CBORSimpleValue(250)}, "word 250, which this dbch does not know"),
        ({"uptime_ms": cbor2.CBORTag(99, 1)}, "CBOR tag 99, which the link does not use"),
        ({"uptime_ms": cbor2.CBORTag(23, "ab")}, "CBOR tag 23, which the link does not use"),
    ],
)
def test_a_reply_with_an_unknown_word_or_tag_is_one_line_and_exit_2(fake, reply, says) -> None:
    agent = fake({"status": reply})
    out = subprocess.run(
        [DBCH, "status", "--port", f"socket://127.0.0.1:{agent.port}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert says in out.stderr, out.stderr


def test_a_board_without_room_for_a_page_of_events_is_asked_for_fewer() -> None:
    # The soak: the WL55's twin answered a page of events "busy: out of memory" after a
    # power cut; the whole download failed. The client now halves the page and goes on.
    from dbch.errors import DeviceError
    from dbch.link.client import AgentClient

    log = [[i, 0, "reset", {}] for i in range(1, 31)]

    class Board(AgentClient):
        def __init__(self) -> None:
            self.asked: list[int] = []

        def events(self, after: int = 0, limit: int = 20) -> dict:
            self.asked.append(limit)
            if limit > 12:
                raise DeviceError("busy", None, "out of memory (heap free 28928)")
            page = [e for e in log if e[0] > after][:limit]
            return {"entries": page, "more": page[-1][0] < 30 if page else False}

    board = Board()
    assert [e[0] for e in board.all_events()] == list(range(1, 31))
    assert board.asked[:3] == [50, 25, 12]
