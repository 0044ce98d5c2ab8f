"""Simulated boards: the MicroPython unix VM running the firmware from a littlefs image,
with a pty console and a register-level radio model behind a bus bridge."""
