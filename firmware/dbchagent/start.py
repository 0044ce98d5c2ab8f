# What main.py runs (main.py stays one line: on a small filesystem a longer file takes a
# whole block). main.py has turned Ctrl-C off (a stock port turns it on for main.py; the
# WL55's image never does): nothing interrupts the board before the lock decides. First
# the lock (lock.py): a locked board keeps Ctrl-C off; an unlocked one turns it back on,
# so whatever goes wrong later (a module that never finishes loading, a loop) Ctrl-C
# still reaches the REPL and deploy can repair it.
# Unlocked, Ctrl-C (as mpremote sends) stops the agent and leaves the REPL; locked,
# nothing does: any exception that leaves the agent resets the board.
try:
    import dbchagent.runtime  # noqa: F401 (first: it keeps the built-ins in sys.modules)
    import dbch_board
    from dbchagent import lock

    lock.boot(dbch_board)
    from dbchagent.program import main

    main()
except BaseException as e:  # every exit, KeyboardInterrupt included
    from dbchagent.lock import crashed

    crashed(e)
