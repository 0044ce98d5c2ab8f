"""Register-level radio chip models, one module per chip family.

A model sees only what the silicon sees: chip select, reset and SPI bytes. It computes
what the chip would emit from its own registers and never trusts the driver.
"""

from __future__ import annotations

import importlib
from typing import Protocol


class ChipModel(Protocol):
    """The interface the supervisor drives; pin roles are the board.json names."""

    def set_pin(self, role: str, level: int) -> None: ...
    def get_pin(self, role: str) -> int: ...
    def transfer(self, mosi: bytes) -> bytes: ...
    def power_cycle(self) -> None: ...
    def set_freq_word(self, word: int) -> None: ...
    def carrier_hz(self) -> int: ...


def model_for(chip: str, **context: object) -> ChipModel:
    """The register model of `chip`, as its registry entry names it (boards/chips.py)."""
    from dbch.boards.chips import chip as chip_spec

    module, cls = chip_spec(chip).model.split(":")
    return getattr(importlib.import_module(f"dbch.sim.chips.{module}"), cls)(**context)


# The models, for tests and tools that build one directly (the registry names them too).
from dbch.sim.chips.cc1101 import CC1101Model  # noqa: E402
from dbch.sim.chips.sx126x import STM32WL5Model, SX126xModel  # noqa: E402
from dbch.sim.chips.sx127x import SX127xModel  # noqa: E402

__all__ = ["CC1101Model", "ChipModel", "STM32WL5Model", "SX126xModel", "SX127xModel", "model_for"]
