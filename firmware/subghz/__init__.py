# Sub-GHz radio drivers for the GB868 FSK PHY: a core (core.py) with the shared logic and
# one module per chip family (sx126x, sx127x, cc1101), variants as subclasses (stm32wl5).
# A board's generated module (dbch_board.radio()) constructs its driver with its wiring.
