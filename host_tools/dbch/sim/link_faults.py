"""A bad cable between host and board: the simulated board's console relay drops, corrupts,
duplicates and delays bytes at set rates, and can be unplugged (`link_down`), in both
directions. Set through the board's faults (SimBoard.set_faults):

    link_drop, link_corrupt, link_dup   probability per byte (0..1)
    link_delay_ms                       each chunk held back up to this long (order kept)
    link_down                           true: nothing gets through (a pulled cable)
    link_seed                           make a run repeatable

A corrupted byte never becomes Ctrl-C (0x03): on this bench that would interrupt the agent
the way a keyboard does, which is a different test. Counts of what was injected go to the
board's link_faults.json.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

_CTRL_C = 0x03
INBOUND, OUTBOUND = "to_board", "to_host"


class LinkFaults:
    def __init__(self) -> None:
        self.configure({})
        self.counts = {
            "dropped": 0,
            "corrupted": 0,
            "duplicated": 0,
            "delayed": 0,
            "down_bytes": 0,
            "bytes": 0,
        }
        self.queues: dict[str, deque[tuple[float, bytes]]] = {INBOUND: deque(), OUTBOUND: deque()}

    def configure(self, faults: dict[str, Any]) -> None:
        self.drop = float(faults.get("link_drop", 0))
        self.corrupt = float(faults.get("link_corrupt", 0))
        self.dup = float(faults.get("link_dup", 0))
        self.delay_s = float(faults.get("link_delay_ms", 0)) / 1000
        self.down = bool(faults.get("link_down", False))
        self.rng = random.Random(faults.get("link_seed"))
        self.active = bool(self.drop or self.corrupt or self.dup or self.delay_s or self.down)

    @property
    def injected(self) -> int:
        c = self.counts
        return c["dropped"] + c["corrupted"] + c["duplicated"] + c["delayed"]

    def pass_bytes(self, direction: str, data: bytes, now: float) -> bytes:
        """What gets through now; delayed chunks come out of `release` later."""
        if not self.active or not data:
            return data
        self.counts["bytes"] += len(data)
        if self.down:
            self.counts["down_bytes"] += len(data)
            return b""
        out = bytearray()
        rng = self.rng
        for b in data:
            r = rng.random()
            if r < self.drop:
                self.counts["dropped"] += 1
                continue
            if r < self.drop + self.corrupt:
                flipped = b ^ (1 << rng.randrange(8))
                if flipped == _CTRL_C:
                    flipped = b ^ 0x80
                out.append(flipped)
                self.counts["corrupted"] += 1
                continue
            out.append(b)
            if r < self.drop + self.corrupt + self.dup:
                out.append(b)
                self.counts["duplicated"] += 1
        queue = self.queues[direction]
        if self.delay_s or queue:
            due = now + rng.random() * self.delay_s
            if queue:
                due = max(due, queue[-1][0])  # bytes never overtake each other
            queue.append((due, bytes(out)))
            self.counts["delayed"] += bool(self.delay_s)
            return b""
        return bytes(out)

    def next_due(self) -> float | None:
        dues = [q[0][0] for q in self.queues.values() if q]
        return min(dues) if dues else None

    def release(self, now: float) -> list[tuple[str, bytes]]:
        out = []
        for direction, queue in self.queues.items():
            while queue and queue[0][0] <= now:
                out.append((direction, queue.popleft()[1]))
        return out

    def clear(self) -> None:
        """A reset or power cut: bytes in flight are lost."""
        for q in self.queues.values():
            q.clear()
