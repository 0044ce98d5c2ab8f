"""The NUCLEO-WL55 on its 32-bit QEMU twin: the board's MicroPython build, its GC heap (from
the linker map), the agent frozen. Peak heap, the least heap that still works, apply end
to end, the status round trip against mpremote's raw REPL on the same twin, and the
transmit gate's cost per frame against the frame's airtime at a pinned instruction rate.
"""

from __future__ import annotations

import ast
import statistics
import time
from collections.abc import Callable
from typing import Any

from mpremote.transport_serial import SerialTransport

from dbch.boards.deploy import FORGET_AGENT, deploy
from dbch.errors import DbchError
from dbch.link.client import AgentClient
from dbch.link.frames import encode_request
from dbch.perf.apply import GATE_PSDU, PARTS_VM, _two_records, gate_parts_us
from dbch.perf.common import (
    REPL_HUB,
    REPL_TIMER,
    REPL_TIMER_INT,
    Figure,
    Results,
    _median_ms,
    _time,
)
from dbch.perf.link import RAW_QUERY, RAW_SETUP
from dbch.perf.memory import _exercise, least_heap_kb
from dbch.sim.bench import Bench, SimBoard

BOARD = "NUCLEO_WL55"
ICOUNT = 5  # QEMU -icount shift: 31.25 MIPS, near the WL55's 48 MHz M4 running MicroPython
PEAK_TARGET = 24 * 1024  # under half the board's heap
LEAST_TARGET_KB = 32


