"""The NUCLEO-WL55's 32-bit twin: the board's MicroPython features and GC heap, the agent
frozen in, a Cortex-M3 in QEMU (docs/boards.md, "Twin kinds"). What only a build of the
board can show is tested here: it boots, applies, scans and checks with the board's real
heap; its filesystem, at the board's size and geometry, holds every store at its limit;
the checks the agent relies on still work in the trimmed build.

The image is built by the project (sim/twin_image.build_qemu_twin, cached under
build/firmware/); QEMU and the toolchain come from scripts/setup-debian.sh (make test)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cbor2
import pytest
import serial
from dbch.boards.definitions import get_board
from dbch.boards.deploy import deploy
from dbch.boards.firmware import build_board_image
from dbch.checks.targets import Power, Reset, Witness
from dbch.checks.views import check_client
from dbch.errors import DeviceError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.subghz_config import content_hash
from dbch.gbcs.tables import get_table
from dbch.link.client import AgentClient
from dbch.link.frames import KIND_REQUEST, encode_frame
from dbch.sim.bench import Bench, SimBoard
from dbch.sim.targets import sim_target
from helpers import SMALL_BOARD, agent_on, apply, ensure_agent, mpremote, two_records

pytestmark = pytest.mark.micropython_source  # every test here runs a QEMU twin
TABLE = get_table("sec-2018-03-r1")
DBCH = str(Path(sys.executable).parent / "dbch")


@pytest.fixture(scope="module")
def twin(small_board: SimBoard) -> SimBoard:
    """The WL55's own twin (board.json: sim.twin = qemu), the agent deployed."""
    return small_board


@pytest.fixture
def hub(twin: SimBoard) -> Iterator[AgentClient]:
    with agent_on(twin) as client:
        yield client


def repl(twin: SimBoard, code: str) -> str:
    """Run `code` at the twin's REPL (stopping the agent), then start the agent again."""
    try:
        return mpremote(twin.port, "exec", code).strip()
    finally:
        twin.reset()


def test_the_twin_is_a_32_bit_cortex_m_with_the_boards_own_heap(twin: SimBoard) -> None:
    out = repl(
        twin,
        "import sys, gc\ngc.collect()\n"
        "print(sys.implementation._machine, sys.maxsize, gc.mem_free() + gc.mem_alloc())",
    )
    machine, maxsize, heap = out.rsplit(" ", 2)
    assert "Cortex-M3" in machine and int(maxsize) == 2**31 - 1
    built = build_board_image(SMALL_BOARD).heap  # from the board's own linker map
    # The GC keeps its allocation table in the same region: what Python can use is a
    # little less than the region, never more.
    assert 0.95 * built < int(heap) <= built
    assert twin.info()["twin"] == "qemu"


def test_the_agent_boots_applies_scans_and_passes_check_on_the_boards_heap(
    twin: SimBoard, hub: AgentClient
) -> None:
    hello = hub.hello()
    assert (hello.board, hello.platform) == (SMALL_BOARD, "qemu")
    assert hello.max_request == 512  # the heap of a small board, as the agent measures it
    apply(hub, TABLE)
    scan = hub.scan()
    assert scan["outcome"] in ("kept", "changed") and scan["energy"]
    hub.traffic(10, 60, 0)
    assert hub.wait_event("traffic_done", 30)["sent"] == 10
    st = hub.status()
    assert st["radio"]["state"] == "ready" and st["duty"]["usage_ms"] > 0
    assert st["heap"]["used_max"] < st["heap"]["total"] // 2, st["heap"]
    report = check_client(hub, TABLE, "north", sim_target(twin).emissions(600), twin.id)
    assert report.result == "pass", [r.reason for r in report.failures]


def test_the_gate_refuses_the_masked_band_and_the_witness_sees_nothing_there(
    twin: SimBoard, hub: AgentClient
) -> None:
    apply(hub, TABLE)
    t0 = twin.bench.now()
    res = hub.test_tx(915_350_000)
    assert res["refused"] == "masked_band"
    target = sim_target(twin)  # a simulated board has every bench protocol
    assert isinstance(target.power, Power) and isinstance(target.reset, Reset)
    assert isinstance(target.witness, Witness) and target.simulated
    emissions = target.emissions(twin.bench.now() - t0 + 1) or []
    assert not [e for e in emissions if plan.in_masked_band(e["freq_hz"], 100_000)]


