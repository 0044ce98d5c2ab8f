# Simulated-board ROM entry point: `micropython -i rom_main.py` (the supervisor runs it).
# Like pyexec on a board: boot.py then main.py; an exception is printed and the REPL
# follows; sys.exit() soft-resets.
import simrom

simrom.start()
import gc, sys, machine

del simrom, sys.modules["simrom"]
gc.collect()
machine.booted()


def _run(name):
    try:
        src = open(name).read()
    except OSError:
        return True
    try:
        exec(src, globals())
    except SystemExit:
        return False
    except BaseException as e:
        sys.print_exception(e)
    return True


# "raw": a soft reset from the raw REPL; as on a board, main.py is skipped and the
# supervisor puts the console back in the raw REPL.
if not (_run("boot.py") and ("raw" in sys.argv or _run("main.py"))):
    machine.soft_reset()