def bench_twin(bench: Bench, res: Results, n: int = 20) -> None:
    rom = bench.rom_heap_bytes(BOARD, twin="qemu")  # the twin's ROM, C on a real board
    (b,) = bench.start(board=BOARD, ids=["twin-least"], erase=True, twin="qemu")
    try:
        deploy(b.port, BOARD)
        st = _exercise(b.port)
        heap_total = st["heap"]["total"]
        peak = st["heap"]["used_max"]
        stack_peak, stack_size = _python_stack_peak(b.port)
    finally:
        b.stop()
    records = _two_records()
    # to 1 KB: a 2 KB step is 7 % of the figure, more than the spread the bench allows
    least = least_heap_kb(bench, "twin-least", 16, heap_total // 1024, 1, twin="qemu")
    # At a fixed instruction rate (QEMU -icount: a 31.25 MIPS CPU, ticks_us its clock) and
    # with the console at its own rate (LPUART1 at 115200 baud, sim/console.py): the status
    # round trip over the link and over mpremote's raw REPL, the bytes each puts on the
    # wire, the gate's cost per frame, and a power cut to the agent answering.
    (g,) = bench.start(board=BOARD, ids=["twin-gate"], erase=True, twin="qemu", icount=ICOUNT)
    try:
        deploy(g.port, BOARD)
        with AgentClient(g.port, on_console=None, timeout=10.0) as hub:
            hub.apply_config(records[0])
            link_status = hub.status()
            # On the board's clock (hello's ticks_ms before and after n applies): its
            # instructions at 31.25 MIPS, and the wire and the host's turns as they pass. The
            # twin is held to real time (-icount align), so the wall clock agrees within a
            # few ms where the host keeps up; the board's clock is the figure.
            apply_s: list[float] = []

            def apply_once() -> None:
                t0 = time.perf_counter()
                hub.apply_config(records[(len(apply_s) + 1) % 2])
                apply_s.append(time.perf_counter() - t0)

            def hello_ticks() -> int | None:
                return hub.hello().ticks_ms

            apply_board_ms = _board_ms_each(hello_ticks, apply_once, n)
            link_s = _time(hub.status, n)
            link_bytes = len(encode_request(1, "status")) + len(hub.link.last_reply_line)
            # statuses on the board's clock: the median of 8 batches of 5
            link_board_ms = _board_ms_median(hello_ticks, hub.status)
        raw_s, raw_bytes, raw_board_ms = _raw_repl_status(g.port, n, link_status)
        boots = [_boot_ready(g) for _ in range(5)]
        boot_s = [w for w, _ in boots]
        boot_board_ms = statistics.median(ms for _, ms in boots)
        t = SerialTransport(g.port)
        try:
            t.enter_raw_repl(soft_reset=False)
            t.exec(FORGET_AGENT)
            # The board's build has no floats: whole microseconds per call
            code = PARTS_VM.replace(REPL_TIMER, REPL_TIMER_INT)
            out, err = t.exec_raw(code % {"record": records[0], "psdu": GATE_PSDU}, 300)
            if err:
                raise DbchError(f"gate measurement on the twin failed: {err.decode()[-300:]}")
            parts = ast.literal_eval(out.decode().strip())
            # where the agent's CPU goes for one status, step by step (the soft reset
            # clears the gate measurement's heap first)
            t.exit_raw_repl()
            t.enter_raw_repl(soft_reset=True)
            t.exec(FORGET_AGENT)
            req = encode_request(1, "status")[1:].rstrip(b"\n")
            out, err = t.exec_raw(STATUS_PARTS % {"req": req}, 300)
            if err:
                raise DbchError(f"status steps on the twin failed: {err.decode()[-300:]}")
            steps, reply_bytes = ast.literal_eval(out.decode().strip())
        finally:
            t.close()
    finally:
        g.stop()
    apply_ms, link_ms, raw_ms, boot_ms = map(_median_ms, (apply_s, link_s, raw_s, boot_s))
    res.samples["twin_status_reply_bytes"] = reply_bytes
    res.parts["the agent's CPU per status at 31.25 MIPS (µs; the console read not included)"] = {
        k: float(v) for k, v in steps.items()
    }
    before_us, last_us, loop_us = gate_parts_us(parts)
    gate = before_us + last_us
    res.samples.update(
        {
            "twin_heap_total": heap_total,
            "twin_rom_bytes": rom,
            "twin_apply_e2e": apply_ms,
            "twin_boot_ready_wall": boot_ms,
            "twin_status_link_icount5": link_ms,
            "twin_status_raw_repl_icount5": raw_ms,
            "twin_status_link_board_ms": link_board_ms,
            "twin_status_raw_repl_board_ms": raw_board_ms,
            "twin_status_link_wire_bytes": link_bytes,
            "twin_status_raw_repl_wire_bytes": raw_bytes,
            "twin_gate_us_icount5": gate,
            "twin_gate_before_us_icount5": before_us,
            "twin_gate_last_us_icount5": last_us,
            "twin_timing_loop_us_icount5": loop_us,
            "twin_gate_lbt_us_icount5": parts["gate_lbt"],
            "twin_airtime_us": parts["airtime"],
        }
    )
    res.add(
        Figure(
            "wl55_twin_agent_peak_heap",
            peak,
            "B",
            f"live heap peak through boot, apply, scan, status on the 32-bit twin "
            f"(heap {heap_total:,} B; {rom:,} B of it the twin's ROM, C on the board)",
            f"<= {PEAK_TARGET}",
            peak <= PEAK_TARGET,
        )
    )
    res.add(
        Figure(
            "wl55_twin_python_stack_peak",
            stack_peak,
            "B",
            f"the most of its Python stack ({stack_size:,} B, the board's linker script) the "
            "agent used through boot, apply, scan, status on the 32-bit twin",
            f"<= {stack_size * 3 // 4}",
            stack_peak <= stack_size * 3 // 4,
        )
    )
    res.add(
        Figure(
            "wl55_twin_least_heap_kb",
            least,
            "KB",
            "least heap that boots, applies, scans, answers 3 times in a row on the 32-bit "
            "twin (within 1 KB)",
            f"<= {LEAST_TARGET_KB}",
            least <= LEAST_TARGET_KB,
        )
    )
    res.add(
        Figure(
            "wl55_twin_apply_e2e_ms",
            apply_board_ms,
            "ms",
            f"a signed apply end to end on the board's clock (ticks_ms at 31.25 MIPS, "
            f"-icount 5; the mean of {n}, the wire and the host's turns included); "
            f"{apply_ms:.0f} ms in wall time (median)",
        )
    )
    res.add(
        Figure(
            "wl55_twin_link_speedup_vs_raw_repl",
            raw_board_ms / link_board_ms,
            "x",
            f"status via the agent link ({link_board_ms:.1f} ms, {link_bytes} B on the wire) "
            f"vs mpremote's raw REPL ({raw_board_ms:.1f} ms, {raw_bytes} B), on the board's "
            "clock (ticks_ms at 31.25 MIPS, -icount 5, the median of 8 batches of 5; the "
            "console at 115200 baud); in wall "
            f"time {link_ms:.1f} vs {raw_ms:.1f} ms, {raw_ms / link_ms:.2f}x",
            ">= 3",
            raw_board_ms / link_board_ms >= 3,
        )
    )
    # At the board's speed, a status takes its request's and reply's wire time plus the
    # agent's CPU, both measured:
    cpu_ms = sum(steps.values()) / 1000
    board_ms = link_bytes / 11.52 + cpu_ms  # 115200 baud: 11.52 bytes a millisecond
    res.add(
        Figure(
            "wl55_link_status_ms_at_board_speed",
            board_ms,
            "ms",
            f"a status over the link at 31.25 MIPS and 115200 baud, from its measured parts: "
            f"{link_bytes} B on the wire ({link_bytes / 11.52:.0f} ms) and the agent's CPU "
            f"({cpu_ms:.0f} ms, the console's byte loop left out)",
        )
    )
    res.add(
        Figure(
            "wl55_twin_boot_ready_ms",
            boot_board_ms,
            "ms",
            "a power cut to the agent's ready event (sent as its loop starts answering), on "
            "the board's clock (ticks_ms at 31.25 MIPS, -icount 5; median of 5); "
            f"{boot_ms:.0f} ms in wall time to hello answered, of which "
            f"{boot_ms - boot_board_ms:.0f} ms before the twin's clock starts and after the "
            "event (QEMU's own start, the supervisor, the host's turn: no board's)",
            "< 500",
            boot_board_ms < 500,
        )
    )
    res.add(
        Figure(
            "wl55_twin_gate_cost_over_airtime",
            gate / parts["airtime"],
            "x",
            f"gate checks per {GATE_PSDU}-octet frame ({gate:.0f} µs: before() "
            f"{before_us:.0f}, last() {last_us:.0f}, each called as the driver calls it) vs its "
            "airtime, at 31.25 MIPS (icount 5)",
            "<= 0.05",
            gate / parts["airtime"] <= 0.05,
        )
    )


def bench_roomy_boards(bench: Bench, res: Results) -> None:
    """The boards whose images are not built here (the pinned source builds no RP2040 or
    ESP32 port): the agent's .mpy files on their filesystems, and its peak heap on a QEMU
    twin given the board's heap, running from those files as the board does."""
    from dbch.boards.definitions import all_boards
    from dbch.boards.deploy import build

    for board in all_boards():
        if "frozen_agent" in board.features:
            continue
        files = build(board)
        mpy = sum(len(f.data) for f in files)
        (b,) = bench.start(board=board.id, ids=["roomy"], erase=True, twin="qemu")
        try:
            deploy(b.port, board.id)
            peak = _exercise(b.port)["heap"]["used_max"]
        finally:
            b.stop()
        key = board.id.lower()
        res.add(Figure(f"{key}_agent_files", mpy, "B", f"{board.id}: the agent's files on flash"))
        res.add(
            Figure(
                f"{key}_twin_peak_heap",
                peak,
                "B",
                f"{board.id}: heap peak on a 32-bit twin with the board's {board.heap_kb} KB "
                "(agent from .mpy; the board's image is not built here)",
            )
        )


class _Counting:
    """A serial port that counts the bytes each way (what crosses the wire)."""

    def __init__(self, port: Any):
        self._port = port
        self.count = 0

    def write(self, data: bytes) -> int | None:
        self.count += len(data)
        return self._port.write(data)

    def read(self, n: int = 1) -> bytes:
        data = self._port.read(n)
        self.count += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)


