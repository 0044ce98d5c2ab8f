# Duty-cycle management (docs/reference.md §3): airtime over the last hour in 13 buckets
# (12 closed buckets of 300 s and the current one), compared with the thresholds of the
# configuration (Limited, Critical) and the regulated cap of the page in use.
# States: 0 Normal, 1 Limited, 2 Critical, 3 Regulated (nothing is sent), -1 unknown
# (the usage cannot be trusted: nothing is sent either).
# Usage survives resets and power cuts: the stored figure is the real usage plus a reserve
# and is rewritten before the real usage passes it, so what a reboot reads is never less
# than what was sent. Downtime is credited only when the wall clock says how long it was.
from micropython import const
from dbchagent import cbor, store
from dbchagent.runtime import wall_s

_BUCKET_MS = const(300000)
_BUCKETS = const(12)
_RESERVE_MS = const(1000)
_NAME = "duty.bin"


class DutyCycle:
    def __init__(self):
        self.closed = [0] * _BUCKETS  # oldest first, ms of airtime
        self.current = 0
        self.usage = 0  # sum(closed) + current, kept as both change: the gate asks every frame
        self.bucket_start = 0  # uptime ms at which the current bucket began
        self.stored = 0  # the current bucket's figure on flash (real + reserve)
        self.unknown_until = None  # uptime ms before which usage cannot be trusted
        self.problem = None

    def load(self, now_ms):
        try:
            body = store.read(_NAME)
        except ValueError as e:
            self._distrust(now_ms, "stored duty cycle damaged (%s)" % e.args[0])
            return
        self.bucket_start = now_ms
        if body is None:
            return
        try:
            wall, closed, current, into = cbor.decode(body)
            if len(closed) != _BUCKETS:
                raise ValueError("buckets")
        except Exception:
            self._distrust(now_ms, "stored duty cycle unreadable")
            return
        self.closed = closed
        self.current = self.stored = current
        self.usage = sum(closed) + current
        self.bucket_start = now_ms - into
        now_wall = wall_s(True)
        if wall is not None and now_wall is not None and now_wall >= wall:
            # Roll to where the hour really is, then back onto this run's uptime.
            down_ms = (now_wall - wall) * 1000
            self.roll(now_ms + down_ms)
            self.bucket_start -= down_ms

    def _distrust(self, now_ms, why):
        # Without a trustworthy record of the last hour, block until an hour has passed.
        self.problem = why
        self.unknown_until = now_ms + (_BUCKETS + 1) * _BUCKET_MS
        self.bucket_start = now_ms

    def roll(self, now_ms):
        # Close the buckets that have ended.
        n = 0
        while now_ms - self.bucket_start >= _BUCKET_MS and n <= _BUCKETS:
            self.usage -= self.closed.pop(0)  # the oldest bucket leaves the hour
            self.closed.append(self.current)
            self.current = self.stored = 0
            self.bucket_start += _BUCKET_MS
            n += 1
        if n > _BUCKETS:  # more than an hour passed: everything has aged out
            self.bucket_start = now_ms
        if n:
            self.save(now_ms)

    def usage_ms(self):
        return self.usage

    def state(self, now_ms, limited_ms, critical_ms, cap_ms):
        if self.unknown_until is not None:
            if now_ms < self.unknown_until:
                return -1
            self.unknown_until = None
            self.problem = None
        u = self.usage_ms()
        if u >= cap_ms:
            return 3
        if u >= critical_ms:
            return 2
        if u >= limited_ms:
            return 1
        return 0

    def reserve(self, airtime_ms, now_ms):
        # Before a frame is sent: make sure flash already accounts for it. False when that
        # could not be stored: the frame must not go (a reboot would read less than sent).
        if self.current + airtime_ms > self.stored:
            return self.save(now_ms, airtime_ms + _RESERVE_MS)
        return True

    def add(self, airtime_us):
        ms = (airtime_us + 999) // 1000
        self.current += ms
        self.usage += ms

    def save(self, now_ms, extra=0):
        stored = self.current + extra
        try:
            store.write(_NAME, cbor.encode([wall_s(True), self.closed, stored,
                                            now_ms - self.bucket_start]))
            self.stored = stored
            return True
        except OSError as e:
            self._distrust(now_ms, "cannot store duty cycle (%s)" % e)
            return False

    def tick(self, agent, now_ms):
        self.roll(now_ms)

    def report(self):
        return {"usage_ms": self.usage_ms(), "buckets": self.closed + [self.current],
                "problem": self.problem}
