# Helpers every agent module shares; this module imports no other agent module, so any
# module can use it without pulling in the main loop (micropython's asyncio: core.py).
import sys
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
    if pkg in sys.modules and attr in dir(sys.modules[pkg]):
        delattr(sys.modules[pkg], attr)


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
