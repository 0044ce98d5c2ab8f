# Sub-GHz radio drivers for the GB868 FSK PHY: a core (core.py) with the shared logic and
# one module per chip family (sx126x, sx127x, cc1101), variants as subclasses (stm32wl5).
# open_radio() builds the board's radio from its generated board module.


def open_radio(board):
    # board: the dbch_board module. The driver is named by data, not chosen by branches.
    module, cls = board.RADIO_DRIVER
    mod = __import__(module, None, None, (cls,))
    return getattr(mod, cls).from_board(board)
