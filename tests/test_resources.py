"""Resource limits on the smallest board's twin (the NUCLEO-WL55, 112 KB of heap for code and
data): floods of requests and maximum-size frames. No MemoryError escapes the agent: it
answers every request, with a typed `busy` when the heap cannot hold the work, or drops a
reply and counts it. And the watchdog: fed only from the agent's healthy main loop."""

from __future__ import annotations

import base64
import contextlib
import os
import random
import threading
import time

import pytest
import serial
from dbch.boards.deploy import deploy
from dbch.gbcs.tables import get_table
from dbch.link.client import AgentClient
from dbch.link.frames import KIND_ERROR, KIND_REPLY, decode_frame, encode_request
from dbch.sim.bench import Bench, SimBoard
from helpers import apply, ensure_agent, mpremote, start_deployed


def collect_replies(hub: AgentClient, seqs: set[int], timeout: float) -> dict[int, object]:
    """Read until every seq has its reply or error (or the time is up)."""
    got: dict[int, object] = {}
    deadline = time.monotonic() + timeout
    while seqs - set(got) and time.monotonic() < deadline:
        frame = hub.link.read_frame(0.2)
        if frame is not None and frame.kind in (KIND_REPLY, KIND_ERROR) and frame.seq in seqs:
            got[frame.seq] = (frame.kind, frame.decode_body())
    return got


def test_a_flood_of_requests_is_answered_every_one(small_board: SimBoard) -> None:
    ensure_agent(small_board)
    with AgentClient(small_board.port, on_console=None) as hub:
        before = apply(hub, get_table("sec-2018-03-r1"))["hash"]
        biggest = hub.hello().max_request - 40
        rng = random.Random(3)
        lines, seqs = [], set()
        for _ in range(300):
            seq = hub.link.next_seq()
            seqs.add(seq)
            kind = rng.randrange(3)
            if kind == 0:
                lines.append(encode_request(seq, "status"))
            elif kind == 1:
                lines.append(encode_request(seq, "echo", {"data": rng.randbytes(biggest)}))
            else:
                lines.append(encode_request(seq, "get_config"))
        # Write all of it as fast as the port takes it, reading replies meanwhile.
        writer = threading.Thread(target=lambda: [hub.transport.write(x) for x in lines])
        writer.start()
        got = collect_replies(hub, seqs, timeout=120)
        writer.join()
        codes = {body.get("code") for kind, body in got.values() if kind == KIND_ERROR}
        print("flood:", len(got), "answered,", codes)
        assert codes <= {"busy"}, codes
        st = hub.status()
        lost = len(seqs) - len(got)
        # Every request answered, or its reply dropped and counted (never silently).
        assert lost <= st["counters"].get("no_memory", 0), (lost, st["counters"])
        assert hub.get_config()["hash"] == before
        assert "internal" not in st["counters"]


