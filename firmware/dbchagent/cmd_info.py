# System commands served from flash (loaded per request): hello (identity), echo and
# memtest (link and memory diagnostics for benches), reset.
import machine
import sys
import time
from dbchagent.cmd_system import firmware, heap, sample_heap
from dbchagent.link import VERSION
from dbchagent.errors import arg


def identity(agent):
    try:
        import dbch_board

        board, radio = dbch_board.BOARD_ID, dbch_board.RADIO_CHIP
    except ImportError:
        board = radio = None
    return {
        "proto": VERSION,  # the link's frame version
        "fw": firmware(),
        "board": board,
        "radio": radio,
        "uid": machine.unique_id(),
        "platform": sys.platform,
        "mp": list(sys.implementation.version[:3]),
        "epoch": time.gmtime(0)[0],
        "max_request": agent.console.max_request,
        # a simulated board's ROM names the board it stands in for; hardware has no such name
        "twin": getattr(machine, "TWIN_OF", None),
        # the board's own clock as it answers (ms from its reset on a board; it wraps): the
        # first hello after a reset says how long the board took to start the agent
        "ticks_ms": time.ticks_ms(),
    }


def hello(agent, args):
    return identity(agent)


def echo(agent, args):
    # Returns the bytes it was sent: checks the link with frames of any size up to the limit.
    return {"data": arg(args, "data", None, 1024)}


def memtest(agent, args):
    # Allocates `size` bytes and frees them: shows how much a board can still hold. Beyond
    # the heap this raises MemoryError, which the dispatcher reports as no_memory.
    size = arg(args, "size", 1, 1 << 24)
    buf = bytearray(size)
    del buf
    sample_heap()
    return {"size": size, "heap": heap()}


def reset(agent, args):
    agent.after_reply = machine.reset
    return {"resetting": True}


def crash(agent, args):
    # Protected: after the reply, an exception leaves the main loop, as a bug would.
    # Unlocked, the REPL follows; locked, main.py resets the board.
    def fail():
        raise RuntimeError("crash requested")

    agent.after_reply = fail
    return {"crashing": True}
