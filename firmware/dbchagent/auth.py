# Who may change the board: requests that change configuration, clear the log, reset,
# lock or unlock, or rotate the key travel inside an `auth` request carrying an
# HMAC-SHA256 over (domain, device unique id, counter, the inner request's bytes) with the
# per-device bench key. The counter must exceed the last one accepted, which is kept on
# flash and written before the inner command runs, so a replay is refused even after a
# power cut. It is kept twice (two files, each with its SHA-256, written one after the
# other): a torn write or a damaged copy leaves the other, and the higher valid copy wins,
# so the counter never goes back; with both copies damaged every change is refused.
# The last accepted request's identity (its MAC) is kept with the counter: the same
# request sent again (its reply lost, perhaps to a power cut) is recognised. set_config
# then answers from the configuration it produced instead of running twice; any other
# command is refused as a repeat (a captured `unlock` must not work again after a reset).
# Loaded per request (kept on flash between uses).
import hashlib
import machine
from dbchagent import cbor, store
from dbchagent.errors import AgentError, arg

_DOMAIN = b"dbch-auth-v1"
_ROTATE = b"dbch-rotate-v1"
_KEY = "key.bin"
_CTR = ("ctr.bin", "ctr2.bin")
_CTR_MAX = 1 << 48
_CTR_JUMP = 1 << 20  # no host moves the counter this far at once: a larger jump burns it
# commands whose repeat is answered, not refused: they record the request they ran
_REPEATABLE = ("set_config",)


def hmac_sha256(key, msg):
    # RFC 2104 with SHA-256 (block 64 bytes); keys here are 32 bytes.
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    k = bytearray(64)
    k[: len(key)] = key
    for i in range(64):
        k[i] ^= 0x36
    inner = hashlib.sha256(k)
    inner.update(msg)
    d = inner.digest()
    for i in range(64):
        k[i] ^= 0x36 ^ 0x5C
    outer = hashlib.sha256(k)
    outer.update(d)
    return outer.digest()


def same(a, b):
    # Constant time: how many bytes match must not leak through timing.
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= a[i] ^ b[i]
    return r == 0


def key_id(key):
    return hashlib.sha256(key).digest()[:4]


def _load_key():
    try:
        body = store.read(_KEY)
    except ValueError:
        return None  # damaged: as if none (a refusal says so)
    return body if body is not None and len(body) == 32 else None


def counter():
    # (last counter accepted, its request's identity, good copies). Counter 0 if none was
    # ever stored; -1 if every copy is damaged: read as 0 it would accept old requests.
    best, ident, good, damaged = -1, b"", 0, 0
    for name in _CTR:
        try:
            body = store.read(name)
        except ValueError:
            damaged += 1
            continue
        if body is None:
            continue
        if len(body) not in (8, 16):
            damaged += 1
            continue
        good += 1
        c = int.from_bytes(body[:8], "big")
        if c > best:
            best, ident = c, body[8:]
    if best < 0:
        best = -1 if damaged else 0
    return best, ident, good


def last_counter():
    return counter()[0]


def _store_counter(agent, ctr, ident):
    body = ctr.to_bytes(8, "big") + ident
    for name in _CTR:
        store.write(name, body)
    agent.auth_health = {"counter_copies": 2, "counter_damaged": False}


def message(uid, ctr, inner):
    return _DOMAIN + bytes(uid) + ctr.to_bytes(8, "big") + bytes(inner)


def _refuse(agent, reason, cmd, msg):
    # Anyone on the link can cause these: counted always, logged at most once a minute
    # per reason (events.py), so refusals cannot wear the flash or flood the log.
    agent.count("auth_refused")
    n = agent.log.throttle("auth_" + reason)
    if n >= 0:
        agent.log.record("auth_refused", {"reason": reason, "cmd": cmd, "since_last": n})
    raise AgentError("unauthorised", "auth", reason + ": " + msg)


def auth(agent, args):
    # The wrapper: verify, advance the counter on flash, then run the inner command.
    inner = arg(args, "req", None, 512)
    ctr = arg(args, "ctr", 1, _CTR_MAX)
    mac = arg(args, "mac", None, 32)
    try:
        req = cbor.decode(inner)
    except cbor.CBORError as e:
        raise AgentError("bad_cbor", "req", e.args[0])
    if type(req) is not list or len(req) != 2 or type(req[0]) is not str \
            or type(req[1]) is not dict:
        raise AgentError("bad_request", "req", "expected [command, {args}]")
    cmd = req[0]
    row = agent.command(cmd)
    if row is None or not row[2]:
        raise AgentError("bad_argument", "req", "%s needs no authorisation" % cmd)
    key = _load_key()
    if key is None:
        _refuse(agent, "no_key", cmd, "no key provisioned (dbch key provision)")
    if not same(hmac_sha256(key, message(machine.unique_id(), ctr, inner)), mac):
        _refuse(agent, "bad_mac", cmd, "the MAC does not match this board's key")
    last, ident = check_counter(agent)
    if last < 0:
        _refuse(agent, "counter_damaged", cmd,
                "the counter on flash is damaged: re-provision the key (dbch key provision)")
    if ctr == last and same(ident, mac[:8]):
        if cmd not in _REPEATABLE:
            _refuse(agent, "repeat", cmd, "request %d was accepted before" % ctr)
        agent.count("auth_repeats")
    elif ctr <= last:
        _refuse(agent, "replay", cmd, "counter %d is not above %d" % (ctr, last))
    elif ctr > last + _CTR_JUMP:
        _refuse(agent, "counter_jump", cmd, "counter %d is too far above %d" % (ctr, last))
    else:
        _store_counter(agent, ctr, mac[:8])
    agent.count("auth_ok")
    agent.request_ctr = ctr  # the request's identity, for commands that record it
    try:
        return agent.dispatch(cmd, req[1], True)
    finally:
        agent.request_ctr = 0


def check_counter(agent):
    # At boot and on each use: the counter's health for status (the key id and the
    # counter itself: auth_info), and an audit record when a copy is found damaged.
    last, ident, good = counter()
    health = {"counter_copies": good, "counter_damaged": last < 0}
    if health != agent.auth_health:
        agent.auth_health = health
        if last < 0:
            agent.log.record("counter_damaged", health, True)
        elif good < 2 and last > 0:
            agent.log.record("counter_copy_lost", health, True)
    return last, ident


def auth_info(agent, args):
    # Open: whether a key is provisioned (its id, never the key) and the last counter.
    key = _load_key()
    last = last_counter()
    return {"key_id": key_id(key) if key else None, "ctr": last if last >= 0 else None}


def rotate_key(agent, args):
    # Protected (reached only through auth): the new key travels masked with a pad only
    # holders of the old key can make, bound to this board and this counter.
    new = arg(args, "new", None, 32)
    ctr = arg(args, "ctr", 1, _CTR_MAX)
    if len(new) != 32 or ctr != last_counter():
        raise AgentError("bad_argument", "new", "32 bytes, masked for this request's counter")
    pad = hmac_sha256(_load_key(), _ROTATE + bytes(machine.unique_id()) + ctr.to_bytes(8, "big"))
    key = bytes(new[i] ^ pad[i] for i in range(32))
    store.write(_KEY, key)
    agent.log.record("key_rotated", {"key_id": key_id(key)}, True)
    return {"key_id": key_id(key)}
