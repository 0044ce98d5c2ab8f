# The resident system command: status (health), and the heap monitor behind it. It stays
# loaded because scripts poll it; hello, echo, memtest and reset live in cmd_info.py.
import gc
import machine
from dbchagent.errors import no_extra

# Firmware version; the content hash is computed at build time (dbch_build.FW_HASH).
VERSION = "0.1.0"
PROTOCOL = 1
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
    no_extra(args, ())
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
    sample_heap()
    agent.tickers.append(heap_tick)
    agent.commands["status"] = status
    for name in ("hello", "echo", "memtest", "reset"):
        agent.commands[name] = "dbchagent.cmd_info"
    for name in ("auth", "auth_info", "rotate_key"):
        agent.commands[name] = "dbchagent.auth"
    # Changing the board needs authorisation; reading it does not.
    agent.protected = ("set_config", "events_clear", "reset", "rotate_key")
