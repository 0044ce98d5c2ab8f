"""Labgrid figures: a fleet check of 8 boards through labgrid places and ser2net against the
same 8 boards on their local ports, side by side in one run.

Steady state: places acquired and connections open before timing, so the ratio is what the
distributed path (RFC 2217 through an exporter's ser2net over TCP) costs per check. The
one-off cost (acquiring the places through the coordinator, opening the connections) is
reported beside it.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dbch.boards.deploy import deploy
from dbch.checks.fleet import run_each
from dbch.checks.targets import Target
from dbch.checks.views import check_client
from dbch.gbcs.tables import get_table
from dbch.lg.exporter import from_sim
from dbch.lg.loopback import LoopbackLab
from dbch.lg.places import Places
from dbch.link.client import AgentClient
from dbch.perf.common import Figure, Results, _median_ms
from dbch.sim.bench import Bench

BOARD = "PICO_WAVESHARE_SX1262"
COUNT = 8


def bench_labgrid(bench: Bench, reps: int, res: Results) -> None:
    boards = bench.start(board=BOARD, count=COUNT, erase=True)
    table = get_table("sec-2018-03-r1")
    record = table.record("north")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda b: deploy(b.port, BOARD), boards))
    for b in boards:
        with AgentClient(b.port, on_console=None) as hub:
            hub.apply_config(record, table.id, "north")

    with tempfile.TemporaryDirectory(prefix="dbch-bench-lab-") as work:
        lab = LoopbackLab(Path(work)).start()
        places = Places(address=lab.address)
        try:
            half = COUNT // 2
            for i, host in enumerate(("bench1", "bench2")):
                lab.start_exporter(host, from_sim(boards[i * half : (i + 1) * half], "north"))
                lab.create_places(host)
            t0 = time.perf_counter()
            held = places.hold_many([b.id for b in boards])
            urls = [held[b.id].url for b in boards]  # type: ignore[union-attr]
            t1 = time.perf_counter()
            opened = _open_all(urls)
            t2 = time.perf_counter()
            _close_all(opened)
            walls = _interleaved(table, [b.port for b in boards], urls, reps)
        finally:
            places.close()
            lab.close()

    res.samples["labgrid_acquire8"] = (t1 - t0) * 1000
    res.samples["labgrid_open8"] = (t2 - t1) * 1000
    med = {k: _median_ms(v) for k, v in walls.items()}
    res.samples["fleet8_local_steady"] = med["local"]
    res.samples["fleet8_labgrid_steady"] = med["labgrid"]
    ratio = med["labgrid"] / med["local"]
    res.add(
        Figure(
            "fleet8_labgrid_over_local",
            ratio,
            "x",
            f"check of {COUNT} boards through labgrid places (RFC 2217 via 2 exporters' "
            f"ser2net) vs their local ports, connections open "
            f"({med['labgrid']:.1f} vs {med['local']:.1f} ms)",
            "< 1.5",
            ratio < 1.5,
        )
    )
    res.add(
        Figure(
            "labgrid_setup8_ms",
            (t2 - t0) * 1000,
            "ms",
            f"one-off: acquiring {COUNT} places together ({(t1 - t0) * 1000:.0f} ms) and "
            f"opening their RFC 2217 connections at once ({(t2 - t1) * 1000:.0f} ms)",
        )
    )


def _open_all(urls: list[str]) -> list[AgentClient]:
    """Open every connection at once, as a fleet's jobs do, and make a first exchange."""

    def one(url: str) -> AgentClient:
        hub = AgentClient(url, on_console=None)
        hub.status()
        return hub

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        return list(pool.map(one, urls))


def _close_all(hubs: list[AgentClient]) -> None:
    for h in hubs:
        h.close()


def _interleaved(
    table: Any, local: list[str], remote: list[str], reps: int
) -> dict[str, list[float]]:
    """Both paths, alternating, `reps` times each: the same machine load for both. A board's
    pty is read by one side at a time (ser2net holds it while its client is connected), so
    each turn opens its connections first, untimed: the timing is the steady state."""

    def run(urls: list[str]) -> float:
        hubs = _open_all(urls)
        try:
            targets = [Target(str(i), u) for i, u in enumerate(urls)]

            def check_one(t: Target) -> tuple[str, str, Any]:
                rep = check_client(hubs[int(t.name)], table, "north", None, t.name)
                return rep.result, "", rep

            t0 = time.perf_counter()
            out = run_each(targets, check_one, jobs=len(hubs))
            wall = time.perf_counter() - t0
        finally:
            _close_all(hubs)
        bad = [(o.target.port, o.result, o.detail) for o in out if o.result != "pass"]
        if bad:
            raise RuntimeError(f"labgrid bench: boards did not pass: {bad}")
        return wall

    run(local), run(remote)  # warm
    walls: dict[str, list[float]] = {"local": [], "labgrid": []}
    for _ in range(reps):
        walls["local"].append(run(local))
        walls["labgrid"].append(run(remote))
    return walls
