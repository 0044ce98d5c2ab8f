# Runs inside the MicroPython unix VM (never CPython): exercises firmware modules for the
# host tests. One request per line ("op hexargs..."), one answer per line ("ok ..." or
# "err <ExceptionType> <message>").
import binascii
import os
import sys

sys.path.insert(0, os.getenv("DBCH_FIRMWARE"))

from dbchagent import cbor, link
from dbchagent import crc32 as crc_fallback

h = binascii.hexlify
u = binascii.unhexlify


def op_cbor_rt(arg):
    # decode what the host encoded, encode it again with the agent's codec
    return h(cbor.encode(cbor.decode(u(arg)))).decode()


def op_cbor_rt_reused(arg):
    # the same encoded into a buffer that held another frame (as the agent builds every
    # reply in one buffer): twice, and both must be the same bytes
    obj = cbor.decode(u(arg))
    buf = bytearray(b"\xff" * 300)
    buf[:] = b"\0\0\0"
    first = bytes(cbor.encode(obj, buf))
    buf[:] = b"\0\0\0"
    if bytes(cbor.encode(obj, buf)) != first:
        raise ValueError("encode into a reused buffer differs")
    return h(first[3:]).decode()


def op_crc(arg):
    return "%d %d" % (crc_fallback.crc32(u(arg)), binascii.crc32(u(arg)))


def op_frame(arg):
    kind, seq, body = arg.split(" ")
    return h(link.frame(int(kind), int(seq), u(body))).decode()


def op_unframe(arg):
    kind, seq, body, crc = link.decode(u(arg), 1 << 16)
    return "%d %d %s %d" % (kind, seq, h(bytes(body)).decode(), crc)


def op_word(arg):
    # a driver's frequency-to-register arithmetic: "module function freq"
    mod, fn, f = arg.split(" ")
    m = __import__("subghz." + mod, None, None, (fn,))
    return "%X" % getattr(m, fn)(int(f))


def op_hmac(arg):
    # the agent's HMAC-SHA256: "keyhex msghex"
    from dbchagent import auth

    key, msg = arg.split(" ")
    return h(auth.hmac_sha256(u(key), u(msg))).decode()


def op_handler_oserror(arg):
    # The error reply the agent's dispatcher makes when a handler's store write fails with
    # OSError(errno): "code msg"
    from dbchagent import app

    class Null:
        max_request = 512

        def send(self, f):
            pass

    def fails(agent, args):
        raise OSError(int(arg))

    a = app.Agent(console=Null())
    a.table = (("fails", None, False, ()),)
    a.resident["fails"] = fails
    # the error reply's line, as it goes on the wire (the host reads it: words, escapes)
    return h(a._handle(1, cbor.encode(["fails", {}]))).decode()


def op_gate_last(arg):
    # The transmit gate's last check on its own (no driver, no configuration): the reason
    # it refuses carrier `arg` Hz, or "sent".
    from dbchagent.gate import Gate, Refused

    class Log:
        def throttle(self, reason):
            return -1

    class Agent:
        config = None

        def count(self, name, n=1):
            pass

    class Ctl:
        state = "ready"
        reason = None

    g = object.__new__(Gate)  # (its __init__ reads machine.unique_id for alerts)
    g.agent, g.ctl, g.log = Agent(), Ctl(), Log()
    try:
        g.last(int(arg), True, 1000)
        return "sent"
    except Refused as e:
        return e.reason


OPS = {"gate_last": op_gate_last, "handler_oserror": op_handler_oserror, "cbor_rt": op_cbor_rt, "cbor_rt_reused": op_cbor_rt_reused, "crc": op_crc, "frame": op_frame, "unframe": op_unframe,
       "word": op_word, "hmac": op_hmac}

while True:
    line = sys.stdin.readline()
    if not line:
        break
    op, _, arg = line.rstrip("\n").partition(" ")
    try:
        out = "ok " + OPS[op](arg)
    except Exception as e:
        out = "err %s %s" % (type(e).__name__, e)
    sys.stdout.write(out + "\n")
