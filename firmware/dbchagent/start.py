# What main.py runs (main.py stays one line: on a small filesystem a longer file takes a
# whole block). First the lock (lock.py): a locked board turns Ctrl-C off before anything
# else is imported; an unlocked one keeps it, so whatever goes wrong later (a module that
# never finishes loading, a loop) Ctrl-C still reaches the REPL and deploy can repair it.
# Unlocked, Ctrl-C (as mpremote sends) stops the agent and leaves the REPL; locked,
# nothing does: any exception that leaves the agent resets the board.
try:
    import dbch_board
    from dbchagent import lock

    lock.boot(dbch_board)
    from dbchagent.program import main

    main()
except BaseException as e:  # every exit, KeyboardInterrupt included
    from dbchagent.lock import crashed

    crashed(e)
