"""`dbch witness`: what the simulated radios actually put on the air (the bench's spectrum
analyser), read from the air log independently of anything an agent reports."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import Any

from dbch.cli.printing import print_json_line, print_table, progress
from dbch.errors import SimError
from dbch.gbcs import channel_plan as plan
from dbch.sim.air import read_air_log_from
from dbch.sim.bench import Bench


def do_witness(args: argparse.Namespace) -> int:
    bench = Bench()
    records, offset = read_air_log_from(bench.folder.air_log, 0, args.sim)
    if args.sim and not records and not bench.is_running(args.sim):
        known = ", ".join(b.id for b in bench.boards()) or "none running"
        raise SimError(f"no simulated board {args.sim!r} on this bench ({known})")
    if args.last is not None:
        records = records[-args.last :] if args.last else []
    _show(records, args.json, header=True)
    if args.follow:  # (on stderr: from here on every new emission is shown)
        progress("following the air (Ctrl-C to stop)")
    while args.follow:  # a stream: new emissions as the air log grows, until Ctrl-C
        time.sleep(FOLLOW_POLL_S)
        records, offset = read_air_log_from(bench.folder.air_log, offset, args.sim)
        _show(records, args.json, header=False)
    return 0


FOLLOW_POLL_S = 0.2


def _show(records: list[dict[str, Any]], as_json: bool, header: bool) -> None:
    """JSON Lines (each record with its UTC time), or table rows."""
    if as_json:
        for r in records:
            utc = dt.datetime.fromtimestamp(r["t"], dt.UTC).isoformat(timespec="milliseconds")
            print_json_line({"utc": utc, **r})
        return
    rows = []
    for r in records:
        when = dt.datetime.fromtimestamp(r["t"]).strftime("%H:%M:%S.%f")[:-3]
        flag = "" if r.get("emitted") else f"REFUSED: {r.get('violation')}"
        if r.get("emitted") and plan.in_masked_band(r["freq_hz"], plan.OCCUPIED_HALF_BW_HZ):
            flag = "IN 915-921 MHz"
        rows.append(
            (
                when,
                r["board"],
                r.get("chip"),
                f"{r['freq_hz'] / 1e6:.6f}",
                r.get("power_dbm"),
                r["duration_us"],
                len(r.get("bytes", "")) // 2,
                r.get("modulation"),
                flag,
            )
        )
    if header:
        print_table(["TIME", "BOARD", "CHIP", "MHZ", "DBM", "US", "BYTES", "MOD", "NOTE"], rows)
    else:  # followed: a line per emission as it comes
        for row in rows:
            print("  ".join("" if v is None else str(v) for v in row).rstrip())
    sys.stdout.flush()
