"""`dbch completion SHELL`: the shell code that completes dbch's commands and options
(argcomplete: the shell calls dbch back with the line typed so far)."""

from __future__ import annotations

import argparse


def do_completion(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["dbch"], shell=args.shell), end="")
    return 0


# Completers (argcomplete calls them with the word typed so far): what a board, a table or
# a port can be named, instead of the shell's file names.
def table_ids(prefix: str, **_: object) -> list[str]:
    from dbch.gbcs.tables import all_tables

    return [t.id for t in all_tables() if t.id.startswith(prefix)]


def sim_ids(prefix: str, **_: object) -> list[str]:
    from dbch.sim.bench import Bench

    return [b.id for b in Bench().boards() if b.id.startswith(prefix)]


def board_ids(prefix: str, **_: object) -> list[str]:
    from dbch.boards.definitions import all_boards

    return [b.id for b in all_boards() if b.id.startswith(prefix)]


def ports(prefix: str, **_: object) -> list[str]:
    """sim:ID of the running simulated boards, and the serial devices this host has."""
    import glob

    names = [f"sim:{i}" for i in sim_ids("")]
    names += sorted(glob.glob("/dev/ttyACM*") + glob.glob("/dev/ttyUSB*"))
    return [n for n in names if n.startswith(prefix)]
