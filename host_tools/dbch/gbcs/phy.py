"""The GB868 PHY a DBCH's Sub-GHz radio uses, and how far a radio's readback may be from it
(docs/reference.md §2: what the drivers set; firmware/subghz/core.py holds the agent's copy,
tests/test_wire_contract.py keeps the two equal)."""

from __future__ import annotations

BITRATE = 100_000  # bits per second, 2-GFSK
FDEV_HZ = 35_000  # frequency deviation
SYNC_WORD = 0x904E
# How far a readback may be from the above: larger than any chip's synthesiser step and
# rate resolution (boards/chips.py), so a right setting always passes.
BITRATE_TOL = 200
FDEV_TOL = 500
FREQ_TOL_HZ = 500
