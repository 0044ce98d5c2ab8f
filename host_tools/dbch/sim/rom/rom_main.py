# Simulated-board ROM entry point: `micropython -i rom_main.py` (the supervisor runs it).
# Like a stock port's start-up (shared/runtime/pyexec.c): no Python runs before boot.py,
# so nothing can be interrupted there; each of boot.py and main.py is compiled first, then
# run with Ctrl-C on, which is switched off again after it; an exception is printed and,
# after main.py, the REPL follows; sys.exit() soft-resets.
import micropython

micropython.kbd_intr(-1)  # the unix port turned it on for this file: a ROM has none
import simrom

simrom.start()
import gc, sys, machine

del simrom, sys.modules["simrom"]
gc.collect()
machine.booted()


def _interrupt_at(step):
    # Tests (tests/test_boot_window.py) name a step of the start at which a Ctrl-C arrives,
    # delivered through the console before the step goes on: "booted" (the ROM's end),
    # "main" (main.py's first import), "start" (importing dbchagent.start, before its
    # `try`), "crashed" (main.py's handler of an exception that left the agent).
    if step == "booted":
        machine.ctrl_c()
        return
    import builtins

    plain = builtins.__import__
    due = [step]

    def hooked(name, *more):
        if due and (
            (step == "main" and name == "micropython")
            or (step == "start" and name == "dbchagent.start")
            or (step == "crashed" and name == "dbchagent.lock" and "crashed" in str(more))
        ):
            due.clear()  # once
            machine.ctrl_c()
        return plain(name, *more)

    builtins.__import__ = hooked


import os

if os.getenv("DBCH_INTERRUPT_AT"):
    _interrupt_at(os.getenv("DBCH_INTERRUPT_AT"))
del os


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
