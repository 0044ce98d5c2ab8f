# Simulated-board ROM entry point: `micropython -i rom_main.py` (the supervisor runs it).
import simrom

simrom.boot(globals())
