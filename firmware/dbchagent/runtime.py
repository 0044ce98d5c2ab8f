# Helpers every agent module shares; this module imports no other agent module, so any
# module can use it without pulling in the main loop (micropython's asyncio: core.py).
import sys

# MicroPython looks on the filesystem for a file of the same name before it takes an
# "extensible" built-in (time, machine, struct, ...), on every import of one: built-ins
# are not kept in sys.modules. On the WL55's littlefs that search is 32 ms at the board's
# speed (the 32-bit twin at 31.25 MIPS), paid again by each module loaded per request.
# Kept in sys.modules (found with sys.path empty, so nothing is searched), an import is
# a lookup, 0.13 ms; and no file put on the filesystem stands in for one of them. A
# name already there (a twin's machine) is left alone.
_path = list(sys.path)
sys.path.clear()
try:
    for _name in ("time", "machine", "struct", "binascii", "os", "hashlib", "select", "random"):
        if _name not in sys.modules:
            try:
                sys.modules[_name] = __import__(_name)
            except ImportError:  # not on this port
                pass
finally:
    sys.path.extend(_path)
del _path, _name

import time

# Set from the board definition at start (dbch_board.KEEP_MODULES): boards with heap to
# spare keep modules loaded once used, as reading one from flash costs more than most
# requests; small boards free them after each use.
KEEP_MODULES = False


def release(name):
    # Forget a module so its code can be collected (its interned names stay): commands and
    # duties that are rarely needed live on flash, not in the heap, between uses.
    if KEEP_MODULES:
        return
    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition(".")
    # (not `attr in dir(package)`: MicroPython's dir() tries every interned name on the
    # object, 47 ms on the WL55 at its speed, paid by every request that loads a module)
    try:
        delattr(sys.modules[pkg], attr)
    except (KeyError, AttributeError):
        pass


def wall_s(verify=False):
    # Wall-clock seconds as an integer on every port (the unix port returns a float). With
    # verify, None when the clock was never set: a board without a battery-backed RTC
    # starts at its epoch (1970 or 2000) after every reset.
    t = int(time.time())
    if verify and time.gmtime(t)[0] < 2020:
        return None
    return t


# Uptime that does not wrap: ticks_ms wraps after about 12 days on most ports and field
# kits run for weeks, so elapsed ticks are accumulated into an unbounded counter. Call
# now_ms() at least every few days (the main loop does it many times a second).
class Uptime:
    def __init__(self):
        self._last = time.ticks_ms()
        self._ms = 0

    def now_ms(self):
        t = time.ticks_ms()
        self._ms += time.ticks_diff(t, self._last)
        self._last = t
        return self._ms
