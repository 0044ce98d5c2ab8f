"""`dbch check` (one board against a table, three views), `dbch fleet apply|check` (many
boards at once) and `dbch monitor` (live status and alerts)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

from . import channel_plan as plan
from . import evidence
from .alerts import describe_event
from .checks import HOUR_S, CheckReport, check_board
from .client import AgentClient
from .errors import DbchError
from .fleet import (
    Outcome,
    ProgressBar,
    Target,
    exit_code,
    read_bench_file,
    run_each,
    simulated_targets,
    targets_from_ports,
)
from .output import print_json, print_table, progress
from .ports import add_port_arg, resolve_port
from .subghz_config import agent_record, content_hash
from .tables import REGIONS, get_table


# --- check -------------------------------------------------------------------------------
def _add_evidence_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--since",
        type=float,
        default=HOUR_S,
        metavar="S",
        help="how far back the witness looks, in bench seconds (default: one hour)",
    )
    p.add_argument(
        "--whole-air-log",
        action="store_true",
        help="the witness looks at everything the board ever emitted",
    )


def add_check_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument("--table", required=True, help="table version id or .toml file")
    p.add_argument("--region", required=True, choices=REGIONS, help="CSP region")
    _add_evidence_args(p)
    p.add_argument(
        "--witness",
        metavar="SIM_ID",
        help="the simulated board behind a port the bench cannot recognise "
        "(socket:// or rfc2217:// to a simulated board)",
    )
    p.add_argument("--json", action="store_true", help="print the evidence records as JSON")
    p.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML")
    p.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write a self-contained HTML report with the channel-plan chart",
    )
    p.epilog = (
        "Exit 0: every check passed; 1: a check failed or could not be checked; "
        "2: the check could not run (port, table)."
    )


def do_check(args: argparse.Namespace) -> int:
    table = get_table(args.table)
    report = check_board(
        resolve_port(args.port),
        table,
        args.region,
        None if args.whole_air_log else args.since,
        args.witness,
    )
    _write_reports([report], args.junit, args.html)
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
                _short(r.value),
                f"{_short(r.limit)} {r.unit}".strip(),
                r.reason,
            )
            for r in report.records
        ],
    )
    print(
        f"{report.result.upper()}: {len(report.records)} checks, {len(report.failures)} "
        f"failed, {len(report.unchecked)} could not be checked"
    )


def _short(v: Any) -> str:
    # Hashes are shortened in the table (the JSON has them whole); words are not.
    s = "" if v is None else str(v)
    return s[:8] + "…" + s[-8:] if len(s) > 24 and " " not in s else s


def _write_reports(reports: list[CheckReport], junit: Path | None, html: Path | None) -> None:
    for path, write in ((junit, evidence.write_junit), (html, evidence.write_html)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path, reports)
            progress(f"wrote {path}")


# --- fleet -------------------------------------------------------------------------------
def add_fleet_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=("apply", "check"),
        help="apply a table to every board, or check every board against it",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--ports", help="comma-separated ports (also sim:ID, rfc2217://...)")
    which.add_argument(
        "--bench",
        type=Path,
        metavar="FILE",
        help="bench file (TOML) listing boards by USB serial number",
    )
    which.add_argument(
        "--sim",
        type=int,
        metavar="N",
        help="N simulated boards (started and deployed if not running)",
    )
    p.add_argument("--board", help="board type for --sim (default: the default board)")
    p.add_argument("--table", required=True, help="table version id or .toml file")
    p.add_argument(
        "--region",
        choices=REGIONS,
        help="CSP region (required unless the bench file gives each board's)",
    )
    _add_evidence_args(p)
    p.add_argument("--jobs", type=int, default=32, help="boards worked on at once (32)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="evidence folder (default: evidence/fleet-ACTION-TIME)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.epilog = (
        "Exit 0: every board passed; 1: a board failed (refused, non-conforming); "
        "2: a board could not be reached or its port is in use by another run."
    )


def _fleet_targets(args: argparse.Namespace) -> list[Target]:
    if args.ports:
        targets = targets_from_ports(args.ports.split(","))
    elif args.bench:
        targets = read_bench_file(args.bench)
    else:
        if args.sim < 1:
            raise DbchError("--sim needs at least 1 board")
        targets = simulated_targets(args.sim, args.board, progress)
    if not targets:
        raise DbchError("no boards given")
    missing = [t.name for t in targets if not (t.region or args.region)]
    if missing:
        raise DbchError(f"no region for {', '.join(missing)}: give --region")
    return targets


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "board"


def do_fleet(args: argparse.Namespace) -> int:
    table = get_table(args.table)
    targets = _fleet_targets(args)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or Path("evidence") / f"fleet-{args.action}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    since = None if args.whole_air_log else args.since
    progress(f"{args.action}: {len(targets)} boards, table {table.id}, evidence in {out}")

    def region_of(t: Target) -> str:
        return t.region or args.region

    def apply_one(t: Target) -> tuple[str, str, Any]:
        record = agent_record(table.region(region_of(t)).config(), table.regulatory)
        expected = content_hash(record)
        with AgentClient(t.port, on_console=None) as hub:
            res = hub.apply_config(record, table.id, region_of(t))
        state = (res.get("radio") or {}).get("state")
        ok = res.get("hash") == expected and state == "ready"
        detail = (
            f"hash {str(res.get('hash'))[:12]}…, radio {state}"
            if ok
            else f"hash {res.get('hash')} (expected {expected}), radio {state}"
        )
        return ("pass" if ok else "fail"), detail, {**res, "expected_hash": expected}

    def check_one(t: Target) -> tuple[str, str, Any]:
        rep = check_board(t.port, table, region_of(t), since, t.sim_id, name=t.name)
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
    outcomes = run_each(targets, job, args.jobs, ProgressBar(len(targets), "boards"))
    wall = time.monotonic() - started
    _write_fleet_evidence(out, args.action, table.id, outcomes, wall)
    summary = _summary(outcomes, wall)
    if args.json:
        print_json(
            {
                "action": args.action,
                "table": table.id,
                "evidence": str(out),
                **summary,
                "boards": [_outcome_dict(o) for o in outcomes],
            }
        )
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
        counts = ", ".join(f"{n} {k}" for k, n in summary["counts"].items())
        print(f"{len(outcomes)} boards in {wall:.1f} s: {counts}. Evidence: {out}")
    return exit_code(outcomes)


def _summary(outcomes: list[Outcome], wall: float) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    return {"wall_s": round(wall, 3), "counts": counts}


def _outcome_dict(o: Outcome) -> dict[str, Any]:
    return {
        "name": o.target.name,
        "port": o.target.port,
        "sim": o.target.sim_id,
        "region": o.target.region,
        "result": o.result,
        "detail": o.detail,
        "seconds": round(o.seconds, 3),
    }


def _write_fleet_evidence(
    out: Path, action: str, table_id: str, outcomes: list[Outcome], wall: float
) -> None:
    """Per board: NAME.json (the evidence records, or the apply reply); for all: summary.json,
    and for checks junit.xml and report.html."""
    reports = [o.data for o in outcomes if isinstance(o.data, CheckReport)]
    for o in outcomes:
        path = out / f"{_safe_name(o.target.name)}.json"
        if isinstance(o.data, CheckReport):
            body: Any = evidence.records([o.data])
        else:
            body = {**_outcome_dict(o), "reply": o.data}
        path.write_text(json.dumps(body, indent=1, default=_jsonable) + "\n")
    (out / "summary.json").write_text(
        json.dumps(
            {
                "action": action,
                "table": table_id,
                **_summary(outcomes, wall),
                "boards": [_outcome_dict(o) for o in outcomes],
            },
            indent=1,
        )
        + "\n"
    )
    if reports:
        evidence.write_junit(out / "junit.xml", reports)
        evidence.write_html(out / "report.html", reports)


def _jsonable(v: Any) -> Any:
    return v.hex() if isinstance(v, bytes | bytearray) else str(v)


# --- monitor -----------------------------------------------------------------------------
def add_monitor_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="seconds between status lines (2)"
    )
    p.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: {'status': ...} or {'event': ...}",
    )


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
    """One line of `dbch monitor`: {key: value} as JSON, or the time and the text."""
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    line = json.dumps({key: value}, default=_jsonable) if as_json else f"{stamp}  {text}"
    print(line, flush=True)


def do_monitor(args: argparse.Namespace) -> int:
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    with AgentClient(resolve_port(args.port), on_console=None) as hub:
        if not args.json:
            progress("live status and alerts (Ctrl-C to stop)")
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
