# The resident system command: status (health), and the heap monitor behind it. It stays
# loaded because scripts poll it; hello, echo, memtest and reset live in cmd_info.py.
# It also holds the command table the dispatcher serves.
import gc
import machine

# The command table: every command, the module that serves it, whether it changes the
# board (then it runs only inside a verified `auth` request) and the arguments it takes
# (the dispatcher refuses any other). The host's wire contract (host_tools/dbch/link/
# spec.py) is the same table; tests/test_wire_contract.py compares the two.
TABLE = (
    ("hello", "dbchagent.cmd_info", False, ()),
    ("status", "dbchagent.cmd_system", False, ()),
    ("echo", "dbchagent.cmd_info", False, ("data",)),
    ("memtest", "dbchagent.cmd_info", False, ("size",)),
    ("reset", "dbchagent.cmd_info", True, ()),
    ("auth", "dbchagent.auth", False, ("req", "ctr", "mac")),
    ("auth_info", "dbchagent.auth", False, ()),
    ("rotate_key", "dbchagent.auth", True, ("new", "ctr")),
    ("set_config", "dbchagent.cmd_hub", True, ("record", "table", "region")),
    ("get_config", "dbchagent.cmd_hub", False, ()),
    ("get_channel", "dbchagent.cmd_hub", False, ()),
    ("channel_log", "dbchagent.cmd_hub", False, ()),
    # scan may move the channel; traffic and test_tx spend the hour's duty-cycle budget
    ("scan", "dbchagent.cmd_hub", True, ()),
    ("traffic", "dbchagent.cmd_hub", True, ("frames", "size", "interval_ms")),
    ("traffic_stop", "dbchagent.cmd_hub", False, ()),
    ("test_tx", "dbchagent.cmd_hub", True, ("freq_hz", "size")),
    ("events", "dbchagent.cmd_hub", False, ("after", "limit")),
    ("events_clear", "dbchagent.cmd_hub", True, ()),
    # locked mode (lock.py): no REPL over the link; unlock lasts until reset unless forget
    ("lock", "dbchagent.lock", True, ()),
    ("unlock", "dbchagent.lock", True, ("forget",)),
    # proves on a bench that a crash of a locked board resets it (docs/security.md)
    ("crash", "dbchagent.cmd_info", True, ()),
)

# Firmware version; the content hash is computed at build time (dbch_build.FW_HASH).
VERSION = "0.1.0"
_CAUSES = (
    ("PWRON_RESET", "power_on"),
    ("HARD_RESET", "hard"),
    ("WDT_RESET", "watchdog"),
    ("DEEPSLEEP_RESET", "deepsleep"),
    ("SOFT_RESET", "soft"),
)


def _reset_cause():
    try:
        c = machine.reset_cause()
    except AttributeError:
        return "unknown"
    for name, text in _CAUSES:
        if getattr(machine, name, None) == c:
            return text
    return "unknown"


# Read once at import: the cause of the reset that started this run.
RESET_CAUSE = _reset_cause()


def firmware():
    try:
        import dbch_build

        fw_hash = dbch_build.FW_HASH
    except ImportError:  # running from sources that were not built by dbch deploy
        fw_hash = None
    return {"version": VERSION, "hash": fw_hash}


# Once a second the main loop collects garbage and samples the heap: collecting often
# keeps fragmentation low on small boards, and the heap in use right after a collect is
# what the agent really needs. gc.mem_free() walks the heap, so status reports the last
# sample. used_max is the peak that matters (MicroPython's mem_peak also counts garbage).
_heap = [0, 0, 0, 0]  # total, used, used_max, next sample (uptime ms)


def sample_heap():
    gc.collect()
    used = gc.mem_alloc()
    h = _heap
    h[0] = used + gc.mem_free()
    h[1] = used
    if used > h[2]:
        h[2] = used


def heap_tick(agent, now_ms):
    if now_ms >= _heap[3]:
        _heap[3] = now_ms + 1000
        sample_heap()


def heap():
    total, used, used_max, _ = _heap
    return {"total": total, "used": used, "used_max": used_max, "free": total - used}


def status(agent, args):
    st = {
        "uptime_ms": agent.uptime.now_ms(),
        "reset_cause": RESET_CAUSE,
        "fw": firmware(),
        "heap": heap(),
        "counters": agent.counters,
    }
    for part in agent.status_parts:
        part(agent, st)
    return st


def install(agent):
    # Serve the command table (its rows stay in flash) and the heap monitor. status and
    # the lock's commands are resident (the lock's state must outlive a request); every
    # other command's module is loaded per request.
    from dbchagent import lock

    agent.table = TABLE
    r = agent.resident
    r["status"] = status
    r["lock"] = lock.lock
    r["unlock"] = lock.unlock
    sample_heap()
    agent.tickers.append(heap_tick)
    agent.status_parts.append(lock.report)
