"""One direction of a uart console's wire: bytes cross at the baud rate (sim/console.py)."""

from __future__ import annotations

# Bytes moved across a paced wire per wake-up: the relay wakes about every 1.4 ms at
# 115200 baud instead of every byte.
WIRE_BATCH = 16
WIRE_BURST = 2 * WIRE_BATCH  # the most a late wake-up delivers at once


class Wire:
    """One direction of a UART: bytes take 10 bits each at the baud rate. `rate` None: not
    paced (USB). The line is busy until `self.t`; bytes queued on an idle line start now."""

    def __init__(self, bytes_per_s: float | None):
        self.rate = bytes_per_s
        self.t = 0.0

    def queued(self, now: float) -> None:
        """Bytes were queued: an idle line starts sending them now."""
        if self.t < now:
            self.t = now

    def allowed(self, now: float) -> int:
        """How many queued bytes have crossed by `now`. A relay that wakes late (a loaded
        host) must not land a burst the MCU would have read byte by byte meanwhile: the
        line is taken to have paused instead, and at most WIRE_BURST bytes arrive at once."""
        if self.rate is None:
            return 1 << 30
        self.t = max(self.t, now - WIRE_BURST / self.rate)
        return max(0, int((now - self.t) * self.rate + 1e-6))  # (float rounding)

    def sent(self, n: int) -> None:
        if self.rate is not None:
            self.t += n / self.rate

    def due(self, pending: int) -> float | None:
        """When the next batch of `pending` bytes will have crossed."""
        if self.rate is None or not pending:
            return None
        return self.t + min(pending, WIRE_BATCH) / self.rate
