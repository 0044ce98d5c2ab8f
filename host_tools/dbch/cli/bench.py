"""`dbch bench` (what `make bench` runs): the figures of dbch.perf, printed and written."""

from __future__ import annotations

import argparse
import json

from dbch import perf
from dbch.cli.printing import progress
from dbch.perf.common import format_results, update_doc


def do_bench(args: argparse.Namespace) -> int:
    res = perf.run(args.reps, args.n, args.cli_n, set(args.only or ()) or None, progress)
    try:  # the last run's figures, for the spread between runs
        res.previous = json.loads(args.out.read_text()).get("figures", {})
    except (OSError, ValueError, AttributeError):
        res.previous = {}
    print(format_results(res))
    if args.doc and not args.only:
        update_doc(args.doc, res)
        print(f"table written into {args.doc}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res.as_dict(), indent=2))
    print(f"\nwritten to {args.out}")
    return 0
