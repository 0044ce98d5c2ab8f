"""`dbch sim`: start, list, reset, kill and stop simulated boards."""

from __future__ import annotations

import argparse

from dbch.cli.printing import print_json, print_table, progress, utc_now
from dbch.errors import DbchError
from dbch.sim.bench import Bench


def do_sim(args: argparse.Namespace) -> int:
    bench = Bench()
    verb = args.sim_verb
    if verb == "start":  # argparse keeps --count at 1 or more
        boards = bench.start(
            board=args.board,
            count=args.count if not args.ids else len(args.ids),
            ids=args.ids,
            erase=args.erase,
            clock_scale=args.clock_scale,
            interferers=args.interferer,
            trace_spi=args.trace_spi,
            twin=args.twin,
            icount=args.icount,
            progress=progress,
        )
        _show([b.info() for b in boards], args.json)
    elif verb == "list":
        _show([b.info() for b in bench.boards()], args.json)
    elif verb == "reset":
        board = bench.board(args.id)
        board.reset(hold_unlock=args.unlock)
        text = f"{args.id}: reset" + (" with the unlock button held" if args.unlock else "")
        _said(args.json, text, {"action": "reset", "unlock": args.unlock, **board.info()})
    elif verb == "kill":
        board = bench.board(args.id)
        board.kill()
        _said(args.json, f"{args.id}: power cut, restarted", {"action": "kill", **board.info()})
    elif verb == "stop":
        if not args.ids and not args.all:
            raise DbchError("sim stop: name boards or use --all")
        stopped = bench.stop(None if args.all else args.ids)
        text = f"stopped: {', '.join(stopped) or 'none running'}"
        _said(args.json, text, {"action": "stop", "stopped": stopped})
    return 0


def _said(as_json: bool, text: str, record: dict) -> None:
    if as_json:
        print_json({**record, "utc": utc_now()})
    else:
        print(text)


def _show(infos: list[dict], as_json: bool) -> None:
    if as_json:
        print_json(infos)
        return
    print_table(
        ["ID", "BOARD", "TWIN", "PORT", "HEAP", "RESETS", "POWER"],
        [
            (
                i["id"],
                i["board"],
                i.get("twin", "unix"),
                i["port"],
                f"{i['heap_kb']} KB",
                i["resets"],
                "on" if i["powered"] else "off",
            )
            for i in infos
        ],
    )
