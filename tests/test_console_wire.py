"""The console is part of the board: a UART console (the NUCLEO-WL55's LPUART1 through the
ST-LINK at 115200 baud) takes its wire time in both directions and loses what arrives while
the MCU's receive ring is full; a USB CDC console is flow-controlled and unpaced. Both twin
kinds honour the board definition's `console` (sim/console.py)."""

from __future__ import annotations

import time

import cbor2
import pytest
import serial
from dbch.boards.definitions import all_boards, get_board
from dbch.link.client import AgentClient
from dbch.link.frames import KIND_REQUEST, encode_frame
from dbch.sim.bench import Bench
from dbch.sim.wire import Wire
from helpers import HUB_BOARD, SMALL_BOARD, start_deployed


def test_every_board_says_what_its_console_is_with_a_source() -> None:
    for b in all_boards():
        assert b.console.kind in ("uart", "usb_cdc"), b.id
        assert b.console.source, b.id
        if b.console.kind == "uart":
            assert b.console.baud and b.console.rx_buffer, b.id
    wl55 = get_board("NUCLEO_WL55").console
    assert (wl55.kind, wl55.baud, wl55.rx_buffer) == ("uart", 115200, 260)


def test_a_wire_lets_bytes_through_at_its_rate_only() -> None:
    w = Wire(11520.0)
    w.queued(100.0)
    assert w.allowed(100.0) == 0
    assert w.allowed(100.001) == 11  # 1 ms of 115200 baud, 10 bits a byte
    w.sent(11)
    assert w.allowed(100.001) == 0 and w.due(500) == pytest.approx(100.0 + 27 / 11520)
    # a relay that wakes 100 ms late gets no 1,152-byte burst: the line paused instead
    assert w.allowed(100.1) == 32
    assert Wire(None).allowed(0.0) > 1 << 20 and Wire(None).due(5) is None


def _status_after_noise(port: str, noise: int) -> tuple[float | None, int]:
    """Seconds from the first of `noise` bytes outside any frame to the reply of a status
    request sent right behind them (None: no reply, its request lost at a full receive
    ring), and how many of the noise bytes reached the agent (it counts them dropped)."""
    with AgentClient(port, on_console=None) as hub:
        hub.wait_ready()
        before = hub.status()["counters"].get("input_dropped", 0)
    req = encode_frame(KIND_REQUEST, 7, cbor2.dumps(["status", {}]))
    with serial.serial_for_url(port, timeout=10) as s:
        s.reset_input_buffer()
        t0 = time.perf_counter()
        s.write(b"x" * noise + req)
        line = s.read_until(b"\n")
        took = time.perf_counter() - t0 if line.startswith(b"\x1e") else None
    with AgentClient(port, on_console=None) as hub:  # (retries, if the first was lost)
        reached = hub.status()["counters"].get("input_dropped", 0) - before
    return took, reached


@pytest.mark.micropython_source
def test_4_kb_to_the_wl55_twin_take_the_wire_time_and_none_is_lost(bench: Bench) -> None:
    b = start_deployed(bench, SMALL_BOARD)
    try:
        took, reached = _status_after_noise(b.port, 4096)
        assert took is not None and took >= 4096 / 11520  # 355 ms: 4 KB at 115200 baud
        # The agent drains its receive ring faster than the wire fills it, and the QEMU
        # twin's UART holds the wire back besides: every byte of noise reached it.
        assert reached == 4096
        assert b.runtime().get("dropped_to_vm", 0) == 0
    finally:
        b.stop()


@pytest.mark.micropython_source
def test_the_wl55_twins_clock_counts_the_wire_time_of_what_it_writes(bench: Bench) -> None:
    # A board's write to its UART waits for the wire, and its clock counts the wait: 4 KB
    # at 115200 baud is 355 ms of ticks_ms. The QEMU twin's write spun on the UART's flag,
    # and at a pinned instruction rate its clock counted the spin's instructions instead:
    # 41 % of the wire time on this machine, more or less on a faster or slower one. It
    # waits for the transmit interrupt now (modtwin.c), as for input.
    from mpremote.transport_serial import SerialTransport

    (b,) = bench.start(board=SMALL_BOARD, erase=True, twin="qemu", icount=5)
    try:
        t = SerialTransport(b.port)
        try:
            t.enter_raw_repl(soft_reset=False)
            out = t.exec(
                "import sys, time\n"
                "t0 = time.ticks_ms()\n"
                "sys.stdout.buffer.write(b'x' * 4096)\n"
                "print('', time.ticks_diff(time.ticks_ms(), t0))\n"
            )
        finally:
            t.close()
        took_ms = int(out.split()[-1])
        wire_ms = 4096 / 11.52
        # 82-85 % measured (QEMU loses a little real time each time the UART wakes the
        # CPU); 41 % before
        assert wire_ms * 2 / 3 <= took_ms <= wire_ms * 3 / 2, (took_ms, wire_ms)
    finally:
        b.stop()


