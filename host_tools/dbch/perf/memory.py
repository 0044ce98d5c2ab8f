"""The agent's heap on the 64-bit unix twin: peak, the least heap that still works, boot
time, from .mpy and from .py (the 32-bit figures are measured on the QEMU twin: perf/twin)."""

from __future__ import annotations

import time
from typing import Any

from dbch.boards.deploy import deploy
from dbch.errors import DbchError
from dbch.link.client import AgentClient
from dbch.perf.apply import _two_records
from dbch.perf.common import Figure, Results, _median_ms
from dbch.sim.bench import Bench

# --- agent memory and boot time ---------------------------------------------------------
MEMORY_BOARD = "NUCLEO_WL55"
BUDGET_KB = 64  # the smallest board's heap budget (issue: resource limits)


def _exercise(port: str) -> dict[str, Any]:
    """Boot is done; apply, status, scan, status: returns the last status."""
    records = _two_records()
    with AgentClient(port, on_console=None, timeout=5.0) as hub:
        hub.wait_ready()
        hub.apply_config(records[0])
        hub.status()
        hub.scan()
        time.sleep(1.1)  # the heap sampler runs once a second
        return hub.status()


def works_with_heap(bench: Bench, board_id: str, heap_kb: int, twin: str = "unix") -> bool:
    """Whether the memory board's twin boots, applies, scans and answers with this heap."""
    (b,) = bench.start(board=MEMORY_BOARD, ids=[board_id], heap_kb=heap_kb, twin=twin)
    try:
        st = _exercise(b.port)
        return st["radio"]["state"] == "ready" and st["config"] is not None
    except DbchError:
        return False
    finally:
        b.stop()


def least_heap_kb(
    bench: Bench, board_id: str, lo: int, hi: int, step: int, twin: str = "unix", confirm: int = 3
) -> int:
    """The least heap (KB, within `step`) that boots, applies, scans and answers: `lo` is
    taken to fail and `hi` to work. Near the limit a heap works or fails with where the
    garbage collector happens to run, so one success at a size proves little (the figure
    moved 31-36 KB between runs): the size found by bisection must then work `confirm`
    times in a row, and the search steps up by `step` until one does."""
    while hi - lo > step:
        mid = (lo + hi) // 2
        if works_with_heap(bench, board_id, mid, twin):
            hi = mid
        else:
            lo = mid
    while not all(works_with_heap(bench, board_id, hi, twin) for _ in range(confirm)):
        hi += step
    return hi


def bench_memory(bench: Bench, res: Results, boot_n: int) -> None:
    peak: dict[str, int] = {}
    boot: dict[str, float] = {}
    least: dict[str, int] = {}
    rom = bench.rom_heap_bytes(MEMORY_BOARD, twin="unix")  # status counts it; not the agent's
    res.samples["sim_rom_bytes"] = rom
    for form in ("mpy", "py"):
        board_id = f"mem-{form}"
        # Measured with room to spare (256 KB) so both forms run; then the least heap that
        # still boots, applies, scans and answers status, by bisection.
        (b,) = bench.start(
            board=MEMORY_BOARD, ids=[board_id], erase=True, heap_kb=256, twin="unix"
        )
        try:
            deploy(b.port, MEMORY_BOARD, form=form)
            peak[form] = _exercise(b.port)["heap"]["used_max"] - rom
            times = []
            with AgentClient(b.port, on_console=None) as hub:
                for _ in range(boot_n):
                    t0 = time.perf_counter()
                    b.reset()
                    hub.wait_ready()
                    times.append(time.perf_counter() - t0)
            boot[form] = _median_ms(times)
        finally:
            b.stop()
        least[form] = least_heap_kb(bench, board_id, 24, 256, 4)
    res.samples.update({"boot_mpy": boot["mpy"], "boot_py": boot["py"]})
    for form in ("mpy", "py"):
        res.add(
            Figure(
                f"agent_peak_heap_{form}_bytes",
                peak[form],
                "B",
                f"agent's live heap peak through boot, apply, scan, status from .{form} "
                f"({MEMORY_BOARD} unix twin, 64-bit VM, ROM share taken off)",
                f"<= {BUDGET_KB * 1024}",
                peak[form] <= BUDGET_KB * 1024,
            )
        )
        res.add(
            Figure(
                f"agent_min_heap_{form}_kb",
                least[form],
                "KB",
                f"least heap that boots, applies, scans, answers 3 times in a row (.{form}, "
                "within 4 KB)",
                f"<= {BUDGET_KB}",
                least[form] <= BUDGET_KB,
            )
        )
    res.add(
        Figure(
            "boot_mpy_over_py",
            boot["mpy"] / boot["py"],
            "x",
            "reset to agent ready, from .mpy vs from .py",
            "< 1",
            boot["mpy"] < boot["py"],
        )
    )
