"""`dbch witness`: what the simulated radios actually put on the air (the bench's spectrum
analyser), read from the air log independently of anything an agent reports."""

from __future__ import annotations

import argparse
import datetime as dt

from dbch.cli.printing import print_json, print_table
from dbch.errors import SimError
from dbch.gbcs import channel_plan as plan
from dbch.sim.air import read_air_log
from dbch.sim.bench import Bench


def do_witness(args: argparse.Namespace) -> int:
    bench = Bench()
    records = read_air_log(bench.folder.air_log, args.sim)
    if args.sim and not records and not bench.is_running(args.sim):
        known = ", ".join(b.id for b in bench.boards()) or "none running"
        raise SimError(f"no simulated board {args.sim!r} on this bench ({known})")
    if args.last is not None:
        records = records[-args.last :]
    if args.json:
        print_json(records)
        return 0
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
    print_table(["TIME", "BOARD", "CHIP", "MHZ", "DBM", "US", "BYTES", "MOD", "NOTE"], rows)
    return 0
