"""`dbch check` (one board against a table, three views), `dbch fleet apply|check` (many
boards at once) and `dbch monitor` (live status and alerts)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dbch import lab
from dbch.checks import evidence
from dbch.checks.configure import apply_table
from dbch.checks.fleet import FleetInterrupted, exit_code, run_each
from dbch.checks.targets import Target
from dbch.checks.views import CheckReport, check_target, shown
from dbch.cli.printing import (
    ProgressBar,
    print_json,
    print_json_line,
    print_table,
    progress,
    utc_now,
)
from dbch.errors import DbchError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.alerts import describe_event
from dbch.gbcs.tables import get_table
from dbch.link.client import AgentClient
from dbch.link.ports import resolve_port
from dbch.output import PAPER_SIZES


def do_check(args: argparse.Namespace) -> int:
    table = get_table(args.table)
    if not args.port:
        raise DbchError("no port given: use --port (or set DBCH_PORT)")
    target = lab.target_for_port(args.port, witness_id=args.witness)
    since = None if args.whole_air_log else args.since
    report = check_target(target, table, args.region, since, args.mode, args.operator)
    _write_reports([report], args.junit, args.html, args.pdf, args.paper)
    if args.json:
        print_json(evidence.records([report]))
    else:
        print_report(report)
    return 0 if report.result == "pass" else 1


def print_report(report: CheckReport) -> None:
    print(f"{report.board}: table {report.table.id} region {report.region}")
    print_table(
        ["RESULT", "CHECK", "VALUE", "LIMIT", "REASON"],
        [
            (
                r.result.upper() if r.result == "fail" else r.result,
                r.check,
                _cell(r.field, r.value, r.unit),
                _cell(r.field, r.limit, r.unit),
                r.reason,
            )
            for r in report.records
        ],
    )
    print(
        f"{report.result.upper()}: {len(report.records)} checks, {len(report.failures)} "
        f"failed, {len(report.unchecked)} could not be checked"
    )


def _cell(field: str, v: Any, unit: str) -> str:
    """A value as the report shows it (views.shown), a long hash shortened before its unit."""
    head, _, unit_part = shown(field, v, unit).partition(" ")
    return f"{_short(head)} {unit_part}".strip()


def _short(v: Any) -> str:
    # Hashes are shortened in the table (the JSON has them whole); words are not.
    s = "" if v is None else str(v)
    return s[:8] + "…" + s[-8:] if len(s) > 24 and " " not in s else s


def _write_reports(
    reports: list[CheckReport],
    junit: Path | None,
    html: Path | None,
    pdf: Path | None = None,
    paper: str = PAPER_SIZES[0],
) -> None:
    for path, write in ((junit, evidence.write_junit), (html, evidence.write_html)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path, reports)
            progress(f"wrote {path}")
    if pdf is not None:
        import tempfile

        pdf.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="dbch-report-") as tmp:
            page = html or Path(tmp) / "report.html"
            if html is None:
                evidence.write_html(page, reports)
            evidence.write_pdf(page, pdf, paper)
        progress(f"wrote {pdf}")


def _fleet_targets(args: argparse.Namespace) -> tuple[list[Target], int]:
    """The boards, and how many simulated ones this run started (and deployed)."""
    started = 0
    if args.ports:
        targets = lab.targets_from_ports(args.ports.split(","))
    elif args.bench:
        targets = lab.targets_from_bench_file(args.bench)
    elif args.places:
        targets = lab.targets_from_places(args.places.split(","))
    else:
        if args.sim < 1:
            raise DbchError("--sim needs at least 1 board")
        targets, started = lab.simulated_targets(args.sim, args.board, progress)
    if not targets:
        raise DbchError("no boards given")
    missing = [t.name for t in targets if not (t.region or args.region)]
    if missing:
        raise DbchError(f"no region for {', '.join(missing)}: give --region")
    return targets, started


def do_fleet(args: argparse.Namespace) -> int:
    began = time.monotonic()  # the run's time includes starting and deploying boards
    table = get_table(args.table)
    targets, started_boards = _fleet_targets(args)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or Path("evidence") / f"fleet-{args.action}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    since = None if args.whole_air_log else args.since
    progress(f"{args.action}: {len(targets)} boards, table {table.id}, evidence in {out}")

    def region_of(t: Target) -> str:
        return t.region or args.region

    def apply_one(t: Target) -> tuple[str, str, Any]:
        with AgentClient(t.port, on_console=None) as hub:
            applied = apply_table(hub, table, region_of(t))
        res, expected, state = applied.reply, applied.expected_hash, applied.radio_state
        detail = (
            f"hash {str(res.get('hash'))[:12]}…, radio {state}"
            if applied.ok
            else f"hash {res.get('hash')} (expected {expected}), radio {state}"
        )
        return ("pass" if applied.ok else "fail"), detail, {**res, "expected_hash": expected}

    def check_one(t: Target) -> tuple[str, str, Any]:
        rep = check_target(t, table, region_of(t), since, args.mode, args.operator)
        if not (rep.context.get("config") or {}).get("configured"):
            hint = f"not configured: run `dbch fleet apply` with --table {table.id} first"
            return "fail", hint, rep
        failed = ", ".join(f.check for f in rep.failures[:3])
        detail = (
            f"{len(rep.records)} checks passed"
            if rep.result == "pass"
            else f"failed: {failed}"
            if rep.failures
            else f"{len(rep.unchecked)} could not be checked"
        )
        return rep.result if rep.result != "incomplete" else "fail", detail, rep

    job = apply_one if args.action == "apply" else check_one
    started = time.monotonic()
    bar = ProgressBar(len(targets), "boards", json_lines=args.json)
    interrupted: FleetInterrupted | None = None
    try:
        outcomes = run_each(targets, job, args.jobs, bar.update)
    except FleetInterrupted as e:  # Ctrl-C: keep what finished, say so, exit 130
        interrupted, outcomes = e, e.finished
    work = time.monotonic() - started
    wall = time.monotonic() - began
    total = None if interrupted is None else interrupted.total
    summary = evidence.fleet_summary(
        args.action, table.id, outcomes, wall, work, args.region, started_boards, total
    )
    evidence.write_fleet(out, summary, outcomes)
    if args.pdf and (out / "report.html").exists():
        evidence.write_pdf(out / "report.html", out / "report.pdf", args.paper)
        progress(f"wrote {out / 'report.pdf'}")
    if args.json:
        print_json({"evidence": str(out), **summary})
    else:
        print_table(
            ["BOARD", "PORT", "REGION", "RESULT", "SECONDS", "DETAIL"],
            [
                (
                    o.target.name,
                    o.target.port,
                    region_of(o.target),
                    o.result,
                    f"{o.seconds:.2f}",
                    o.detail,
                )
                for o in outcomes
            ],
        )
        counts = ", ".join(f"{n} {k}" for k, n in summary["counts"].items()) or "none done"
        print(
            f"{len(outcomes)} boards in {wall:.1f} s ({args.action} {work:.1f} s): {counts}. "
            f"Evidence: {out}"
        )
    if interrupted is not None:
        print(f"dbch: {interrupted} (their evidence is kept in {out})", file=sys.stderr)
        return 130
    return exit_code(outcomes)


def status_line(st: dict[str, Any]) -> str:
    ch = st.get("channel") or {}
    duty = st.get("duty") or {}
    radio = st.get("radio") or {}
    counters = st.get("counters") or {}
    refused = sum(v for k, v in counters.items() if k.startswith("refused_"))
    heap = st.get("heap") or {}
    where = (
        f"p{ch['page']}/ch{ch['channel']} {plan.mhz(ch['freq_hz'])} MHz"
        if ch.get("freq_hz")
        else "no channel"
    )
    return (
        f"up {st.get('uptime_ms', 0) / 1000:.0f}s  {where}  radio {radio.get('state')}  "
        f"duty {duty.get('state')} {duty.get('usage_ms', 0)}/{duty.get('regulated_ms')} ms/h  "
        f"tx {counters.get('tx', 0)}  refused {refused}  heap {heap.get('used')}/"
        f"{heap.get('total')}"
    )


def _monitor_line(as_json: bool, key: str, value: dict[str, Any], text: str) -> None:
    """One line of `dbch monitor`: {"utc": ..., key: value} as JSON Lines, or the local time
    and the text."""
    if as_json:
        print_json_line({"utc": utc_now(), key: value})
        return
    print(f"{dt.datetime.now().strftime('%H:%M:%S')}  {text}", flush=True)


@contextlib.contextmanager
def _served(server_class: Any, hub: AgentClient, url: str) -> Iterator[None]:
    """The held port served to this user's other commands (link/share.py), if it can be."""
    try:
        server = server_class(hub.link, url)
    except DbchError as e:
        progress(f"{url}: other dbch commands cannot use it meanwhile ({e})")
        server = None
    try:
        yield
    finally:
        if server is not None:
            server.close()


def do_monitor(args: argparse.Namespace) -> int:
    from dbch.link.share import PortServer

    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    url = resolve_port(args.port)
    with AgentClient(url, on_console=None) as hub, _served(PortServer, hub, url):
        if not args.json:
            progress(
                "live status and alerts (Ctrl-C to stop; other dbch commands of this "
                "user reach the board through this one meanwhile)"
            )
        next_status = 0.0
        while deadline is None or time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_status:
                st = hub.status()
                _monitor_line(args.json, "status", st, status_line(st))
                next_status = now + args.interval
            wait = max(0.05, next_status - time.monotonic())
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            ev = hub.wait_event(None, timeout=wait)
            if ev is not None:
                _monitor_line(args.json, "event", ev, "! " + describe_event(ev))
    return 0
