# What main.py runs (main.py stays one line: on a small filesystem a longer file takes a
# whole block). Ctrl-C is off until the agent knows whether the board is locked (lock.py).
# Unlocked, Ctrl-C (as mpremote sends) stops the agent and leaves the REPL; locked,
# nothing does: any exception that leaves the agent resets the board.
import micropython

try:
    micropython.kbd_intr(-1)
except AttributeError:
    pass
try:
    from dbchagent.program import main

    main()
except BaseException as e:  # every exit, KeyboardInterrupt included
    from dbchagent.lock import crashed

    crashed(e)