# One status request's work in the agent, step by step, on the twin at its pinned rate (the
# console's byte loop is left out: it reads from the port, which a REPL program cannot
# feed at the wire's pace).
STATUS_PARTS = (
    REPL_HUB
    + REPL_TIMER_INT  # the WL55's build has no floats
    + """
from dbchagent import link, cbor
req = %(req)r
r = {}
r['frame decode (base64, CRC, header)'] = t(lambda: link.decode(req, 512), 20)
kind, seq, body, crc = link.decode(req, 512)
r['CBOR decode of the request'] = t(lambda: cbor.decode(body), 20)
r['dispatch and status'] = t(lambda: hub.dispatch('status', {}, False), 10)
st = hub.dispatch('status', {}, False)
# into the agent's own reply buffer, as the agent builds every reply
r['the reply line: CBOR with words, CRC, escapes'] = t(
    lambda: link.frame(1, seq, None, st, hub.reply_buf), 10)
f = link.frame(1, seq, None, st, hub.reply_buf)
print(repr((r, len(f))))
"""
)


def _raw_repl_status(port: str, n: int, like: dict) -> tuple[list[float], int]:
    """The same status through mpremote's raw REPL (the agent's own hub and function, run
    by the board's compiler): the times, and the bytes one exchange puts on the wire.
    `like`: the link's status, whose sections the REPL's must have (the same work)."""
    t = SerialTransport(port)
    try:
        t.enter_raw_repl(soft_reset=False)
        t.exec(FORGET_AGENT)
        t.exec(RAW_SETUP)

        def once() -> dict:
            return ast.literal_eval(t.exec(RAW_QUERY).decode())

        got = once()
        if set(got) != set(like):
            raise DbchError(
                f"the raw REPL's status has other sections than the link's: {sorted(got)} "
                f"vs {sorted(like)}"
            )
        counting = _Counting(t.serial)
        t.serial = counting
        once()
        wire = counting.count
        t.serial = counting._port

        def ticks() -> int:
            return int(t.exec("import time\nprint(time.ticks_ms())"))

        return _time(once, n), wire, _board_ms_median(ticks, once)
    finally:
        t.close()


