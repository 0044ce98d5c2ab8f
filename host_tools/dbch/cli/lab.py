"""`dbch lab`: a bench (or the running simulated boards) as a labgrid exporter and places."""

from __future__ import annotations

import argparse
import socket

from dbch.cli.printing import progress
from dbch.errors import DbchError
from dbch.lg import exporter


def _boards(args: argparse.Namespace) -> list[exporter.ExportedBoard]:
    if args.bench:
        from dbch.checks.fleet import bench_entries

        return exporter.from_bench(bench_entries(args.bench))
    from dbch.sim.bench import Bench

    running = Bench().boards()
    if args.sim != "all":
        wanted = [i.strip() for i in args.sim.split(",") if i.strip()]
        by_id = {b.id: b for b in running}
        unknown = [i for i in wanted if i not in by_id]
        if unknown:
            raise DbchError(f"no running simulated board {', '.join(unknown)} (dbch sim list)")
        running = [by_id[i] for i in wanted]
    if not running:
        raise DbchError("no simulated boards are running (dbch sim start)")
    return exporter.from_sim(running, args.region)


def do_lab(args: argparse.Namespace) -> int:
    boards = _boards(args)
    if args.lab_verb == "exporter-config":
        text = exporter.exporter_yaml(boards)
        if args.out:
            args.out.write_text(text)
            progress(f"{len(boards)} boards written to {args.out}")
        else:
            print(text, end="")
        return 0
    name = args.exporter or socket.gethostname()
    if not args.run:
        print(exporter.place_script(boards, name), end="")
        return 0
    from dbch.lg.loopback import create_places

    create_places(boards, name)
    progress(f"{len(boards)} places ready")
    return 0