def test_python_frames_have_their_own_stack_and_the_agents_deepest_requests_fit_it(
    twin: SimBoard,
) -> None:
    # The board's frames are on a Python stack of its own (dbch_features.h), not the heap,
    # where a call's frame cost what the heap's fragmentation made it (the gate's before()
    # 178 or 383 us at 31.25 MIPS). What the agent's requests use of it, measured from the
    # twin's start (modtwin.c marks the stack unused then): a quarter of it stays spare.
    twin.reset()
    with agent_on(twin) as hub:
        apply(hub, TABLE)
        hub.status()
        hub.all_events()
        hub.get_config()
        hub.scan()
        assert hub.test_tx(915_350_000)["refused"] == "masked_band"
        hub.traffic(20, 60, 0)
        assert hub.wait_event("traffic_done", 60) is not None
        deep: object = "x"
        for _ in range(12):
            deep = [deep, {"k": 1}]
        frame = encode_frame(KIND_REQUEST, 9, cbor2.dumps(["status", {"a": deep}]))
        with pytest.raises(DeviceError, match="nested too deep"):
            hub.link.exchange(frame, 9, 5.0, 0)
        hub.status()
    try:
        out = mpremote(
            twin.port,
            "exec",
            "import _twin, micropython\n"
            "def f():\n    return micropython.pystack_use()\n"
            "print(*_twin.pystack_peak(), f())",
        ).split()
    finally:
        twin.reset()
    peak, size, in_call = map(int, out)
    assert size == build_board_image(SMALL_BOARD).pystack  # the board reserves the same
    assert in_call > 0  # a call's frame is on it
    assert 0 < peak <= size * 3 // 4, (peak, size)


def test_mpremote_takes_over_and_a_reset_brings_the_agent_back(twin: SimBoard) -> None:
    # Ctrl-C reaches the agent as a byte (the qemu port has no UART interrupt): it stops.
    out = mpremote(twin.port, "resume", "exec", "import sys; print(sys.platform)").strip()
    assert out == "qemu"
    twin.reset()
    with AgentClient(twin.port, on_console=None) as hub:
        assert hub.wait_ready().board == SMALL_BOARD


