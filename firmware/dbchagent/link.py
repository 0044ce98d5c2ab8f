# Frame codec for the agent link (docs/protocol.md).
# A request (host to agent) is one line: 0x1E, base64(header + CBOR body + CRC-32), "\n".
# Base64 keeps every byte printable, so no request ever carries Ctrl-A..Ctrl-E and the
# MicroPython REPL (mpremote) can always interrupt the agent over the same cable.
# A reply, error or event (agent to host) is one line too, in binary: 0x1E, the frame's
# bytes with 0x0A, 0x0D, 0x1E, 0x7D and 0xFF escaped (0x7D, then the byte xor 0x20), "\n".
# Console output never reaches the REPL, so only the line's own bytes are escaped: a
# status takes 3/4 of base64's bytes on a 115200-baud console, and its words one each.
from micropython import const
import binascii
from dbchagent import cbor
from dbchagent.words import WORDS

try:
    from binascii import crc32
except ImportError:  # ports built without MICROPY_PY_BINASCII_CRC32
    from dbchagent.crc32 import crc32

MARK = const(0x1E)
VERSION = const(2)
KIND_REQUEST = const(0)
KIND_REPLY = const(1)
KIND_ERROR = const(2)
KIND_EVENT = const(3)
# Longest request frame a board takes (bytes, before base64): 1024, or 512 on boards
# with less than 128 KB of heap, where two 1 KB buffers seldom fit in a fragmented heap.
# hello reports it as max_request; a longer line is answered with too_large.


def max_request():
    import gc

    return 1024 if gc.mem_free() + gc.mem_alloc() >= 131072 else 512


_HEADER = const(3)
_TRAILER = const(4)
# Each word's simple value: its index below 20 (one byte), index + 12 above (two bytes)
_CODES = {w: i if i < 20 else i + 12 for i, w in enumerate(WORDS)}
# The bytes a reply line escapes, the escape itself first (the pairs written for the
# others start with it), and what each becomes
_SPECIAL = (b"\x7d", b"\n", b"\r", b"\x1e", b"\xff")
_ESCAPED = (b"\x7d\x5d", b"\x7d\x2a", b"\x7d\x2d", b"\x7d\x3e", b"\x7d\xdf")


class FrameError(ValueError):
    # code: the error code sent back to the host; seq: the request's, if it was readable
    def __init__(self, code, seq):
        super().__init__(code, seq)
        self.code = code
        self.seq = seq


def frame(kind, seq, body, obj=None, f=None):
    # The line a reply, error or event goes out as (MARK, escaped frame, newline). With
    # obj, the CBOR of obj is encoded straight behind the header (one buffer, no copy).
    # f: a buffer to build it in, whatever it held (its room is kept: MicroPython's
    # bytearray grows 8 bytes an append, each a new block of the heap when the next is taken)
    if f is None:
        f = bytearray(_HEADER + 1)
    else:
        f[:] = b"\0\0\0\0"
    f[0] = MARK
    f[1] = (VERSION << 4) | kind
    f[2] = (seq >> 8) & 0xFF
    f[3] = seq & 0xFF
    if obj is None:
        f.extend(body)
    else:
        cbor.encode(obj, f, _CODES)
    f.extend(crc32(memoryview(f)[1:]).to_bytes(4, "big"))
    # Escapes are few (a status has three or four): each is found by the C search
    for k in range(5):
        s = _SPECIAL[k]
        i = f.find(s, 1)
        while i >= 0:
            f[i : i + 1] = _ESCAPED[k]
            i = f.find(s, i + 2)
    f.append(10)
    return f


def peek_seq(line):
    # The first four base64 characters hold the 3-byte header: enough to address an
    # error reply to a request that is otherwise unusable (too large, bad CRC).
    try:
        h = binascii.a2b_base64(line[:4])
        return (h[1] << 8) | h[2]
    except (ValueError, IndexError):
        return 0


def decode(line, limit):
    # line: the characters between MARK and newline of a request; limit: the longest frame
    # the board takes (bytes). Returns (kind, seq, body, crc); the CRC identifies a retried
    # request (same seq, same bytes).
    try:
        frame = binascii.a2b_base64(line)
    except ValueError:
        raise FrameError("bad_frame", 0)
    n = len(frame)
    if n < _HEADER + _TRAILER:
        raise FrameError("bad_frame", 0)
    seq = (frame[1] << 8) | frame[2]
    if n > limit:  # base64 groups of 3: up to 2 bytes more fit the line buffer
        raise FrameError("too_large", seq)
    crc = int.from_bytes(frame[n - _TRAILER :], "big")
    if crc32(memoryview(frame)[: n - _TRAILER]) != crc:
        raise FrameError("bad_crc", seq)
    if frame[0] >> 4 != VERSION:
        raise FrameError("bad_version", seq)
    return frame[0] & 0x0F, seq, memoryview(frame)[_HEADER : n - _TRAILER], crc
