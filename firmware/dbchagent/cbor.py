# Compact CBOR (RFC 8949) for the agent link.
# Supports what both ends agree on (docs/protocol.md): unsigned and negative ints up to
# 64 bits, byte and text strings, arrays, maps, false/true/null. Definite lengths only;
# floats, tags and indefinite items are refused with CBORError, never half-decoded.
# Replies and events are encoded with the link's words (simple values) and hex digests
# behind tag 23, which only the host decodes; what the agent stores never has them.
from micropython import const
import binascii

_MAX_DEPTH = const(8)


class CBORError(ValueError):
    pass


def _head(out, major, n):
    # Appends the head byte by byte: struct.pack would allocate for every wide number.
    m = major << 5
    if n < 24:
        out.append(m | n)
    elif n < 0x100:
        out.append(m | 24)
        out.append(n)
    elif n < 0x10000:
        out.append(m | 25)
        out.append(n >> 8)
        out.append(n & 0xFF)
    elif n < 0x100000000:
        out.append(m | 26)
        out.append(n >> 24)
        out.append((n >> 16) & 0xFF)
        out.append((n >> 8) & 0xFF)
        out.append(n & 0xFF)
    elif n < 0x10000000000000000:
        out.append(m | 27)
        out.extend(n.to_bytes(8, "big"))
    else:
        raise CBORError("int out of range")


def _enc(out, obj, depth, w):
    # Type tests run most-frequent first (status maps are mostly short text keys and
    # small ints), with map keys written inline: a status reply encodes a third quicker.
    # Text is written straight from the str (MicroPython's str lends its UTF-8 bytes), its
    # head patched in when it is short: no bytes object per string, so a reply allocates
    # nothing but its buffer's growth (a garbage collection every few replies otherwise).
    # w: the link's words (text -> simple value) for replies and events, else None.
    t = type(obj)
    if t is str:
        if w is not None:
            c = w.get(obj)
            if c is not None:  # a word (words.py): the simple value that stands for it
                if c < 24:
                    out.append(0xE0 | c)
                else:
                    out.append(0xF8)
                    out.append(c)
                return
            if len(obj) == 64 and _digest(out, obj):
                return
        p = len(out)
        out.append(0x60)
        out.extend(obj)
        n = len(out) - p - 1
        if n < 24:
            out[p] = 0x60 | n
        else:  # a longer head: written again behind it
            out[p:] = b""
            b = obj.encode()
            _head(out, 3, len(b))
            out.extend(b)
    elif t is int:
        if 0 <= obj < 24:
            out.append(obj)
        elif obj >= 0:
            _head(out, 0, obj)
        else:
            _head(out, 1, -1 - obj)
    elif t is dict:
        if depth >= _MAX_DEPTH:
            raise CBORError("nested too deep")
        _head(out, 5, len(obj))
        depth += 1
        for k, v in obj.items():
            c = None if w is None else w.get(k)
            if c is not None:
                if c < 24:
                    out.append(0xE0 | c)
                else:
                    out.append(0xF8)
                    out.append(c)
            elif type(k) is str:  # nearly always short text: written here, a call less a key
                p = len(out)
                out.append(0x60)
                out.extend(k)
                n = len(out) - p - 1
                if n < 24:
                    out[p] = 0x60 | n
                else:
                    out[p:] = b""
                    _enc(out, k, depth, w)
            else:
                _enc(out, k, depth, w)
            _enc(out, v, depth, w)
    elif obj is None:
        out.append(0xF6)
    elif obj is True:
        out.append(0xF5)
    elif obj is False:
        out.append(0xF4)
    elif t is list or t is tuple:
        if depth >= _MAX_DEPTH:
            raise CBORError("nested too deep")
        _head(out, 4, len(obj))
        depth += 1
        for x in obj:
            if type(x) is int and 0 <= x < 24:
                out.append(x)  # small counts and flags: no call
            else:
                _enc(out, x, depth, w)
    elif t is bytes or t is bytearray or t is memoryview:
        _head(out, 2, len(obj))
        out.extend(obj)
    else:
        raise CBORError("cannot encode " + t.__name__)