def test_maximum_size_and_oversize_frames(small_board: SimBoard) -> None:
    ensure_agent(small_board)
    with AgentClient(small_board.port, on_console=None) as hub:
        limit = hub.hello().max_request
        ok = busy = 0
        for size in range(limit - 60, limit - 20, 2):
            try:
                data = bytes(range(256)) * (size // 256) + bytes(size % 256)
                assert hub.echo(data) == data
                ok += 1
            except Exception as e:
                assert getattr(e, "code", None) in ("busy", "too_large"), e
                busy += 1
        assert ok > 0
        for _ in range(20):  # longer than the board takes: typed refusal, agent fine
            seq = hub.link.next_seq()
            hub.transport.write(encode_request(seq, "echo", {"data": bytes(limit + 200)}))
            got = collect_replies(hub, {seq}, timeout=5)
            assert got[seq][1]["code"] == "too_large"
        assert hub.status()["counters"]["too_large"] >= 20
        hub.memtest(1024)  # and the heap is still usable


def test_the_watchdog_is_fed_only_by_the_running_agent(bench: Bench) -> None:
    board = start_deployed(bench)
    try:
        deploy(board.port, board.board, watchdog_ms=1500)
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            pid = board.vm_pid
            time.sleep(3.0)  # twice the timeout: the main loop feeds it
            assert board.vm_pid == pid, board.log_tail(30)
            assert hub.status()["reset_cause"] != "watchdog"
        # Stop the agent (as mpremote's Ctrl-C does): nothing feeds the watchdog any more.
        with serial.serial_for_url(board.port, timeout=0.5) as s:
            s.write(b"\r\x03\x03")
        board.wait_for_vm(pid, timeout=10)
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            assert hub.status()["reset_cause"] == "watchdog", board.log_tail(30)
        deploy(board.port, board.board)  # a plain deploy turns it off again
        with AgentClient(board.port, on_console=None) as hub:
            pid = board.vm_pid
            hub.call("traffic_stop")
        with serial.serial_for_url(board.port, timeout=0.5) as s:
            s.write(b"\r\x03\x03")
        time.sleep(3.0)
        assert board.vm_pid == pid, board.log_tail(30)  # at the REPL, no reset
    finally:
        board.stop()


def test_the_frozen_agent_interns_almost_no_names_at_run_time(small_board: SimBoard) -> None:
    # On the WL55 the agent is frozen: its names are in flash, with the firmware's. Names
    # interned at run time take heap, in tables that grow by doubling (a step of several KB
    # that a fragmented 53 KB heap may not hold). After boot, apply and scan the agent must
    # have added no more than one small table of them (code that builds names, e.g.
    # getattr with made-up strings or .mpy files loaded from flash, would show here).
    ensure_agent(small_board)
    with AgentClient(small_board.port, on_console=None) as hub:
        apply(hub, get_table("sec-2018-03-r1"))
        hub.scan()
    out = mpremote(
        small_board.port, "resume", "exec", "import micropython; micropython.qstr_info()"
    )
    fields = dict(f.split("=") for f in out.split(":", 1)[1].strip().split(", "))
    assert int(fields["n_pool"]) <= 1, f"{fields['n_qstr']} names interned at run time"
    assert int(fields["n_total_bytes"]) < 2048, fields
    small_board.reset()
    ensure_agent(small_board)


def test_the_request_size_limit_is_exact(hub_board: SimBoard) -> None:
    # A frame of exactly max_request bytes is taken; one or two bytes more were let through
    # (base64 rounds to groups of three) and are now refused as too large.
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        limit = hub.hello().max_request
        for extra, code in ((0, None), (1, "too_large"), (2, "too_large")):
            seq = hub.link.next_seq()
            line = encode_request(seq, "echo", {"data": bytes(limit - 22 + extra)})
            assert len(base64.b64decode(line[1:-1])) == limit + extra  # the frame's bytes
            hub.transport.write(line)
            got = collect_replies(hub, {seq}, timeout=5)
            assert (got[seq][1].get("code") if got[seq][0] == KIND_ERROR else None) == code


FLOOD_S = float(os.environ.get("DBCH_FLOOD_SECONDS", "8"))  # `make soak` floods longer


def test_a_line_that_never_ends_starves_no_duty_and_trips_no_watchdog(
    bench: Bench, soak_counts
) -> None:
    # A continuous stream without a newline kept the agent reading: 5 watchdog resets in
    # 12 s with a 2 s watchdog. Now the work per loop pass is bounded, the duties and the
    # watchdog run under any input, and what is dropped is counted.
    board = start_deployed(bench)
    try:
        deploy(board.port, board.board, watchdog_ms=2000)
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
        pid = board.vm_pid
        stop = time.monotonic() + FLOOD_S  # four watchdog periods or more
        with serial.serial_for_url(board.port, timeout=0.5, write_timeout=0.5) as s:
            s.write(b"\x1e")  # a frame that starts and never ends
            junk = b"A" * 4096
            while time.monotonic() < stop:
                # the board (and its USB link) take what they can
                with contextlib.suppress(serial.SerialTimeoutException):
                    s.write(junk)
            s.write(b"\n")
        with AgentClient(board.port, on_console=None) as hub:
            st = hub.status()
        resets = int(board.vm_pid != pid or st["reset_cause"] == "watchdog")
        soak_counts.add(flood_seconds=int(FLOOD_S), watchdog_resets_under_flood=resets)
        assert not resets, "the board was reset during the flood"
        assert st["counters"]["input_dropped"] > 10000
        assert st["uptime_ms"] > FLOOD_S * 1000
        deploy(board.port, board.board)  # the watchdog off again
    finally:
        board.stop()


# Files of shrinking sizes until none fits (a file whose write fails at close is dropped
# and frees its blocks, so only closed files fill the filesystem).
FILL_FLASH = """
import os
n = 0
for size in (4096, 1024, 256, 64, 16):
    while True:
        try:
            with open('junk%d' % n, 'wb') as f:
                f.write(bytes(size))
            n += 1
        except OSError:
            try:
                os.remove('junk%d' % n)
            except OSError:
                pass
            break
print(n)
"""
CLEAR_FLASH = "import os\nfor f in os.listdir():\n    if f.startswith('junk'): os.remove(f)\n"


@pytest.mark.parametrize(
    ("errno", "code"), [(28, "storage_full"), (36, "storage_full"), (5, "internal")]
)
def test_a_store_write_that_finds_no_room_is_storage_full(mp, errno: int, code: str) -> None:
    # ENOSPC, and ENAMETOOLONG (littlefs's answer when a new file's entry finds no room)
    # are a full filesystem; another OSError stays internal.
    status, out = mp.ask(f"handler_oserror {errno}")
    assert status == "ok", out
    err = decode_frame(bytes.fromhex(out)[1:-1]).decode_body()
    assert err["code"] == code
    if code == "storage_full":
        assert "dbch logs --clear" in err["msg"]


@pytest.mark.micropython_source  # the WL55's own filesystem: 24 KB fills exactly
def test_a_full_filesystem_is_storage_full_and_changes_nothing(bench: Bench) -> None:
    # The red team: a full filesystem answered `internal: OSError: 36` (littlefs says
    # ENAMETOOLONG when a new file's entry finds no room). Now: one typed error saying
    # what to do, the configuration in force untouched, and a retry once there is room.
    from dbch.errors import DeviceError
    from dbch.gbcs.subghz_config import content_hash
    from helpers import SMALL_BOARD, two_records

    b = start_deployed(bench, SMALL_BOARD)
    try:
        first, second = two_records()
        with AgentClient(b.port, on_console=None) as hub:
            hub.wait_ready()
            assert hub.apply_config(first)["hash"] == content_hash(first)
        assert int(mpremote(b.port, "exec", FILL_FLASH).strip()) > 0
        # The agent's start may free a block (a stale temporary file): fill again behind it
        b.reset()
        ensure_agent(b)
        mpremote(b.port, "exec", FILL_FLASH)
        b.reset()
        with AgentClient(b.port, on_console=None) as hub:
            hub.wait_ready()
            try:
                hub.apply_config(second)
                raise AssertionError("a full filesystem took a new configuration")
            except DeviceError as e:
                assert e.code == "storage_full", e
                assert "dbch logs --clear" in (e.msg or "")
            assert hub.get_config()["hash"] == content_hash(first)
        mpremote(b.port, "exec", CLEAR_FLASH)
        b.reset()
        with AgentClient(b.port, on_console=None) as hub:
            hub.wait_ready()
            assert hub.apply_config(second)["hash"] == content_hash(second)
    finally:
        b.stop()
