# Uptime that does not wrap: ticks_ms wraps after about 12 days on most ports and field
# kits run for weeks, so elapsed ticks are accumulated into an unbounded counter. Call
# now_ms() at least every few days (the main loop does it many times a second).
import time


class Uptime:
    def __init__(self):
        self._last = time.ticks_ms()
        self._ms = 0

    def now_ms(self):
        t = time.ticks_ms()
        self._ms += time.ticks_diff(t, self._last)
        self._last = t
        return self._ms