@pytest.mark.parametrize(
    "text",
    [b"\xff", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"],
    ids=["bad byte", "surrogate", "above U+10FFFF", "overlong"],
)
def test_the_trimmed_build_refuses_invalid_utf8_in_a_request(hub: AgentClient, text) -> None:
    # A command name that is not UTF-8 (RFC 3629): refused as not valid CBOR, never
    # echoed back in an error the host cannot decode.
    body = b"\x82" + bytes((0x60 | len(text),)) + text + b"\xa0"  # [text, {}]
    seq = hub.link.next_seq()
    with pytest.raises(DeviceError) as e:
        hub.link.exchange(encode_frame(KIND_REQUEST, seq, body), seq, timeout=5.0, retries=0)
    assert e.value.code == "bad_cbor" and "utf-8" in (e.value.msg or "")


def test_the_trimmed_build_keeps_micropythons_own_utf8_check(twin: SimBoard) -> None:
    # MICROPY_PY_BUILTINS_STR_UNICODE_CHECK stays on in the board's features: the agent's
    # stricter check builds on it.
    code = "try:\n str(b'\\xff', 'utf-8'); print('accepted')\nexcept UnicodeError:\n print('no')"
    out = repl(twin, code)
    assert out == "no"


# Every store at its limit, on the board's own filesystem (size and block size), written
# with the agent's own code: then the agent must still boot, apply, log and keep duty.
FILL = """
import os, struct, gc
from dbchagent import store
from dbchagent.events import EventLog
import dbch_board
class _A:
    def event(self, *a):
        pass
log = EventLog(_A())
turns = 0
while turns < 3:
    before = log.size
    log.record(0x8F2A, {"hash": "f" * 64})
    if log.size < before:
        turns += 1
while log.size + 100 < log.cap:
    log.record(0x8F2A, {"hash": "f" * 64})
turns = 0
while turns < 3:  # the audit log too (docs/security.md), both files at their cap
    before = log.audit_size
    log.record(0x8F2A, {"hash": "f" * 64, "req": 1}, True)
    if log.audit_size < before:
        turns += 1
while log.audit_size + 100 < log.cap:
    log.record(0x8F2A, {"hash": "f" * 64, "req": 1}, True)
store.write("chlog.bin", struct.pack(">IBBBBB", 800000000, 28, 0, 28, 1, 1) * 32)
store.write("lock.bin", b"locked")  # the lock file, as `lock` writes it
store.remove("lock.bin")  # (a locked twin keeps mpremote out: written, then removed)
print(log.cap, os.stat(store.path("events.old"))[6], os.stat(store.path("events.log"))[6],
      os.stat(store.path("audit.old"))[6], os.stat(store.path("audit.log"))[6])
print(sorted(os.listdir(store.DIR or ".")))
"""


def test_the_filesystem_holds_every_store_at_its_limit(twin: SimBoard) -> None:
    board = get_board(SMALL_BOARD)
    ensure_agent(twin)
    with AgentClient(twin.port, on_console=None) as hub:
        apply(hub, TABLE)
        hub.traffic(3, 20, 0)  # a duty-cycle record on flash
        hub.wait_event("traffic_done", 30)
    out = repl(twin, FILL).splitlines()
    cap, old, cur, audit_old, audit_cur = (int(x) for x in out[0].split())
    assert cap == board.event_log_kb * 1024 and old > cap - 100 and cur > cap - 100
    assert audit_old > cap - 100 and audit_cur > cap - 100
    stores = {"config.bin", "ctr.bin", "ctr2.bin", "key.bin", "duty.bin", "chlog.bin"}
    assert stores <= set(eval(out[1]))
    with AgentClient(twin.port, on_console=None) as hub:
        hub.wait_ready()
        for rec in two_records() * 2:  # config copies, counter and alerts, rewritten
            assert hub.apply_config(rec)["hash"] == content_hash(rec)
        assert hub.call("lock")["stored"]  # the lock file and its audit record
        assert not hub.call("unlock", forget=True)["stored"]
        hub.traffic(5, 20, 0)
        assert hub.wait_event("traffic_done", 30)["sent"] == 5
        st = hub.status()
    assert st["events"]["write_errors"] == 0 and "store_errors" not in st["counters"]
    free = repl(twin, "import os\ns = os.statvfs('.')\nprint(s[2], s[3])").split()
    blocks, left = int(free[0]), int(free[1])
    print(f"filesystem at its limit: {left} of {blocks} blocks free")
    assert blocks * 2048 == board.fs_kb * 1024 and left >= 1, f"{left} of {blocks} blocks free"


RSSI_LOCKED = """
import micropython, dbch_board
from subghz import core
radio = dbch_board.radio()
radio.setup(10)
radio.tune(868300000)
def sample(n):  # locals only: a new global would grow __main__'s dict
    r = 0
    for _ in range(n):
        r = radio.rssi()
    return r
r = sample(1)  # the first read makes the transfer buffers the driver keeps (and `r`)
micropython.heap_lock()
try:
    r = sample(100)
finally:
    micropython.heap_unlock()
print("ok", r)
"""


@pytest.mark.parametrize(
    "board",
    [SMALL_BOARD, "PICO_CC1101", "FEATHER_RP2040_RFM95"],
    ids=["sx126x", "cc1101", "sx127x"],
)
def test_rssi_reads_allocate_nothing_through_the_whole_path(bench: Bench, board: str) -> None:
    # 100 RSSI samples (three commands each on an SX126x) under micropython.heap_lock: the
    # driver and the twin's SPI and pin bridge (what a board's C firmware does) take no
    # heap, so listen-before-talk cannot start a garbage collection inside its window.
    (b,) = bench.start(board=board, erase=True, twin="qemu")
    try:
        deploy(b.port, board)
        out = mpremote(b.port, "exec", RSSI_LOCKED).strip().split()
        assert out[0] == "ok" and -1400 < int(out[1]) < 0, out
    finally:
        b.stop()


def test_a_duis_request_applies_on_the_twin(twin: SimBoard, tmp_path: Path) -> None:
    # DUIS 6.28 SetCHFSubGHzConfiguration, through the command a DCC integrator would use
    ensure_agent(twin)
    duis = tmp_path / "north.xml"
    subprocess.run(
        [DBCH, "duis", "export", "sec-2018-03-r1", "--region", "north", "-o", str(duis)],
        check=True,
    )
    out = subprocess.run(
        [DBCH, "apply", "--port", twin.port, "--duis", str(duis)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    with AgentClient(twin.port, on_console=None) as hub:
        st = hub.status()
    assert st["config"] is not None and st["radio"]["state"] == "ready"


def test_ctrl_d_at_the_repl_soft_resets_and_the_agent_starts_again(twin: SimBoard) -> None:
    ensure_agent(twin)
    pid = twin.vm_pid
    with serial.Serial(twin.port, timeout=2) as s:
        s.write(b"\r\x03")  # Ctrl-C: the agent stops, the REPL follows
        assert b">>> " in s.read_until(b">>> ")
        s.write(b"\x04")  # Ctrl-D: soft reset, boot.py and main.py run again
        assert b"soft reboot" in s.read_until(b"soft reboot")
    with AgentClient(twin.port, on_console=None) as hub:
        assert hub.wait_ready().board == SMALL_BOARD
    assert twin.vm_pid == pid  # a soft reset inside the firmware, as on a board


def test_the_twin_runs_its_own_copy_of_the_firmware(twin: SimBoard) -> None:
    # A rebuild prunes the cached build a running twin came from; QEMU reads the kernel
    # again at every reset, so a power cut after a rebuild left the board dead (a soak run
    # beside `make firmware`). The board keeps its own copy, which a rebuild never touches.
    cmdline = Path(f"/proc/{twin.vm_pid}/cmdline").read_bytes().split(b"\0")
    kernel = Path(cmdline[cmdline.index(b"-kernel") + 1].decode())
    assert kernel.parent == twin.folder.root / "kernel" and kernel.is_file()
    assert (kernel.parent / "firmware.map").is_file()


# Values for the C encoder against the Python one: every head width at both signs, text
# around the short-head limit and as words and digests, every container and byte kind.
CBOR_VALUES = """
W = link._CODES
hexd = '0123456789abcdef' * 4
vals = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**30 - 1, 2**30, 2**32 - 1, 2**32,
        2**63, 2**64 - 1, -1, -24, -25, -256, -257, -2**30, -2**30 - 1, -2**32, -2**64,
        '', 'a', 'x' * 23, 'x' * 24, 'x' * 300, 'é', '€' * 30, hexd, hexd.upper(),
        hexd[:63], hexd + 'a', 'g' * 64, 'é' * 64, 'state', 'normal', 'freq_hz',
        b'', bytes(range(256)), bytearray(b'abc'), memoryview(b'hello')[1:4],
        None, True, False, [], (), [1, [2, [3, (4, 'ready')]]],
        {'a': 1, 1: 'b', 'state': 'normal', 'x' * 30: hexd, hexd: [None], -5: b'k'},
        [[[[[[[[1]]]]]]]], st]
bad = [2**64, -2**64 - 1, [[[[[[[[[1]]]]]]]]], {'a': [[[[[[[{}]]]]]]]}, object(), len]
same = 0
for w in (W, None):
    for v in vals:
        a = bytearray()
        cbor._enc(a, v, 0, w)
        b = bytearray()
        _cborenc.encode(b, v, w)
        assert a == b, (v, w is None, bytes(a), bytes(b))
        same += 1
    for v in bad:
        errs = []
        for f in (lambda o: cbor._enc(o, v, 0, w), lambda o: _cborenc.encode(o, v, w)):
            try:
                f(bytearray())
                errs.append(None)
            except ValueError as e:
                errs.append(e.args[0])
        assert errs[0] is not None and errs[0] == errs[1], errs
        same += 1
try:
    cbor.encode(2**64)
except cbor.CBORError as e:
    print(same, 'CBORError', e)
"""


def test_the_images_c_cbor_encoder_writes_the_python_encoders_bytes(twin: SimBoard) -> None:
    # The WL55's image encodes replies in C (_cborenc, boards/NUCLEO_WL55/micropython):
    # the same bytes as firmware/dbchagent/cbor.py's encoder, and the same errors, here on
    # the board's 32-bit build (small ints end at 2**30), a whole status among the values
    # (58 values, each with the link's words and without).
    from dbch.perf.common import REPL_HUB

    out = repl(
        twin,
        REPL_HUB
        + "import _cborenc\nfrom dbchagent import cbor, link\n"
        + "st = cmd_system.status(hub, {})\n"
        + CBOR_VALUES,
    )
    assert out.splitlines()[-1] == "116 CBORError int out of range", out[-2000:]
