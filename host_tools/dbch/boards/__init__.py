"""Board definitions (boards/<ID>/board.json), deploying the agent to a board, mpy-cross."""

# The board a simulated bench starts when none is named.
DEFAULT_BOARD = "PICO_WAVESHARE_SX1262"
