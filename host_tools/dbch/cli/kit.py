"""`dbch record` and `dbch report`: a field kit's unattended recorder and its timeline."""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dbch.cli.printing import print_json, print_json_line, progress, utc_now
from dbch.kit.db import KitDb, KitDbError
from dbch.kit.db import shown_time as _t
from dbch.link.ports import resolve_port

# What a person sees without --json: problems and changes, and a line now and then.
_SUMMARY_EVERY_S = 60.0
_SAID = {
    "recording": lambda r: (
        f"recording {', '.join(r['boards'])} every {r['interval_s']:g} s "
        f"into {r['db']} (SIGTERM or Ctrl-C stops)"
    ),
    "connected": lambda r: f"{r['port']}: board {r['board']} ({r['kind']}) answering",
    "outage_start": lambda r: f"{r['port']}: not answering ({r['reason']}); recording the outage",
    "outage_end": lambda r: f"{r['port']}: answering again",
    "board_changed": lambda r: f"{r['port']}: another board ({r['now']}, was {r['was']})",
    "reset": lambda r: f"board {r['board']} was reset ({r['cause']})",
    "new_log": lambda r: (
        f"board {r['board']}: its event log was erased: generation {r['generation']}"
    ),
    "gap": lambda r: (
        f"board {r['board']}: events {r['first_seq']}-{r['last_seq']} were "
        "no longer in its log (recorded as a gap)"
    ),
    "pruned": lambda r: f"pruned {r['rows']} rows recorded before {r['before']}",
    "stopped": lambda r: "stopped",
    "not_shared": lambda r: (
        f"{r['port']}: other dbch commands cannot use it meanwhile ({r['reason']})"
    ),
    "share_refused": lambda r: f"{r['port']}: refused a connection from user {r['uid']}",
}


def do_record(args: argparse.Namespace) -> int:
    from dbch.kit.recorder import Recorder
    from dbch.lab import clock_for

    ports = [(p, resolve_port(p)) for p in args.port]
    clock = clock_for(u for _, u in ports)
    db = KitDb(args.db)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    polls = 0
    last_summary = [time.monotonic()]

    def say(record: dict[str, Any]) -> None:
        nonlocal polls
        if args.json:
            print_json_line({"time": utc_now(), **record}, sys.stderr)
            return
        if record["event"] == "poll":
            polls += 1
            if time.monotonic() - last_summary[0] >= _SUMMARY_EVERY_S:
                last_summary[0] = time.monotonic()
                progress(
                    f"{polls} polls recorded; last: board {record['board']} duty "
                    f"{record['duty']} ({record['usage_ms']} ms this hour)"
                )
            return
        progress(_SAID[record["event"]](record))

    try:
        Recorder(ports, db, args.interval, clock, args.keep, say).record(stop)
    except sqlite3.Error as e:  # the disk filled, the file was taken away: one line, exit 2
        raise KitDbError(f"{args.db}: {e}") from None
    finally:
        db.close()
    return 0


def do_report(args: argparse.Namespace) -> int:
    from dbch.kit.timeline import timeline, verdict

    db = KitDb(args.db, create=False)
    try:
        boards = timeline(db, args.since, args.table, args.region)
    finally:
        db.close()
    kit = verdict(boards)
    if args.html or args.pdf:
        from dbch.kit.render import render_html

        page = render_html(boards, kit, args.db.name, args.paper)
        html_path = args.html or args.pdf.with_suffix(".html")
        Path(html_path).write_text(page)
        if args.pdf:
            from dbch.checks.evidence import write_pdf

            write_pdf(Path(html_path), args.pdf, args.paper)
            progress(f"PDF: {args.pdf}")
        progress(f"HTML: {html_path}")
    if args.json:
        print_json({"verdict": kit, "boards": [b.as_dict() for b in boards]})
    else:
        _print_summary(boards, kit)
    return 0 if kit == "conform" else 1


def _print_summary(boards: list[Any], kit: str) -> None:
    if not boards:
        print("nothing recorded yet")
    for b in boards:
        want = b.expected
        print(
            f"{b.board or 'board'} {b.uid}: {b.verdict} to {want['table']} {want['region']}, "
            f"{_t(b.start)} to {_t(b.end)} ({b.polls} polls, {b.events} events, "
            f"{len(b.channel_changes)} channel changes, {len(b.alerts)} alerts, "
            f"{len(b.resets)} resets, {len(b.outages)} outages, {len(b.gaps)} gaps)"
        )
        for i in b.intervals:
            print(f"  {_t(i.start)} to {_t(i.end)}: {i.what}: {i.why}")
    print(f"verdict: {kit}")