def _board_ms_median(
    ticks: Callable[[], int | None], fn: Callable[[], object], batches: int = 8, size: int = 5
) -> float:
    """The median over `batches` batches of `size` calls of their milliseconds each on the
    board's clock. The clock counts the board's waits (the wire, the host's turns) as QEMU
    accounts real time under -icount, which is noisy: batches of the raw REPL's statuses
    read 113-138 ms on it in one session while their wall time stayed at 128-130 ms."""
    return statistics.median(_board_ms_each(ticks, fn, size) for _ in range(batches))


def _board_ms_each(ticks: Callable[[], int | None], fn: Callable[[], object], n: int) -> float:
    """Milliseconds of the board's clock (`ticks()` reads it, over the same port) that each
    of n calls of fn takes: the board's CPU at its pinned rate and the wire and the host's
    turns as they pass, less one reading's own round trip (two readings back to back)."""
    a, b = ticks(), ticks()
    t0 = ticks()
    for _ in range(n):
        fn()
    t1 = ticks()
    if a is None or b is None or t0 is None or t1 is None:
        raise DbchError("the twin's agent reports no ticks_ms: make firmware")
    wrap = 0x3FFFFFFF  # ticks_ms wraps at 2**30
    return (((t1 - t0) & wrap) - ((b - a) & wrap)) / n


def _python_stack_peak(port: str) -> tuple[int, int]:
    """(bytes of the Python stack ever used since the twin started, its size): the twin
    marks the stack unused at its start (modtwin.c); read at the REPL, the agent stopped."""
    t = SerialTransport(port)
    try:
        t.enter_raw_repl(soft_reset=False)
        out = t.exec("import _twin\nprint(*_twin.pystack_peak())")
    finally:
        t.close()
    used, size = (int(x) for x in out.split())
    return used, size


def _boot_ready(board: SimBoard) -> tuple[float, int]:
    """A power cut (off, on) to the agent answering hello: (wall-clock seconds, the board's
    own milliseconds from its reset to its `ready` event, ticks_ms on the twin's pinned
    clock). The twin runs at the board's speed in real time (QEMU's -icount align), so the
    wall clock is the board's boot plus QEMU's own start and the host's turns."""
    with AgentClient(board.port, on_console=None, timeout=10.0) as hub:
        board.power_off()
        hub.link.events.clear()
        t0 = time.perf_counter()
        board.power_on()
        hub.wait_ready(timeout=10.0)
        wall = time.perf_counter() - t0
        ready = [e for e in hub.link.events if e.get("ev") == "ready" and "ticks_ms" in e]
        if not ready:
            raise DbchError(f"{board.id}: no ready event after a power cut")
        return wall, int(ready[-1]["ticks_ms"])