def _digest(out, s):
    # A SHA-256 in lowercase hex (the configuration's and the firmware's hash) as its 32
    # bytes behind tag 23, "expected conversion to base16" (RFC 8949 3.4.5.2): the host
    # reads back the same text. Anything else of 64 characters stays text.
    try:
        b = binascii.unhexlify(s)
    except ValueError:
        return False
    if s != s.lower():
        return False
    out.append(0xD7)
    out.append(0x58)
    out.append(32)
    out.extend(b)
    return True


try:
    # The same encoder in C, where the board's image has it (the NUCLEO-WL55's: 14 ms of
    # its CPU per status in Python); the same bytes and errors (tests/test_qemu_twin.py).
    from _cborenc import encode as _enc_c
except ImportError:
    _enc_c = None


def encode(obj, out=None, words=None):
    # Appends to `out` (a bytearray) when given, so a frame header can be written first.
    # words: the link's (link.WORDS) for a reply or an event; stored records never use them.
    if out is None:
        out = bytearray()
    if _enc_c is None:
        _enc(out, obj, 0, words)
    else:
        try:
            _enc_c(out, obj, words)
        except ValueError as e:
            raise CBORError(e.args[0])
    return out


def _dec(b, i, depth):
    end = len(b)
    if i >= end:
        raise CBORError("truncated")
    ib = b[i]
    i += 1
    major = ib >> 5
    ai = ib & 31
    if major == 7:
        if ai == 20:
            return False, i
        if ai == 21:
            return True, i
        if ai == 22:
            return None, i
        raise CBORError("unsupported simple value or float")
    if ai < 24:
        n = ai
    elif ai < 28:
        w = 1 << (ai - 24)
        if i + w > end:
            raise CBORError("truncated")
        n = 0
        for k in range(i, i + w):
            n = (n << 8) | b[k]
        i += w
    else:
        raise CBORError("indefinite length not supported")
    if major == 0:
        return n, i
    if major == 1:
        return -1 - n, i
    if major == 2 or major == 3:
        j = i + n
        if j > end:
            raise CBORError("truncated")
        s = bytes(b[i:j])
        if major == 3:
            if not _utf8_ok(s):
                raise CBORError("bad utf-8")
            s = str(s, "utf-8")
        return s, j
    if major == 6:
        raise CBORError("tags not supported")
    if depth >= _MAX_DEPTH:
        raise CBORError("nested too deep")
    # Every item takes at least one byte: refuse counts the input cannot hold before
    # allocating anything, so a crafted header cannot exhaust the heap.
    if n > end - i:
        raise CBORError("truncated")
    if major == 4:
        items = []
        for _ in range(n):
            x, i = _dec(b, i, depth + 1)
            items.append(x)
        return items, i
    m = {}
    for _ in range(n):
        k, i = _dec(b, i, depth + 1)
        if type(k) is not int and type(k) is not str:
            raise CBORError("map key must be int or text")
        v, i = _dec(b, i, depth + 1)
        m[k] = v
    return m, i


def decode(b, start=0):
    obj, i = _dec(b, start, 0)
    if i != len(b):
        raise CBORError("trailing bytes")
    return obj


def _utf8_ok(s):
    # RFC 3629 UTF-8: MicroPython's str() checks the byte structure only, so surrogates
    # (U+D800-DFFF), code points above U+10FFFF and overlong forms are refused here. Text
    # stored from a request must decode anywhere later (status, the host, a report).
    n = len(s)
    for i in range(n):
        c = s[i]
        if c < 0x80:
            continue
        if c < 0xC2 or c > 0xF4:  # a stray continuation byte, an overlong or a bad lead
            if c >= 0xC0 or i == 0 or s[i - 1] < 0x80:
                return False
            continue
        d = s[i + 1] if i + 1 < n else 0
        if (c == 0xE0 and d < 0xA0) or (c == 0xED and d > 0x9F) or \
                (c == 0xF0 and d < 0x90) or (c == 0xF4 and d > 0x8F):
            return False
    try:
        str(s, "utf-8")  # the structure: continuation bytes where they belong
    except UnicodeError:
        return False
    return True
