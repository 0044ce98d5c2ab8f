"""`make bench` (`dbch bench`): figures measured side by side in one run, as ratios against
baselines.

Each figure is a median over repeated samples taken in the same run, interleaved so that
machine load affects both sides of a ratio alike. One module per section; `run` takes
them in order on a private simulated bench. docs/performance.md explains every figure.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dbch.perf.common import Results

SECTIONS = (
    "firmware",
    "twin",
    "boards",
    "link",
    "frames",
    "apply",
    "gate",
    "memory",
    "fleet",
    "labgrid",
)


def run(
    reps: int = 3,
    n: int = 500,
    cli_n: int = 5,
    only: set[str] | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> Results:
    from dbch.boards.deploy import deploy
    from dbch.perf import apply, firmware, fleet, link, memory, twin
    from dbch.perf.common import Results
    from dbch.sim.bench import Bench

    res = Results()
    only = only or set(SECTIONS)
    with tempfile.TemporaryDirectory(prefix="dbch-bench-") as home:
        os.environ["DBCH_KEYS"] = str(Path(home) / "keys")  # keys of the bench's own boards
        bench = Bench(home)
        try:
            if "firmware" in only:
                progress("firmware: the NUCLEO-WL55 image's budgets, from its build")
                firmware.bench_firmware(res)
            if "twin" in only:
                progress("twin: the NUCLEO-WL55 on its 32-bit QEMU twin (heap, apply, link, gate)")
                twin.bench_twin(bench, res)
            if "boards" in only:
                progress("boards: the roomy boards' agent files, and heap on 32-bit twins")
                twin.bench_roomy_boards(bench, res)
            if only & {"link", "apply", "frames", "gate"}:
                (hub_board, floor_board) = bench.start(board=link.LINK_BOARD, count=2, erase=True)
                deploy(hub_board.port, link.LINK_BOARD)
                if "link" in only:
                    progress("link: agent vs raw REPL vs mpremote CLI vs floor")
                    link._bench_link_boards(hub_board, floor_board, reps, n, cli_n, res)
                floor_board.stop()
                hub_board.reset()  # the raw REPL measurements left it at the REPL
                if "frames" in only:
                    apply.bench_frame_size(hub_board, res)
                if only & {"apply", "gate"}:
                    progress("apply: end to end and its parts; the transmit gate")
                    apply.bench_apply(hub_board, max(20, n // 10), res)
                    apply.gate_figures(res.gate, res)
                hub_board.stop()
            if "memory" in only:
                progress("memory: peak heap and least heap, .mpy and .py; boot time")
                memory.bench_memory(bench, res, boot_n=5)
            if "fleet" in only:
                progress("fleet: 1, 8 and 32 simulated boards checked at once")
                fleet.bench_fleet(bench, max(3, reps + 2), res)
            if "labgrid" in only:
                progress("labgrid: 8 boards checked through places and ser2net vs local ports")
                from dbch.perf import labgrid

                labgrid.bench_labgrid(bench, max(5, reps * 3), res)
        finally:
            bench.stop()
    return res
