"""Commands that configure and exercise one agent: apply, config, channel, scan,
channel-log, traffic, test-tx, events (live), logs (the event log on flash)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from dbch.checks.configure import prepare, prepare_table, send
from dbch.cli.printing import print_json, print_json_line, print_table, progress, utc_now
from dbch.errors import DbchError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.alerts import alert_name, describe_event
from dbch.gbcs.compare import describe
from dbch.gbcs.subghz_config import FIELDS
from dbch.gbcs.tables import choose_configuration
from dbch.link.client import AgentClient
from dbch.link.ports import resolve_port
from dbch.link.spec import CLOCK_SET_FROM_YEAR, board_time_utc
from dbch.output import key_values


def do_apply(args: argparse.Namespace) -> int:
    chosen = choose_configuration(args.table, args.region, args.duis)
    table, region = chosen.table, chosen.region
    if args.duis:  # checked before any port is opened
        prepared = prepare(chosen.config, table.regulatory, "duis", region)
    else:
        prepared = prepare_table(table, region)  # type: ignore[arg-type]
    with AgentClient(resolve_port(args.port)) as hub:
        applied = send(hub, prepared)
    result, expected, ok = applied.reply, applied.expected_hash, applied.ok
    radio = result.get("radio", {})
    if args.json:
        print_json({**result, "expected_hash": expected, "ok": ok})
    else:
        ch = result.get("channel") or {}
        what = (
            f"DUIS request {args.duis} (limits of {table.id})"
            if args.duis
            else f"{table.id} {region}"
        )
        print(f"applied {what}: hash {result.get('hash')}")
        if ch:
            print(
                f"channel: page {ch['page']} channel {ch['channel']} "
                f"({plan.mhz(ch['freq_hz'])} MHz)"
            )
        print(
            f"radio: {radio.get('state')}"
            + (f" ({radio['reason']})" if radio.get("reason") else "")
        )
    if result.get("hash") != expected:
        print(f"dbch: the agent's hash {result.get('hash')} is not {expected}", file=sys.stderr)
    return 0 if ok else 1


def do_config(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        cfg = hub.get_config()
    if args.json:
        print_json(cfg)
        return 0
    if not cfg.get("configured"):
        print("not configured" + (f": {cfg['problem']}" if cfg.get("problem") else ""))
        return 1
    print(
        key_values(
            [("table", cfg.get("table")), ("region", cfg.get("region")), ("hash", cfg["hash"])]
        )
    )
    print()
    fields = cfg["fields"]  # in GBCS order, whatever order the reply's map came in
    print_table(["FIELD", "VALUE"], [(f.key, describe(f.key, fields.get(f.key))) for f in FIELDS])
    return 0


def do_channel(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        ch = hub.get_channel()
    if args.json:
        print_json(ch)
    else:
        print(
            f"page {ch['page']} channel {ch['channel']} ({plan.mhz(ch['freq_hz'])} MHz), "
            f"operating channel word 0x{ch['word']:08X}"
        )
    return 0


def do_scan(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        res = hub.scan()
    if args.json:
        print_json(res)
        return 0
    print_table(
        ["PAGE", "CH", "MHZ", "ENERGY DBM"],
        [(p, c, plan.mhz(plan.centre_hz(p, c)), e / 10) for p, c, e in res["energy"]],
    )
    ch = res["channel"]
    print(
        f"\noutcome: {res['outcome']}; operating channel page {ch['page']} channel "
        f"{ch['channel']} ({plan.mhz(ch['freq_hz'])} MHz)"
    )
    return 0


def _iso(t: Any, epoch_year: int) -> str | None:
    """The board's wall time (from its port's epoch, hello) as ISO 8601 UTC, or None (a
    board whose clock was never set counts from its epoch after every reset)."""
    when = board_time_utc(t, epoch_year)
    if when is None or when.year < CLOCK_SET_FROM_YEAR:
        return None
    return when.isoformat(timespec="seconds")


def _when(t: Any, epoch_year: int) -> str:
    when = board_time_utc(t, epoch_year)
    return str(t) if when is None else when.strftime("%Y-%m-%d %H:%M:%S")


def do_channel_log(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        epoch = hub.hello().epoch_year
        entries = hub.channel_log()
    if args.json:
        print_json(
            [
                {"t": t, "utc": _iso(t, epoch), "old": [op, oc], "new": [np_, nc], "reason": why}
                for t, op, oc, np_, nc, why in entries
            ]
        )
        return 0
    print_table(
        ["TIME (UTC)", "OLD", "NEW", "MHZ", "REASON"],
        [
            (
                _when(t, epoch),
                f"p{op}/ch{oc}" if op else "-",
                f"p{np_}/ch{nc}",
                plan.mhz(plan.centre_hz(np_, nc)),
                why,
            )
            for t, op, oc, np_, nc, why in entries
        ],
    )
    return 0


def do_traffic(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        hub.traffic(args.frames, args.size, args.interval_ms)
        if args.no_wait:
            print(f"traffic started: {args.frames} frames")
            return 0
        done = None
        while done is None:
            ev = hub.wait_event(None, timeout=30.0)
            if ev is None:
                if hub.status().get("traffic") is None:
                    raise DbchError("traffic ended without its report (agent reset?)")
                continue
            if ev.get("ev") == "traffic_progress":
                progress(f"{ev['done']}/{ev['frames']} frames")
            elif ev.get("ev") == "traffic_done":
                done = ev
    result = {"sent": done["sent"], "refused": done["refused"], "frames": done["frames"]}
    if args.json:
        print_json(result)
    else:
        refused = ", ".join(f"{k} {v}" for k, v in sorted(done["refused"].items())) or "none"
        print(f"sent {done['sent']} of {done['frames']}; refused: {refused}")
    return 0


def do_test_tx(args: argparse.Namespace) -> int:
    freq = args.freq  # parsed by cli/args.py
    with AgentClient(resolve_port(args.port)) as hub:
        res = hub.test_tx(freq, args.size)
    if args.json:
        print_json({"freq_hz": freq, **res})
        return 0 if res["sent"] else 1
    if res["sent"]:
        print(f"sent one frame at {plan.mhz(freq)} MHz")
        return 0
    print(f"refused at {freq / 1e6:.6f} MHz: {res['refused']}")
    return 1


def do_events(args: argparse.Namespace) -> int:
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    with AgentClient(resolve_port(args.port)) as hub:
        epoch = hub.hello().epoch_year
        progress("following alerts and events (Ctrl-C to stop)")
        while deadline is None or time.monotonic() < deadline:
            left = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            ev = hub.wait_event(None, timeout=min(1.0, left))
            if ev is not None:
                if args.json:  # JSON Lines, each stamped with the host's UTC time
                    print_json_line({"utc": utc_now(), **ev})
                else:
                    print(f"{_when(ev.get('t'), epoch)}  {describe_event(ev)}", flush=True)
    return 0


def do_logs(args: argparse.Namespace) -> int:
    with AgentClient(resolve_port(args.port)) as hub:
        epoch = hub.hello().epoch_year
        entries = hub.all_events()
        if args.clear:
            hub.events_clear()
    records = [
        {
            "seq": s,
            "t": t,
            "utc": _iso(t, epoch),
            "kind": k,
            "name": alert_name(k) if isinstance(k, int) else k,
            "fields": f,
        }
        for s, t, k, f in entries
    ]
    if args.json:
        print_json(records)
    else:
        for r in records:
            ev = {
                "ev": "alert" if isinstance(r["kind"], int) else r["kind"],
                **({"code": r["kind"]} if isinstance(r["kind"], int) else {}),
                **(r["fields"] or {}),
            }
            print(f"{r['seq']:5}  {_when(r['t'], epoch)}  {describe_event(ev)}")
        if args.clear:
            progress(f"log cleared ({len(records)} entries downloaded)")
    return 0
