"""The board around the MCU that a simulated board's VM reaches through the bridge: the
radio's SPI bus and pins (to its register model), the other GPIO (the unlock button), and a
logic analyser on the radio bus (each chip-select-framed transaction's MOSI bytes, one hex
line each in <board>/spi.log)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbch.boards.chips import chip as chip_spec
from dbch.boards.definitions import BoardDef
from dbch.sim.chips import model_for


class RadioBus:
    def __init__(
        self,
        board: BoardDef,
        trace: Path | None,
        **model_context: Any,
    ):
        self.board = board
        self.chip = model_for(board.radio.chip, **model_context)
        self.roles = {name: role for role, name in board.radio.pins.items()}
        if chip_spec(board.radio.chip).internal:  # chip select and BUSY inside the MCU
            self.roles.update({"SUBGHZ_NSS": "nss", "SUBGHZ_BUSY": "busy"})
        self.gpio: dict[str, int] = {}
        self.trace = open(trace, "a") if trace is not None else None  # noqa: SIM115
        self.txn = bytearray()
        self.unlock_pin = board.unlock_pin  # the button, released (docs/security.md)
        if self.unlock_pin is not None:
            self.gpio[self.unlock_pin] = 1 - board.unlock_level

    def spi_transfer(self, bus: str, mosi: bytes) -> bytes:
        if bus == self.board.radio.spi:
            if self.trace is not None:
                self.txn += mosi
            return self.chip.transfer(mosi)
        return b"\xff" * len(mosi)  # nothing else on any other bus: MISO floats high

    def pin_set(self, name: str, level: int) -> None:
        role = self.roles.get(name)
        if role is None:
            self.gpio[name] = level
            return
        if role == "nss" and self.trace is not None:
            if level == 0:
                self.txn = bytearray()
            elif self.txn:
                self.trace.write(self.txn.hex(" ").upper() + "\n")
                self.trace.flush()
                self.txn = bytearray()
        self.chip.set_pin(role, level)

    def pin_get(self, name: str) -> int:
        role = self.roles.get(name)
        if role is None:
            return self.gpio.get(name, 0)
        return self.chip.get_pin(role)

    def hold_unlock(self, held: bool, log: Callable[[str], None]) -> None:
        """The unlock button, held through a reset or released (the agent samples it once,
        at start)."""
        if self.unlock_pin is None:
            return
        level = self.board.unlock_level
        self.gpio[self.unlock_pin] = level if held else 1 - level
        if held:
            log(f"reset with the unlock button ({self.unlock_pin}) held")

    def set_faults(self, faults: dict[str, Any]) -> None:
        """Faults a test injects into the radio (stuck_busy, gone, wrong_id, ...)."""
        if hasattr(self.chip, "faults"):
            self.chip.faults = faults

    def power_cut(self) -> None:
        self.chip.power_cut()
