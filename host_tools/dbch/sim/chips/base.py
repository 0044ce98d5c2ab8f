"""What every chip model shares: the bench clock, the air, fault injection, and one place
where an emission is computed into a record and checked against the masked bands.

Models are written from the datasheets, independently of the firmware drivers: a model
never trusts what the driver meant, only the bytes and pin levels it received.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dbch.sim.air import MASKED_BANDS_HZ, Air
from dbch.sim.layout import BenchFolder

HALF_BW_HZ = 100_000  # half the occupied bandwidth of 100 kbps GFSK (docs/reference.md §2)


class ChipBase:
    CHIP = "?"

    def __init__(
        self,
        board_id: str = "model",
        bench: BenchFolder | None = None,
        clock: Callable[[], float] | None = None,
        log: Callable[[str], None] | None = None,
    ):
        self.board_id = board_id
        self.air = Air(bench, board_id) if bench is not None else None
        self.clock = clock or time.time
        self.log = log or (lambda msg: None)  # the supervisor's log: what a model noticed
        self.nss = 1  # chip select, as the MCU drives it (1: released)
        # Faults a test can inject (SimBoard.set_faults): stuck_busy, gone, wrong_id,
        # skew_readback, freq_offset_hz
        self.faults: dict[str, Any] = {}
        self.violations: list[dict[str, Any]] = []
        self.emissions: list[dict[str, Any]] = []

    def power_cycle(self) -> None:
        raise NotImplementedError

    def power_cut(self) -> None:
        """The board's power goes and comes back. The chip restarts, and chip select, which
        the MCU drove, is released with it: a transaction the cut interrupted ends there and
        is never executed (the STM32WL's internal NSS resets high; a separate chip's line
        is pulled up while the MCU restarts)."""
        self.nss = 1
        self.power_cycle()

    @property
    def gone(self) -> bool:
        return bool(self.faults.get("gone"))

    def rssi_dbm(self, freq_hz: int) -> float:
        if self.air is None:
            return -110.0
        return self.air.power_at(freq_hz, self.clock())

    def emit(
        self,
        freq_hz: int,
        power_dbm: float | None,
        duration_us: int,
        payload: bytes,
        **details: Any,
    ) -> bool:
        """Record what the chip puts on the air; refuse (and record a violation) when the
        carrier's occupied band touches a masked band. Returns whether it transmitted."""
        # Fault freq_offset_hz: the synthesiser is pulled off its programmed frequency (a bad
        # reference, tampering). The registers still read as programmed; only the air shows it.
        freq_hz += int(self.faults.get("freq_offset_hz", 0))
        record = {
            "t": round(self.clock(), 6),
            "chip": self.CHIP,
            "freq_hz": int(freq_hz),
            "power_dbm": power_dbm,
            "duration_us": int(duration_us),
            "bytes": payload.hex(),
            **details,
        }
        bands = self.air.masked_bands() if self.air else MASKED_BANDS_HZ
        hit = next(
            (
                (lo, hi)
                for lo, hi in bands
                if freq_hz + HALF_BW_HZ > lo and freq_hz - HALF_BW_HZ < hi
            ),
            None,
        )
        if hit:
            record.update(emitted=False, violation=f"carrier in masked band {hit[0]}-{hit[1]} Hz")
            self.violations.append(record)
        else:
            record.update(emitted=True, violation=None)
            self.emissions.append(record)
        if self.air is not None:
            self.air.emit(record)
        return not hit
