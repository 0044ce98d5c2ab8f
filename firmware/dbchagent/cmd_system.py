# System commands: hello (identity), status (health), echo and memtest (link and memory
# diagnostics for benches), reset.
import gc
import machine
import sys
import time
import micropython
from dbchagent.errors import get_bytes, get_int, no_extra
from dbchagent.version import PROTOCOL, VERSION

try:
    import dbch_build
except ImportError:  # running from sources that were not built by dbch deploy
    dbch_build = None
try:
    import dbch_board
except ImportError:
    dbch_board = None

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
    return {"version": VERSION, "hash": dbch_build.FW_HASH if dbch_build else None}


def identity():
    return {
        "proto": PROTOCOL,
        "fw": firmware(),
        "board": dbch_board.BOARD_ID if dbch_board else None,
        "radio": dbch_board.RADIO_CHIP if dbch_board else None,
        "uid": machine.unique_id(),
        "platform": sys.platform,
        "mp": list(sys.implementation.version[:3]),
        "epoch": time.gmtime(0)[0],
    }


def hello(agent, args):
    no_extra(args, ())
    return identity()


class HeapMonitor:
    # Once a second the main loop collects garbage and samples the heap: collecting often
    # keeps fragmentation low on small boards, and the heap in use right after a collect
    # is what the agent really needs (mem_peak also counts garbage not yet collected).
    # gc.mem_free() walks the heap, so status reports the last sample instead of walking.
    def __init__(self):
        gc.collect()
        self.total = gc.mem_free() + gc.mem_alloc()
        self.used_max = 0
        self._next = 0
        self.sample()

    def sample(self):
        gc.collect()
        self.used = gc.mem_alloc()
        if self.used > self.used_max:
            self.used_max = self.used

    def tick(self, agent, now_ms):
        if now_ms >= self._next:
            self._next = now_ms + 1000
            self.sample()

    def report(self):
        peak = micropython.mem_peak() if hasattr(micropython, "mem_peak") else None
        return {
            "total": self.total,
            "used": self.used,
            "used_max": self.used_max,
            "free": self.total - self.used,
            "peak": peak,
        }


HEAP = None


def status(agent, args):
    no_extra(args, ())
    st = {
        "uptime_ms": agent.uptime.now_ms(),
        "reset_cause": RESET_CAUSE,
        "fw": firmware(),
        "heap": HEAP.report(),
        "counters": agent.counters,
    }
    for part in agent.status_parts:
        part(agent, st)
    return st


def echo(agent, args):
    # Returns the bytes it was sent: checks the link with frames of any size up to the limit.
    no_extra(args, ("data",))
    return {"data": get_bytes(args, "data", 1024)}


def memtest(agent, args):
    # Allocates `size` bytes and frees them: shows how much a board can still hold. Beyond
    # the heap this raises MemoryError, which the dispatcher reports as no_memory.
    no_extra(args, ("size",))
    size = get_int(args, "size", 1, 1 << 24)
    buf = bytearray(size)
    del buf
    HEAP.sample()
    return {"size": size, "heap": HEAP.report()}


def reset(agent, args):
    no_extra(args, ())
    agent.after_reply = machine.reset
    return {"resetting": True}


def install(agent):
    global HEAP
    HEAP = HeapMonitor()
    agent.tickers.append(HEAP.tick)
    agent.commands.update(
        {"hello": hello, "status": status, "echo": echo, "memtest": memtest, "reset": reset}
    )
