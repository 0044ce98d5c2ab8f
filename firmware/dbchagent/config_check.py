# Validation of a configuration record, and the configuration's copy on flash (store.py
# makes every write power-loss-safe). Needed only at boot and when a configuration is set,
# so the callers load this module for those moments and release it after. Validation has
# no side effects: a refused configuration changes nothing.
from micropython import const
from dbchagent import cbor, channel_mask, store
from dbchagent.config import NAMES, Config, threshold_ms
from dbchagent.errors import AgentError
from subghz import core

_FORMAT = const(1)
_MS_PER_HOUR = const(3600000)
# What each scalar GBCS field (the 5th to the 15th) may hold, in GBCS units (percentages
# x 100): the DUIS 5.4 schema's range (SubGHzConfiguration), as two 16-bit little-endian
# bounds, both inclusive; the two duty-cycle thresholds also go in steps of 10 (one decimal
# place of a percent in DUIS). The mask words are checked by channel_mask. The host's
# definition is gbcs/subghz_config.FIELDS; tests/test_wire_contract.py keeps them equal.
_RANGES = (
    b"\x32\x00\xc8\x00"  # NormalLimitedDutyCycleThreshold 50..200: 0.5-2.0 %
    b"\xa0\x00\xf0\x00"  # LimitedCriticalDutyCycleThreshold 160..240: above 1.5, below 2.5 %
    b"\x01\x00\x07\x00"  # MaximumSubGHzChannelChangesPerWeek 1..7
    b"\x02\x00\xff\xff"  # GSMECurfew above 1
    b"\x01\x00\xff\x00"  # ChannelQuieterThreshold 1..255
    b"\x00\x00\x14\x00"  # ChannelNoisierThreshold 0..20
    b"\x64\x00\x10\x27"  # NonGSMEPoorCommsPercentageThreshold 100..10000: 1-100 %
    b"\x32\x00\x96\x00"  # NonGSMEPoorCommsMeasurementPeriods 50..150
    b"\x3d\x00\xff\xff"  # LocalCHNoiseMeasurementPeriod above 60
    b"\x64\x00\x10\x27"  # LocalCHFailurePercentage 100..10000: 1-100 %
    b"\x64\x00\x10\x27"  # LocalCHRetryPercentage 100..10000: 1-100 %
)


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
        name, v = NAMES[i], values[i]
        if i < 4:
            why = channel_mask.check_word(v, 28 + i)
            if why:
                raise refuse(name, why)
            continue
        j = 4 * i - 16
        lo, hi = _RANGES[j] | _RANGES[j + 1] << 8, _RANGES[j + 2] | _RANGES[j + 3] << 8
        step = 10 if i < 6 else 1
        if not _int(v) or not lo <= v <= hi or v % step:
            raise refuse(name, "%r not in %d..%d step %d" % (v, lo, hi, step))
    if core.MASK_915 and values[3] & channel_mask.BITMAP:
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
    if not any(True for pc in cfg.allowed() if pc[0] != 31 or not core.MASK_915):
        raise refuse("page28", "no channel enabled outside the masked band")
    return cfg


_NAME = "config.bin"


def save(cfg, buf=None):
    # with the counter of the authorised request that set it (auth.py: a repeat of that
    # request is answered from here, not run again). buf: encoded there (the agent's reply
    # buffer, free while a command runs), not in a new block of a fragmented heap
    if buf is not None:
        buf[:] = b""
    store.write(_NAME, cbor.encode([cfg.record, cfg.table, cfg.region, cfg.req], buf))


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
