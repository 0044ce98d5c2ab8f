"""`dbch sim`: start, list, reset, kill and stop simulated boards."""

from __future__ import annotations

import argparse

from .boards import DEFAULT_BOARD
from .output import print_json, print_table
from .sim.bench import Bench


def add_sim_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="sim_verb", metavar="ACTION", required=True)

    s = sub.add_parser("start", help="start simulated boards in the background")
    s.add_argument("--board", default=DEFAULT_BOARD, help=f"board id (default {DEFAULT_BOARD})")
    s.add_argument("--count", type=int, default=1, help="how many boards (default 1)")
    s.add_argument(
        "--id",
        action="append",
        dest="ids",
        metavar="ID",
        help="name the board (repeatable); its flash is kept across starts",
    )
    s.add_argument("--erase", action="store_true", help="start from erased flash")
    s.add_argument(
        "--clock-scale",
        type=int,
        default=None,
        metavar="N",
        help="run the bench clock N times faster than real time (default 1)",
    )
    s.add_argument(
        "--interferer",
        action="append",
        default=[],
        metavar="FREQ:POWER",
        help="a continuous interferer on the bench, e.g. 868.45MHz:-70dBm",
    )
    s.add_argument(
        "--trace-spi",
        action="store_true",
        help="log every radio SPI transaction to <state>/spi.log",
    )
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("list", help="list running simulated boards")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("reset", help="press the reset button of a simulated board")
    s.add_argument("id")

    s = sub.add_parser("kill", help="cut a simulated board's power at this instant (it restarts)")
    s.add_argument("id")

    s = sub.add_parser("stop", help="stop simulated boards (their flash is kept)")
    s.add_argument("ids", nargs="*", metavar="ID")
    s.add_argument("--all", action="store_true", help="stop every running board")
    p.epilog = "Boards live under $DBCH_SIM_HOME (default ~/.local/state/dbch/sim)."


def do_sim(args: argparse.Namespace) -> int:
    bench = Bench()
    verb = args.sim_verb
    if verb == "start":
        if args.count < 1:
            raise SystemExit("dbch sim start: --count must be at least 1")
        boards = bench.start(
            board=args.board,
            count=args.count if not args.ids else len(args.ids),
            ids=args.ids,
            erase=args.erase,
            clock_scale=args.clock_scale,
            interferers=args.interferer,
            trace_spi=args.trace_spi,
        )
        _show([b.info() for b in boards], args.json)
    elif verb == "list":
        _show([b.info() for b in bench.boards()], args.json)
    elif verb == "reset":
        bench.board(args.id).reset()
        print(f"{args.id}: reset")
    elif verb == "kill":
        bench.board(args.id).kill()
        print(f"{args.id}: power cut, restarted")
    elif verb == "stop":
        if not args.ids and not args.all:
            raise SystemExit("dbch sim stop: name boards or use --all")
        stopped = bench.stop(None if args.all else args.ids)
        print(f"stopped: {', '.join(stopped) or 'none running'}")
    return 0


def _show(infos: list[dict], as_json: bool) -> None:
    if as_json:
        print_json(infos)
        return
    print_table(
        ["ID", "BOARD", "PORT", "HEAP", "RESETS", "POWER"],
        [
            (
                i["id"],
                i["board"],
                i["port"],
                f"{i['heap_kb']} KB",
                i["resets"],
                "on" if i["powered"] else "off",
            )
            for i in infos
        ],
    )
