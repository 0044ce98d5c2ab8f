# Simulated-board ROM entry point: `micropython -i rom_main.py` (the supervisor runs it).
# Like a stock port's start-up (shared/runtime/pyexec.c): no Python runs before boot.py,
# so nothing can be interrupted there; each of boot.py and main.py is compiled first, then
# run with Ctrl-C on, which is switched off again after it; an exception is printed and,
# after main.py, the REPL follows; sys.exit() soft-resets.
import micropython

micropython.kbd_intr(-1)  # the unix port turned it on for this file: a ROM has none
import os

_step = os.getenv("DBCH_INTERRUPT_AT")  # tests only (tests/test_boot_window.py)
if _step:
    import simsteps  # (from the ROM's folder: before the flash is mounted)
del os
import simrom

simrom.start()
import gc, sys, machine

del simrom, sys.modules["simrom"]
gc.collect()
machine.booted()
if _step:
    simsteps.interrupt_at(_step)
    del simsteps
del _step


def _run(name):
    try:
        src = open(name).read()
    except OSError:
        return True
    try:
        code = compile(src, name, "exec")
        micropython.kbd_intr(3)  # as pyexec's parse_compile_execute, around the run only
        try:
            exec(code, globals())
        finally:
            micropython.kbd_intr(-1)
    except SystemExit:
        return False
    except BaseException as e:
        sys.print_exception(e)
    return True


# "raw": a soft reset from the raw REPL; as on a board, main.py is skipped and the
# supervisor puts the console back in the raw REPL.
if not (_run("boot.py") and ("raw" in sys.argv or _run("main.py"))):
    machine.soft_reset()
