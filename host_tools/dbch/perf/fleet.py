"""Fleet figures: 1, 8 and 32 simulated boards checked at once."""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dbch.boards.deploy import deploy
from dbch.checks.fleet import run_each
from dbch.checks.targets import Target
from dbch.checks.views import check_target
from dbch.gbcs.tables import HOUR_S, get_table
from dbch.link.client import AgentClient
from dbch.perf.common import Figure, Results, _median_ms
from dbch.sim.bench import Bench, SimBoard
from dbch.sim.targets import sim_target

# --- fleet --------------------------------------------------------------------------------
FLEET_BOARD = "PICO_WAVESHARE_SX1262"


def bench_fleet(bench: Bench, reps: int, res: Results, sizes: tuple[int, ...] = (1, 8, 32)):
    boards = bench.start(board=FLEET_BOARD, count=max(sizes), erase=True)
    table = get_table("sec-2018-03-r1")
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda b: deploy(b.port, FLEET_BOARD), boards))
    targets = [sim_target(b) for b in boards]
    record = table.record("north")

    def apply_one(t: Target) -> tuple[str, str, Any]:
        with AgentClient(t.port, on_console=None) as hub:
            hub.apply_config(record)
        return "pass", "", None

    def check_one(t: Target) -> tuple[str, str, Any]:
        rep = check_target(t, table, "north", HOUR_S)
        return rep.result, "", rep

    run_each(targets, apply_one)
    walls: dict[int, list[float]] = {n: [] for n in sizes}
    one = min(sizes)
    cpu_one: list[float] = []  # CPU seconds (host, supervisors, VMs) per check of `one`
    for _ in range(reps):
        for n in sizes:
            cpu0 = _cpu_s(boards[:n])
            t0 = time.perf_counter()
            out = run_each(targets[:n], check_one, jobs=32)
            walls[n].append(time.perf_counter() - t0)
            if n == one:
                cpu_one.append((_cpu_s(boards[:n]) - cpu0) / n)
            bad = [
                (o.target.name, [r.check for r in o.data.failures])
                for o in out
                if o.result != "pass"
            ]
            if bad:
                raise RuntimeError(f"fleet bench: boards did not pass: {bad}")
    med = {n: _median_ms(v) for n, v in walls.items()}
    res.samples.update({f"fleet{n}": med[n] for n in sizes})
    big = max(sizes)
    cores = os.cpu_count() or 1
    cpu = statistics.median(cpu_one)
    res.samples["fleet_check_cpu_ms"] = cpu * 1000
    # A simulated board's check does no waiting: the host, the relay and the VM take turns
    # on the CPU. So `big` checks cannot finish before big * cpu / cores, whatever the tool
    # does; how close the fleet runner gets to that bound is the figure it controls.
    bound_ms = big * cpu * 1000 / min(cores, big)
    res.add(
        Figure(
            f"fleet{big}_over_cpu_bound",
            med[big] / bound_ms,
            "x",
            f"wall time for {big} boards vs their CPU time spread over {cores} cores "
            f"({cpu * 1000:.2f} ms CPU per check)",
        )
    )
    res.add(
        Figure(
            f"fleet{big}_over_fleet{one}",
            med[big] / med[one],
            "x",
            f"wall time to check {big} simulated boards at once vs {one} ({os.cpu_count()} cores)",
            "<= 4",
            med[big] / med[one] <= 4,
        )
    )
    res.add(
        Figure(
            f"fleet8_over_fleet{one}",
            med[8] / med[one],
            "x",
            f"wall time to check 8 boards at once vs {one}",
        )
    )
    for b in boards:  # idle boards still cost CPU: the sections after this one run without
        b.stop()


def _cpu_s(boards: list[SimBoard]) -> float:
    """CPU seconds used so far by this process and the boards' supervisors and VMs."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for b in boards:
        for pid in (b.pid, b.vm_pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, TypeError, IndexError):
                continue  # no /proc (not Linux) or the process is gone: counted as 0
            total += (int(fields[11]) + int(fields[12])) / tick
    return total
