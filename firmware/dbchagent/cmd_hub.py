# The hub's commands. Configuration and channel (GBCS use cases): set_config (DBCH04),
# get_config (DBCH03), get_channel (DBCH01), channel_log (DBCH02), scan (DBCH05). Bench:
# traffic through the transmit path, a single test frame on a chosen frequency (still
# through the gate), and the event log (download, clear).
from micropython import const
from dbchagent.runtime import release
from dbchagent.errors import AgentError, arg
from subghz.core import RadioError

_CONFIG_CHANGED = const(0x8F2A)


def _text(args, name):
    v = args.get(name)
    if v is not None and (type(v) is not str or len(v) > 40):
        raise AgentError("bad_argument", name, "must be text of at most 40 characters")
    return v


def set_config(agent, args):
    record = arg(args, "record", None, 256)
    req = agent.request_ctr
    cfg = agent.config
    if req and cfg is not None and cfg.req == req:
        # This very request ran before (auth.py: its reply was lost): answer, don't rerun.
        agent.count("config_repeats")
        return _applied(agent, cfg, True)
    from dbchagent import config_check

    cfg = config_check.parse(record, _text(args, "table"), _text(args, "region"))
    cfg.req = req
    # Valid: from here on the new configuration replaces the old one.
    config_check.save(cfg, agent.reply_buf)
    del config_check
    release("dbchagent.config_check")
    agent.use_config(cfg)
    agent.log.alert(_CONFIG_CHANGED, {"hash": cfg.hash, "req": req}, True)
    return _applied(agent, cfg, False)


def _applied(agent, cfg, repeat):
    return {"hash": cfg.hash, "channel": agent.channels.report(), "repeat": repeat,
            "radio": {"state": agent.ctl.state, "reason": agent.ctl.reason}}


def get_config(agent, args):
    cfg = agent.config
    if cfg is None:
        return {"configured": False, "problem": agent.config_problem}
    from dbchagent.config import NAMES

    return {"configured": True, "hash": cfg.hash, "table": cfg.table, "region": cfg.region,
            "fields": {NAMES[i]: cfg.values[i] for i in range(len(NAMES))},
            "regulatory": {"cap_ms_per_hour": list(cfg.caps),
                           "lbt_threshold_ddbm": cfg.lbt_ddbm, "max_tx_ddbm": cfg.max_tx_ddbm},
            "record": cfg.record}


def get_channel(agent, args):
    rep = agent.channels.report()
    if rep is None:
        raise AgentError("unconfigured", None, "no operating channel: no configuration")
    return rep


def channel_log(agent, args):
    # [time, old page, old ch, new page, new ch, reason], oldest first
    import struct
    from dbchagent.channel import REASONS, REC, log_bytes

    body = log_bytes()
    n = struct.calcsize(REC)
    out = []
    for i in range(0, len(body) - n + 1, n):
        r = list(struct.unpack_from(REC, body, i))
        r[5] = REASONS[r[5]] if r[5] < len(REASONS) else "?"
        out.append(r)
    return {"entries": out}


def scan(agent, args):
    cfg = agent.config
    if cfg is None:
        raise AgentError("unconfigured", None, "no configuration in force")
    if agent.ctl.state != "ready":
        raise AgentError("radio_locked", None, agent.ctl.reason)
    from dbchagent.channel import scanner

    records, outcome = scanner().request_scan(agent.channels, cfg)
    # energy: (page, channel, deci-dBm) packed as ">BBh" per channel
    return {"outcome": outcome, "channel": agent.channels.report(), "energy": bytes(records)}


def traffic(agent, args):
    frames = arg(args, "frames", 1, 100000)
    size = arg(args, "size", 8, 125)
    interval = arg(args, "interval_ms", 0, 3600000, 100)
    if agent.traffic is not None:
        raise AgentError("busy", None, "traffic already running")
    from dbchagent.traffic import Traffic

    agent.traffic = Traffic(agent, frames, size, interval)
    return {"started": True, "frames": frames}


def traffic_stop(agent, args):
    t = agent.traffic
    if t is not None:
        t.finish(True)
    return {"stopped": t is not None}


def test_tx(agent, args):
    # One frame at freq_hz: the carrier must still be an enabled channel and out of the
    # masked band. The radio returns to the operating channel afterwards.
    freq = arg(args, "freq_hz", 0, 2000000000)
    size = arg(args, "size", 8, 125, 16)
    ctl = agent.ctl
    if ctl.radio is None or agent.config is None or ctl.state != "ready":
        return {"sent": False, "refused": agent.transmit(bytes(size))}  # the gate refuses
    try:
        ctl.radio.tune(freq)
    except RadioError as e:
        if e.code == "masked_band":
            return {"sent": False, "refused": agent.refuse_masked(e.msg)}
        if e.code == "bad_frequency":
            raise AgentError("bad_argument", "freq_hz", e.msg)
        # The chip failed: lock, as a failed transmission would.
        agent.count("tx_errors")
        ctl.lock("tune failed: %s: %s" % (e.code, e.msg))
        return {"sent": False, "refused": "radio_error"}
    try:
        reason = agent.transmit(bytes(size))
    finally:
        if agent.channels.operating is not None and ctl.state == "ready":
            agent.retune()
    return {"sent": reason is None, "refused": reason}


def events(agent, args):
    # Both logs (events and audit, events.py) merged in sequence order.
    after = arg(args, "after", 0, 0x7FFFFFFF, 0)
    # a page's decoded records and its reply must fit a small board's fragmented heap:
    # boards taking 512-byte requests send at most 12 records a page (`more` says so)
    limit = min(arg(args, "limit", 1, 50, 20), agent.console.max_request // 40)
    from dbchagent.events import merged

    entries = []
    more = False
    for rec in merged(after, limit):
        if len(entries) < limit:
            entries.append(rec)
        else:
            more = True
    return {"entries": entries, "more": more, "last_seq": agent.log.seq}


def events_clear(agent, args):
    import os
    from dbchagent import store
    from dbchagent.events import EVENTS

    # The audit log stays: what changed the board is not anyone's to clear.
    for name in EVENTS:
        try:
            os.remove(store.path(name))
        except OSError:
            pass
    agent.log.size = 0
    agent.log.record("log_cleared", None, True)  # keeps the sequence going across a clear
    return {"cleared": True}
