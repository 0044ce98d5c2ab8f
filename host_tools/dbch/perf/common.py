"""What every benchmark section shares: figures, results, timing, the table."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Programs run in a board's raw REPL with its agent stopped start with these: the agent's
# own hub (its configuration from flash, its commands) on a console that writes nowhere,
# and t(fn, n), microseconds per call by the board's ticks_us (REPL_TIMER_INT on a build
# without floats).
REPL_HUB = (
    "import dbch_board\n"
    "from dbchagent import cmd_system\n"
    "from dbchagent.hub import Hub\n"
    "class _Con:\n    max_request = 1024\n    def send(self, f):\n        pass\n"
    "hub = Hub(dbch_board, console=_Con())\n"
    "cmd_system.install(hub)\n"
)
REPL_TIMER = (
    "import time, gc\n"
    "def t(fn, n):\n"
    "    fn()\n"
    "    gc.collect()\n"
    "    t0 = time.ticks_us()\n"
    "    for _ in range(n):\n"
    "        fn()\n"
    "    return time.ticks_diff(time.ticks_us(), t0) / n\n"
)
REPL_TIMER_INT = REPL_TIMER.replace(") / n", ") // n")


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
    breakdown: dict[str, float] = field(default_factory=dict)
    gate: dict[str, float] = field(default_factory=dict)
    parts: dict[str, dict[str, float]] = field(default_factory=dict)  # title -> step -> value
    previous: dict[str, float] = field(default_factory=dict)  # the last run's figures

    def add(self, fig: Figure) -> None:
        self.figures.append(fig)

    def as_dict(self) -> dict[str, Any]:
        return {
            "figures": {f.key: f.value for f in self.figures},
            "details": [vars(f) for f in self.figures],
            "medians_ms": self.samples,
            "apply_breakdown_ms": self.breakdown,
            "parts": self.parts,
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


# The twin's figures, its instruction rate pinned, move less than this between two runs
SPREAD_TARGET_PCT = 5


def format_results(res: Results) -> str:
    lines = [f"{'figure':30} {'value':>11}  {'target':>9}  {'met':3}  what"]
    for f in res.figures:
        met = "" if f.met is None else ("yes" if f.met else "NO")
        value = f"{f.value:.0f}" if f.unit in ("B", "KB") else f"{f.value:.3g}"
        lines.append(f"{f.key:30} {value + ' ' + f.unit:>11}  {f.target:>9}  {met:3}  {f.what}")
    if res.breakdown:
        lines.append("\napply, where the time goes (ms, medians):")
        lines += [f"  {k:40} {v:8.3f}" for k, v in res.breakdown.items()]
    for title, steps in res.parts.items():
        lines.append(f"\n{title}:")
        lines += [f"  {k:40} {v:8.0f}" for k, v in steps.items()]
    moved = [
        (f.key, f.value, res.previous[f.key])
        for f in res.figures
        if f.key.startswith("wl55_twin_") and res.previous.get(f.key)
    ]
    if moved:
        lines.append(
            f"\nthe WL55 twin's figures against the last run (spread, target under "
            f"{SPREAD_TARGET_PCT} %):"
        )
        for k, v, old in moved:
            pct = 100 * (v - old) / old
            flag = "" if abs(pct) < SPREAD_TARGET_PCT else "  MOVED"
            lines.append(f"  {k:40} {v:10.4g} (last {old:.4g}, {pct:+.1f} %){flag}")
    lines.append(
        "\nmedians (ms unless named): " + ", ".join(f"{k} {v:.3f}" for k, v in res.samples.items())
    )
    return "\n".join(lines)


def update_doc(doc: Path, res: Results) -> None:
    """Put this run's table into docs/performance.md between its markers."""
    text = doc.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    when = time.strftime("%Y-%m-%d %H:%M")
    body = f"\nLast run: {when}, {os.cpu_count()} cores.\n\n```\n{format_results(res)}\n```\n"
    doc.write_text(head + start + body + end + tail)
