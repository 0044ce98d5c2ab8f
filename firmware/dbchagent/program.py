# The agent program: assembled from the modules here, started by main.py. Modules import
# runtime.py for the helpers they share, never this module (micropython's asyncio: the
# others import core.py), so importing one module loads only what it needs.


def main():
    import gc
    import sys
    import dbch_board
    from dbchagent import cmd_system, runtime
    from dbchagent.runtime import release

    runtime.KEEP_MODULES = getattr(dbch_board, "KEEP_MODULES", False)
    from dbchagent.hub import Hub

    hub = Hub(dbch_board)
    cmd_system.install(hub)
    # Load each module kept on flash once now, so the names they intern (which are never
    # freed) sit together at the start of the heap instead of in holes later on.
    for name in ("cmd_info", "cmd_hub", "config_check", "channel_scan", "traffic", "auth"):
        __import__("dbchagent." + name)
        release("dbchagent." + name)
    if getattr(dbch_board, "WATCHDOG_MS", 0):
        import machine

        hub.wdt = machine.WDT(timeout=dbch_board.WATCHDOG_MS)
        sys.modules["dbch_wdt"] = hub.wdt  # for deploy to feed while the agent is stopped
    gc.collect()
    # Ready: said as the loop that answers starts, so a host that waits for it is answered
    # at once (and the boot's figure, power to ready, is power to answering). (cmd_info
    # loaded again, its names interned above.)
    from dbchagent.cmd_info import identity

    hub.event("ready", identity(hub))
    del identity  # a function keeps its whole module alive
    release("dbchagent.cmd_info")
    hub.run()
