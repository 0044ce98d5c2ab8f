# Frame codec for the agent link (docs/protocol.md).
# A frame on the wire is one line: 0x1E, base64(header + CBOR body + CRC-32), "\n".
# Base64 keeps every byte printable, so no frame ever carries Ctrl-A..Ctrl-E and the
# MicroPython REPL (mpremote) can always interrupt the agent over the same cable.
from micropython import const
import binascii

try:
    from binascii import crc32
except ImportError:  # ports built without MICROPY_PY_BINASCII_CRC32
    from dbchagent.crc32 import crc32

MARK = const(0x1E)
VERSION = const(1)
KIND_REQUEST = const(0)
KIND_REPLY = const(1)
KIND_ERROR = const(2)
KIND_EVENT = const(3)
# Longest request line (base64 characters between MARK and newline): 1024 frame bytes.
MAX_REQUEST_LINE = const(1368)
_HEADER = const(3)
_TRAILER = const(4)


class FrameError(ValueError):
    # args[0] is the error code sent back to the host, args[1] the seq if it was readable
    pass


def encode(kind, seq, body):
    frame = bytearray(_HEADER)
    frame[0] = (VERSION << 4) | kind
    frame[1] = (seq >> 8) & 0xFF
    frame[2] = seq & 0xFF
    frame.extend(body)
    frame.extend(crc32(frame).to_bytes(4, "big"))
    return b"\x1e" + binascii.b2a_base64(frame, newline=False) + b"\n"


def peek_seq(line):
    # The first four base64 characters hold the 3-byte header: enough to address an
    # error reply to a request that is otherwise unusable (too large, bad CRC).
    try:
        h = binascii.a2b_base64(line[:4])
        return (h[1] << 8) | h[2]
    except (ValueError, IndexError):
        return 0


def decode(line):
    # line: the characters between MARK and newline. Returns (kind, seq, body, crc); the
    # CRC identifies a retried request (same seq, same bytes).
    try:
        frame = binascii.a2b_base64(line)
    except ValueError:
        raise FrameError("bad_frame", 0)
    n = len(frame)
    if n < _HEADER + _TRAILER:
        raise FrameError("bad_frame", 0)
    seq = (frame[1] << 8) | frame[2]
    crc = int.from_bytes(frame[n - _TRAILER :], "big")
    if crc32(memoryview(frame)[: n - _TRAILER]) != crc:
        raise FrameError("bad_crc", seq)
    if frame[0] >> 4 != VERSION:
        raise FrameError("bad_version", seq)
    return frame[0] & 0x0F, seq, memoryview(frame)[_HEADER : n - _TRAILER], crc
