# Simulated-board ROM, for tests only: a Ctrl-C at a named step of the start (the boot
# window, tests/test_boot_window.py). rom_main.py imports it only when a test names a step
# (DBCH_INTERRUPT_AT), so an ordinary twin's heap does not hold it.

# the import each step begins with: (module, fromlist); crashed() is imported by name
_IMPORTED_AT = {
    "main": ("micropython", None),
    "start": ("dbchagent.start", None),
    "crashed": ("dbchagent.lock", ("crashed",)),
}


def interrupt_at(step):
    # Tests (tests/test_boot_window.py) name a step of the start at which a Ctrl-C arrives,
    # delivered through the console before the step goes on: "booted" (the ROM's end),
    # "main" (main.py's first import), "start" (importing dbchagent.start, before its
    # `try`), "crashed" (main.py's handler of an exception that left the agent).
    import machine  # the board's (simmachine), once the ROM has started

    if step == "booted":
        machine.ctrl_c()
        return
    import builtins

    plain = builtins.__import__
    due = [step]

    module, fromlist = _IMPORTED_AT[step]

    def hooked(name, *more):  # more: globals, locals, fromlist, level (when given)
        if due and name == module and (fromlist is None or more[2:3] == (fromlist,)):
            due.clear()  # once
            machine.ctrl_c()
        return plain(name, *more)

    builtins.__import__ = hooked
