"""`make bench`: figures measured side by side in one run, as ratios against baselines.

Each figure is a median over repeated samples taken in the same run, interleaved so that
machine load affects both sides of a ratio alike. The table is printed and written to
build/bench.json. docs/performance.md explains every figure and how to reproduce it.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpremote.transport_serial import SerialTransport

from . import paths
from .client import AgentClient
from .deploy import deploy
from .protocol import encode_request
from .sim.bench import Bench, SimBoard
from .transport import Transport

BENCH_BOARD = "NUCLEO_WL55"

# The floor: the least a MicroPython program can do per round trip on the same kind of
# port: read one line, write back as many bytes as the agent's status reply.
FLOOR_MAIN = """\
import sys
r = sys.stdin.buffer.readline
w = sys.stdout.buffer.write
reply = b'x' * ({size} - 1) + b'\\n'
while True:
    r()
    w(reply)
"""

# The same status query run in the raw REPL: the agent's own status function on an
# agent object that is set up once (as a script holding a raw REPL session would).
RAW_SETUP = (
    "from dbchagent import app, cmd_system\n"
    "class _Null:\n    def write(self, d): pass\n"
    "_a = app.Agent(console=_Null())\ncmd_system.install(_a)\n"
)
RAW_QUERY = "print(repr(cmd_system.status(_a, {})))"


@dataclass
class Figure:
    key: str
    value: float
    unit: str
    what: str
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    samples: dict[str, float] = field(default_factory=dict)

    def add(self, fig: Figure) -> None:
        self.figures.append(fig)

    def as_dict(self) -> dict[str, Any]:
        return {
            "figures": {f.key: f.value for f in self.figures},
            "details": [vars(f) for f in self.figures],
            "medians_ms": self.samples,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        }


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _write_main(port: str, source: str) -> None:
    t = SerialTransport(port)
    try:
        t.enter_raw_repl(soft_reset=False)
        t.fs_writefile("/main.py", source.encode())
        t.exec_raw_no_follow("import machine\nmachine.reset()")
    finally:
        t.close()


def bench_link(bench: Bench, reps: int, n: int, cli_n: int, res: Results) -> None:
    agent_board, floor_board = bench.start(board=BENCH_BOARD, count=2, erase=True)
    try:
        _bench_link_boards(agent_board, floor_board, reps, n, cli_n, res)
    finally:
        agent_board.stop()
        floor_board.stop()


def _bench_link_boards(
    agent_board: SimBoard, floor_board: SimBoard, reps: int, n: int, cli_n: int, res: Results
) -> None:
    deploy(agent_board.port, BENCH_BOARD)
    request = encode_request(1, "status")
    with AgentClient(agent_board.port, on_console=None) as hub:
        hub.status()
        reply_len = len(hub.link.last_reply_line)
    old_vm = floor_board.vm_pid
    _write_main(floor_board.port, FLOOR_MAIN.format(size=reply_len))
    floor_board.wait_for_vm(old_vm)
    time.sleep(0.5)

    link_s: list[float] = []
    raw_s: list[float] = []
    floor_s: list[float] = []
    cli_s: list[float] = []
    for _ in range(reps):
        # (1) the agent link, a persistent connection as a script would hold it
        agent_board.reset()
        with AgentClient(agent_board.port, on_console=None) as hub:
            hub.wait_ready()
            _time(hub.status, 20)
            link_s += _time(hub.status, n)
        # (c) the floor: the same request line, a reply of the same length
        with Transport(floor_board.port) as t:
            t.discard_input()

            def floor_once(t: Transport = t) -> None:
                t.write(request)
                if t.read_line(2.0) is None:
                    raise RuntimeError("floor program did not answer")

            _time(floor_once, 20)
            floor_s += _time(floor_once, n)
        # (a) mpremote's raw REPL in-process: enter once, then exec repeatedly
        t = SerialTransport(agent_board.port)
        try:
            t.enter_raw_repl(soft_reset=False)
            t.exec(RAW_SETUP)

            def raw_once(t: SerialTransport = t) -> None:
                ast.literal_eval(t.exec(RAW_QUERY).decode())

            _time(raw_once, 5)
            raw_s += _time(raw_once, max(20, n // 10))
        finally:
            t.close()
        # (b) the mpremote command, as shell scripts use it
        cmd = [
            str(Path(sys.executable).parent / "mpremote"),
            "connect",
            agent_board.port,
            "resume",
            "exec",
            RAW_SETUP + RAW_QUERY,
        ]
        for _ in range(cli_n):
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, check=True)
            cli_s.append(time.perf_counter() - t0)
            ast.literal_eval(out.stdout.decode())

    link, raw, cli, floor = map(_median_ms, (link_s, raw_s, cli_s, floor_s))
    res.samples.update(
        {"status_link": link, "status_raw_repl": raw, "status_mpremote_cli": cli, "floor": floor}
    )
    res.add(
        Figure(
            "link_speedup_vs_raw_repl",
            raw / link,
            "x",
            "status via agent link vs mpremote raw REPL in-process",
            ">= 5",
            raw / link >= 5,
        )
    )
    res.add(
        Figure(
            "link_speedup_vs_mpremote_cli",
            cli / link,
            "x",
            "status via agent link vs `mpremote resume exec`",
            ">= 100",
            cli / link >= 100,
        )
    )
    res.add(
        Figure(
            "link_ratio_to_floor",
            link / floor,
            "x",
            "status via agent link vs echo floor (same pty, same reply size)",
            "<= 3",
            link / floor <= 3,
        )
    )


def print_results(res: Results) -> None:
    print(f"{'figure':34} {'value':>10}  {'target':8} {'met':4} what")
    for f in res.figures:
        met = "" if f.met is None else ("yes" if f.met else "NO")
        print(f"{f.key:34} {f.value:10.2f}{f.unit:1} {f.target:8} {met:4} {f.what}")
    print()
    print("medians (ms): " + ", ".join(f"{k} {v:.3f}" for k, v in res.samples.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dbch.benchmarks", description=__doc__)
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    ap.add_argument("-n", type=int, default=500, help="round trips per repetition")
    ap.add_argument("--cli-n", type=int, default=5, help="mpremote commands per repetition")
    ap.add_argument("--out", type=Path, default=paths.build_dir() / "bench.json")
    args = ap.parse_args(argv)
    res = Results()
    with tempfile.TemporaryDirectory(prefix="dbch-bench-") as home:
        bench = Bench(home)
        try:
            bench_link(bench, args.reps, args.n, args.cli_n, res)
        finally:
            bench.stop()
    print_results(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res.as_dict(), indent=2))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
