"""The NUCLEO-WL55 image's budgets, read from its build (built or taken from the cache)."""

from __future__ import annotations

from dbch.boards.definitions import get_board
from dbch.boards.firmware import build_board_image
from dbch.perf.common import Figure, Results


def bench_firmware(res: Results, board: str = "NUCLEO_WL55") -> None:
    r = build_board_image(board)
    target = get_board(board).code_spare_min  # the board definition's budget
    res.add(
        Figure(
            "wl55_code_spare",
            r.spare,
            "B",
            f"code flash left below the filesystem (text + data {r.code:,} of {r.code_limit:,})",
            f">= {target}",
            r.spare >= target,
        )
    )
    res.add(Figure("wl55_text_data", r.code, "B", "the WL55 image's text + data"))
    res.add(Figure("wl55_frozen_agent", r.frozen, "B", "the frozen agent and drivers"))
    res.add(Figure("wl55_fs", r.fs_bytes, "B", "the littlefs filesystem (linker map)"))
    res.add(Figure("wl55_gc_heap", r.heap, "B", "the GC heap (_heap_start.._heap_end)"))
