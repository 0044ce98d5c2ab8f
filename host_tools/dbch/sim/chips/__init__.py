"""Register-level radio chip models, one module per chip family.

A model sees only what the silicon sees: chip select, reset and SPI bytes. It computes
what the chip would emit from its own registers and never trusts the driver.
"""

from __future__ import annotations

from typing import Protocol


class ChipModel(Protocol):
    """The interface the supervisor drives; pin roles are the board.json names."""

    def set_pin(self, role: str, level: int) -> None: ...
    def get_pin(self, role: str) -> int: ...
    def transfer(self, mosi: bytes) -> bytes: ...
    def power_cycle(self) -> None: ...


class NoChip:
    """An empty socket: MISO floats high and every input pin reads low."""

    def set_pin(self, role: str, level: int) -> None:
        pass

    def get_pin(self, role: str) -> int:
        return 0

    def transfer(self, mosi: bytes) -> bytes:
        return b"\xff" * len(mosi)

    def power_cycle(self) -> None:
        pass


def model_for(chip: str, **context: object) -> ChipModel:
    """The model of `chip`; NoChip when no model of it exists yet."""
    factory = MODELS.get(chip)
    return factory(**context) if factory else NoChip()


from dbch.sim.chips.cc1101 import CC1101Model  # noqa: E402 - the registry needs ChipModel defined first
from dbch.sim.chips.sx126x import STM32WL5Model, SX126xModel  # noqa: E402
from dbch.sim.chips.sx127x import SX127xModel  # noqa: E402

MODELS: dict[str, type] = {
    "sx1262": SX126xModel,
    "stm32wl5": STM32WL5Model,
    "sx1276": SX127xModel,
    "cc1101": CC1101Model,
}