def test_the_wl55_on_its_unix_twin_keeps_the_same_wire(bench: Bench) -> None:
    b = start_deployed(bench, SMALL_BOARD, twin="unix")
    try:
        took, reached = _status_after_noise(b.port, 4096)
        lost = b.runtime().get("dropped_to_vm", 0)
        # Every byte either reached the agent or was counted lost at the receive ring (a
        # unix VM that a loaded host stops for more than the ring's 22 ms loses some, as
        # a board whose agent stalled would): none disappears unaccounted.
        assert reached + lost >= 4096 and reached <= 4096
        if took is not None:  # (the request itself may be what the ring lost)
            assert took >= 4096 / 11520
    finally:
        b.stop()


def test_a_usb_board_is_flow_controlled_and_not_paced(bench: Bench) -> None:
    b = start_deployed(bench, HUB_BOARD)
    try:
        took, reached = _status_after_noise(b.port, 4096)
        assert took is not None and reached == 4096  # flow control: nothing is lost
        assert b.runtime()["console"] == "usb_cdc" and b.runtime()["dropped_to_vm"] == 0
    finally:
        b.stop()


@pytest.mark.parametrize("noise", [100, 3000])  # within one read pass, and across two
def test_a_reply_counts_the_noise_that_came_before_its_request(bench: Bench, noise: int) -> None:
    # The agent added a read pass's dropped bytes to its counters only when the pass ended,
    # so a request read in the same pass as noise before it was answered without them
    # (make test once saw 4,026 of 4,096: the count asked for came in that pass).
    from dbch.link.frames import decode_frame

    b = start_deployed(bench, HUB_BOARD)
    try:
        with AgentClient(b.port, on_console=None) as hub:
            hub.wait_ready()
            before = hub.status()["counters"].get("input_dropped", 0)
        req = encode_frame(KIND_REQUEST, 7, cbor2.dumps(["status", {}]))
        with serial.serial_for_url(b.port, timeout=10) as s:
            s.reset_input_buffer()
            s.write(b"x" * noise + req)  # one write: the agent reads it in one pass
            line = s.read_until(b"\n")
        assert line.startswith(b"\x1e"), line[:80]
        counters = decode_frame(line[1:].rstrip(b"\r\n")).decode_body()["counters"]
        assert counters.get("input_dropped", 0) - before == noise
    finally:
        b.stop()


def test_what_arrives_while_the_mcu_reads_nothing_beyond_its_ring_is_lost(bench: Bench) -> None:
    # At the REPL, a program that sleeps reads nothing: 1,000 bytes arrive in 87 ms, the
    # ring keeps 260 of them, and the rest is lost, as on the board (no flow control). The
    # unix twin only: on the QEMU twin the emulated UART holds the host back instead
    # (sim/twins.py, QemuTwin.unread_in_socket).
    from mpremote.transport_serial import SerialTransport

    (b,) = bench.start(board=SMALL_BOARD, erase=True, twin="unix")
    try:
        t = SerialTransport(b.port)
        try:
            t.enter_raw_repl(soft_reset=False)
            code = (
                "import sys, select, time\n"
                "time.sleep_ms(800)\n"
                "p = select.poll()\n"
                "p.register(sys.stdin, select.POLLIN)\n"
                "n = 0\n"
                "while p.poll(200):\n"
                "    sys.stdin.buffer.read(1)\n"
                "    n += 1\n"
                "print(n)\n"
            )
            t.exec_raw_no_follow(code)
            t.serial.write(b"y" * 1000)
            out, err = t.follow(10)
        finally:
            t.close()
        assert not err, err
        kept = int(out.decode().strip())
        assert 250 <= kept <= 262, kept  # the ring (260), give or take what was in flight
        assert b.runtime()["dropped_to_vm"] >= 700
    finally:
        b.stop()
