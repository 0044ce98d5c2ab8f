# Validation of a configuration record, and the configuration's copy on flash (store.py
# makes every write power-loss-safe). Needed only at boot and when a configuration is set,
# so the callers load this module for those moments and release it after. Validation has
# no side effects: a refused configuration changes nothing.
from micropython import const
from dbchagent import cbor, channel_mask, store
from dbchagent.config import NAMES, Config, threshold_ms
from dbchagent.errors import AgentError
from subghz import policy

_FORMAT = const(1)
_MS_PER_HOUR = const(3600000)
# Kind of each GBCS field: M mask word, P percent x 100 (at most 10000 = 100 %), B unsigned
# 8-bit, W unsigned 16-bit; and the largest value of each kind (by letter)
_KINDS = b"MMMMPPBWBBPBWPP"
_MAX = {77: 0xFFFFFFFF, 80: 10000, 66: 255, 87: 0xFFFF}


def refuse(field, msg):
    return AgentError("invalid_config", field, msg)


def _int(v):
    return type(v) is int


def parse(record, table=None, region=None):
    # Validate every field; returns a Config or raises AgentError("invalid_config", field).
    try:
        item = cbor.decode(record)
    except cbor.CBORError as e:
        raise refuse("record", "not CBOR: %s" % e.args[0])
    if type(item) is not list or len(item) != 3 or item[0] != _FORMAT:
        raise refuse("record", "expected [1, [15 fields], [6 limits]]")
    values, reg = item[1], item[2]
    if type(values) is not list or len(values) != len(NAMES):
        raise refuse("record", "expected %d GBCS fields" % len(NAMES))
    if type(reg) is not list or len(reg) != 6:
        raise refuse("record", "expected 6 regulatory limits")
    if bytes(cbor.encode(item)) != bytes(record):
        raise refuse("record", "not in canonical form (shortest integers)")
    for i in range(len(NAMES)):
        name, top = NAMES[i], _MAX[_KINDS[i]]
        v = values[i]
        if not _int(v) or not 0 <= v <= top:
            raise refuse(name, "%r out of range 0..%d" % (v, top))
        if i < 4:
            why = channel_mask.check_word(v, 28 + i)
            if why:
                raise refuse(name, why)
    if policy.MASK_915 and values[3] & channel_mask.BITMAP:
        raise refuse("page31", "enables channels in the masked 915 MHz band (2018 SEC "
                               "decision; a firmware build option, not configurable)")
    for i in range(4):
        if not _int(reg[i]) or not 0 < reg[i] <= _MS_PER_HOUR:
            raise refuse("cap_page%d" % (28 + i), "regulated cap must be 1..3600000 ms/h")
    if not _int(reg[4]) or not -1500 <= reg[4] <= 0:
        raise refuse("lbt_threshold", "must be -150.0..0 dBm (deci-dBm -1500..0)")
    if not _int(reg[5]) or not -300 <= reg[5] <= 300:
        raise refuse("max_tx_power", "must be -30.0..+30.0 dBm (deci-dBm)")
    if values[4] >= values[5]:
        raise refuse("limited_critical_threshold", "must be above normal_limited_threshold")
    if threshold_ms(values[5]) >= min(reg[0:4]):
        raise refuse("limited_critical_threshold", "must be below the regulated cap")
    cfg = Config(bytes(record), values, reg, table, region)
    if not any(True for pc in cfg.allowed() if pc[0] != 31 or not policy.MASK_915):
        raise refuse("page28", "no channel enabled outside the masked band")
    return cfg


_NAME = "config.bin"


def save(cfg):
    # with the counter of the authorised request that set it (auth.py: a repeat of that
    # request is answered from here, not run again)
    store.write(_NAME, cbor.encode([cfg.record, cfg.table, cfg.region, cfg.req]))


def load():
    # (Config or None, problem or None). A damaged or invalid file is reported, not used.
    try:
        body = store.read(_NAME)
    except ValueError as e:
        return None, "stored configuration damaged (%s)" % e.args[0]
    if body is None:
        return None, None
    try:
        stored = cbor.decode(body)
        cfg = parse(stored[0], stored[1], stored[2])
        cfg.req = stored[3] if len(stored) > 3 else 0
        return cfg, None
    except Exception as e:
        return None, "stored configuration rejected (%s)" % (e.args[0] if e.args else e)
