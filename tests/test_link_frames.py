"""Frames: the agent's codec and the host's agree, and no frame can disturb the REPL."""

from __future__ import annotations

import zlib

import pytest
from dbch.link import frames as protocol
from helpers import MicroPython
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

vm_settings = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@vm_settings
@given(st.integers(0, 3), st.integers(0, 0xFFFF), st.binary(max_size=300))
def test_agent_and_host_frames_agree(mp: MicroPython, kind: int, seq: int, body: bytes) -> None:
    status, out = mp.ask(f"frame {kind} {seq} {body.hex() or '00'[:0]}")
    assert status == "ok", out
    line = bytes.fromhex(out)
    assert line == protocol.encode_agent_frame(kind, seq, body)
    # one line: the mark, no newline, carriage return, mark or 0xFF inside (the escape
    # byte only before what it stands for), the newline
    inside = line[1:-1]
    assert line[0] == 0x1E and line.endswith(b"\n")
    assert not (protocol.ESCAPED - {protocol.ESCAPE}).intersection(inside)
    pairs = inside.split(bytes([protocol.ESCAPE]))[1:]
    assert all(p and p[0] ^ 0x20 in protocol.ESCAPED for p in pairs)
    frame = protocol.decode_frame(line[1:-1])
    assert (frame.kind, frame.seq, frame.body) == (kind, seq, body)
    # and the other way: host frame decoded by the agent
    host = protocol.encode_frame(kind, seq, body)
    status, out = mp.ask("unframe " + host[1:-1].hex())
    k, s, b, _crc = out.split(" ")
    assert (int(k), int(s), bytes.fromhex(b)) == (kind, seq, body)


@given(st.integers(0, 3), st.integers(0, 0xFFFF), st.binary(max_size=2000))
def test_frames_never_carry_repl_control_bytes(kind: int, seq: int, body: bytes) -> None:
    line = protocol.encode_frame(kind, seq, body)
    assert not protocol.REPL_CONTROL.intersection(line)
    assert line.count(b"\n") == 1 and line.endswith(b"\n") and line.startswith(b"\x1e")


def test_damaged_frames_are_rejected_by_the_agent(mp: MicroPython) -> None:
    good = protocol.encode_frame(0, 7, b"\x82fstatus\xa0")[1:-1]
    flipped = bytearray(good)
    flipped[10] = ord("A") if flipped[10] != ord("A") else ord("B")
    assert mp.ask("unframe " + bytes(flipped).hex())[1].startswith("FrameError")
    assert mp.ask("unframe " + good[:8].hex())[1].startswith("FrameError")
    assert mp.ask("unframe " + b"!!!!not base64".hex())[1].startswith("FrameError")


@vm_settings
@given(st.binary(max_size=500))
def test_fallback_crc32_matches_zlib(mp: MicroPython, data: bytes) -> None:
    # ports without binascii.crc32 use dbchagent/crc32.py: it must be the same CRC
    _, out = mp.ask("crc " + (data.hex() or ""))
    fallback, builtin = map(int, out.split())
    assert fallback == builtin == zlib.crc32(data)


def test_an_agent_of_the_old_protocol_is_named_with_the_fix() -> None:
    # A version 1 agent answers in base64: the host reads the frame and says what to do,
    # instead of counting the line as noise and timing out
    import base64

    raw = bytes((0x11, 0, 5)) + b"\xa0"
    v1 = base64.b64encode(raw + zlib.crc32(raw).to_bytes(4, "big"))
    with pytest.raises(protocol.VersionError, match=r"protocol 1, this dbch 2.*dbch deploy"):
        protocol.decode_frame(v1)


def test_protocol_doc_example_is_what_the_host_sends() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "protocol.md").read_text()
    line = protocol.encode_request(1, "hello")
    assert line == b"\x1eIAABgWVoZWxsb+YXRQw=\n"
    assert '"IAABgWVoZWxsb+YXRQw="' in doc and "20 00 01 81 65 68 65 6C 6C 6F E6 17 45 0C" in doc
    # the error reply the page shows, as the agent's line
    body = bytes.fromhex(
        "A3F8476F756E6B6E6F776E5F636F6D6D616E64F84867636F6D6D616E64F849657374617475"
    )
    reply = protocol.encode_agent_frame(protocol.KIND_ERROR, 1, body)
    assert reply.hex(" ").upper() == "1E 22 00 01 " + body.hex(" ").upper() + " E1 7D 2A 88 B6 0A"
    assert "E1 7D 2A 88 B6 0A" in doc
    assert protocol.decode_frame(reply[1:-1]).decode_body() == {
        "code": "unknown_command",
        "field": "command",
        "msg": "statu",
    }


def test_protocol_doc_client_talks_to_a_board(hub_board) -> None:
    # The minimal client in docs/protocol.md, run as written against a simulated board.
    import re
    from pathlib import Path

    from helpers import ensure_agent

    ensure_agent(hub_board)
    doc = (Path(__file__).parents[1] / "docs" / "protocol.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    printed: list[object] = []
    code = code.replace('"/dev/ttyACM0"', repr(hub_board.port))
    exec(code, {"print": printed.append})
    assert printed and printed[0]["proto"] == protocol.VERSION
