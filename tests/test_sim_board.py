"""The simulated board behaves like a board: real tools reach it, resets and power cuts
restart the VM from flash, the heap is capped, and stopping leaves nothing running."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import serial
from dbch.gbcs.tables import get_table
from dbch.link.client import AgentClient
from dbch.sim.bench import Bench, simulated_boards
from dbch.sim.console import INTERRUPT_HOLDOFF_S
from dbch.sim.layout import pid_alive
from helpers import HUB_BOARD, MPREMOTE, apply, ensure_agent, mpremote, start_deployed
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport


def test_mpremote_resume_exec_reaches_the_vm(hub_board) -> None:
    # mpremote interrupts the running agent (Ctrl-C) and gets the raw REPL of a real VM
    out = mpremote(
        hub_board.port, "exec", "import sys, os; print(sys.implementation.name, os.listdir('/'))"
    )
    assert out.startswith("micropython ")
    assert "main.py" in out and "lib" in out  # the littlefs root, not the host filesystem
    ensure_agent(hub_board)


def test_a_ctrl_c_stops_running_code_where_a_board_would_take_it(hub_board) -> None:
    # On a board a Ctrl-C marks a KeyboardInterrupt pending, raised at the VM's next check.
    # The unix port raises it from its SIGINT handler wherever the signal lands: landing in
    # the garbage collector left the heap locked and the VM exited ("heap is locked",
    # "FATAL: uncaught NLR"), a reset no board does (a soak's watchdog test saw it). The
    # relay now sends it only while the VM waits (sim/vm_interrupt.py). This code collects
    # most of the time: before, most of these Ctrl-Cs landed in the collector.
    pid = hub_board.vm_pid
    t = SerialTransport(hub_board.port)
    t.serial.timeout = 10  # a VM left broken fails here instead of hanging the test
    try:
        t.enter_raw_repl(soft_reset=False)
        t.exec("import gc, micropython, time\nkeep = [(i,) for i in range(2500)]")
        for i in range(20):
            try:
                t.exec_raw_no_follow(
                    "micropython.kbd_intr(3)\nprint('go')\n"  # Ctrl-C on, as main.py has it
                    "while 1:\n for _ in range(100): gc.collect()\n time.sleep_ms(2)"
                )
                t.read_until(1, b"go", timeout=10)
                time.sleep(2 * INTERRUPT_HOLDOFF_S)  # not part of the last one's burst
                t.serial.write(b"\x03")
                _, err = t.follow(timeout=10)
            except TransportError as e:
                log = hub_board.log_tail(30)
                pytest.fail(f"after Ctrl-C {i} the VM no longer answers ({e})\n{log}")
            assert b"KeyboardInterrupt" in err, f"Ctrl-C {i}: {err!r}\n{hub_board.log_tail(30)}"
            assert hub_board.vm_pid == pid, f"Ctrl-C {i} reset the VM:\n{hub_board.log_tail(30)}"
    finally:
        t.close()
    ensure_agent(hub_board)


def test_pyserial_opens_the_port_like_a_device(hub_board) -> None:
    with serial.serial_for_url(hub_board.port, baudrate=115200, timeout=1) as s:
        assert s.is_open


def test_agent_answers_after_every_kind_of_reset(hub_board) -> None:
    hub_board.reset()  # dbch sim reset: the reset button
    with AgentClient(hub_board.port, on_console=None) as hub:
        assert hub.wait_ready().board == HUB_BOARD
        assert hub.status()["reset_cause"] == "hard"
        old = hub_board.vm_pid
        hub.reset()  # machine.reset() from the agent itself
        assert hub_board.vm_pid != old
        assert hub.status()["reset_cause"] == "hard"
    hub_board.kill()  # power cut
    with AgentClient(hub_board.port, on_console=None) as hub:
        hub.wait_ready()
        assert hub.status()["reset_cause"] == "power_on"


def test_ctrl_d_at_the_repl_soft_resets_into_the_agent(hub_board) -> None:
    old = hub_board.vm_pid
    with serial.serial_for_url(hub_board.port, timeout=0.5) as s:
        s.write(b"\r\x03\x03")  # stop the agent
        time.sleep(0.3)
        s.write(b"\r\x02")  # friendly REPL
        time.sleep(0.2)
        s.reset_input_buffer()
        s.write(b"\x04")  # Ctrl-D: soft reset
        hub_board.wait_for_vm(old)
    with AgentClient(hub_board.port, on_console=None) as hub:
        hub.wait_ready()
        assert hub.status()["reset_cause"] == "soft"


def test_plain_mpremote_soft_resets_into_the_raw_repl_without_main(hub_board) -> None:
    """Without `resume`, mpremote soft-resets in the raw REPL. As on a board, boot.py runs,
    main.py (the agent) does not, and the raw REPL comes back for mpremote's command."""
    old = hub_board.vm_pid
    out = subprocess.run(
        [
            MPREMOTE,
            "connect",
            hub_board.port,
            "exec",
            "import sys; print('agent' in str(sys.modules))",
        ],
        capture_output=True,
        timeout=30,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"  # a fresh VM in which main.py did not start the agent
    assert hub_board.vm_pid != old
    ensure_agent(hub_board)


def test_files_written_in_the_vm_survive_a_power_cut(hub_board) -> None:
    stamp = str(time.time_ns())
    mpremote(
        hub_board.port, "exec", f"f = open('/survivor.txt', 'w'); f.write({stamp!r}); f.close()"
    )
    hub_board.kill()
    out = mpremote(hub_board.port, "exec", "print(open('/survivor.txt').read())")
    assert out.strip() == stamp
    mpremote(hub_board.port, "exec", "import os; os.remove('/survivor.txt')")
    ensure_agent(hub_board)


def test_heap_is_capped_at_the_twins_budget(bench) -> None:
    # A unix twin: twice the board's heap for the firmware + the ROM's 13 KB reserve
    # (docs/boards.md); the QEMU twin's heap is the board's (tests/test_qemu_twin.py).
    from dbch.boards.definitions import get_board

    budget = get_board("PICO_WAVESHARE_SX1262").sim.heap_kb + 13
    b = start_deployed(bench, "PICO_WAVESHARE_SX1262")
    try:
        with AgentClient(b.port, on_console=None) as hub:
            total = hub.status()["heap"]["total"]
            assert 0.97 * budget * 1024 <= total <= budget * 1024  # less the GC's own table
            assert hub.memtest(1024)["size"] == 1024
    finally:
        b.stop()


def test_the_rom_stays_inside_its_reserve(bench) -> None:
    # What the simulated board's ROM and REPL hold on a blank twin: heap the firmware
    # does not get to use. It must stay within SIM_ROM_RESERVE_KB.
    from dbch.boards.definitions import SIM_ROM_RESERVE_KB

    used = bench.rom_heap_bytes("NUCLEO_WL55", twin="unix")
    assert used <= SIM_ROM_RESERVE_KB * 1024, used


def test_allocation_beyond_the_heap_is_reported_not_fatal(small_board) -> None:
    from dbch.errors import DeviceError

    with AgentClient(small_board.port, on_console=None) as hub:
        hub.wait_ready()
        with pytest.raises(DeviceError) as e:
            hub.memtest(200 * 1024)  # more than the whole 53 KB heap
        assert e.value.code == "busy" and "out of memory" in (e.value.msg or "")
        assert hub.hello().board == "NUCLEO_WL55"  # still alive and answering
        assert hub.status()["counters"]["no_memory"] >= 1


def test_stopped_boards_leave_no_processes(sim_home) -> None:
    bench = Bench(sim_home)
    with simulated_boards(board="PICO_WAVESHARE_SX1262", count=2, home=sim_home) as boards:
        pids = [(b.pid, b.vm_pid) for b in boards]
        assert all(pid_alive(p) and pid_alive(v) for p, v in pids)
        assert {b.id for b in boards} <= {b.id for b in bench.boards()}
        ports = [b.port for b in boards]
        assert len(set(ports)) == 2
    assert not any(pid_alive(p) or pid_alive(v) for p, v in pids)
    assert not {b.id for b in boards} & {b.id for b in bench.boards()}


def test_flash_persists_across_stop_and_start(bench) -> None:
    board = start_deployed(bench, board="PICO_WAVESHARE_SX1262")
    board_id = board.id
    board.stop()
    (again,) = bench.start(board="PICO_WAVESHARE_SX1262", ids=[board_id])
    try:
        with AgentClient(again.port, on_console=None) as hub:
            assert hub.wait_ready().board == "PICO_WAVESHARE_SX1262"  # firmware still there
    finally:
        again.stop()


@pytest.mark.micropython_source  # the WL55's own twin is its QEMU build
def test_erased_board_boots_to_the_repl(bench) -> None:
    (b,) = bench.start(board="NUCLEO_WL55", ids=["blank"], erase=True)
    try:
        t = SerialTransport(b.port)
        t.enter_raw_repl(soft_reset=False)
        # formatted, empty: the directory the board starts in (its filesystem's mount)
        assert t.eval("len(__import__('os').listdir())") == 0
        t.close()
    finally:
        b.stop()


@pytest.mark.parametrize(("fixture", "kept"), [("hub_board", True), ("small_board", False)])
def test_command_modules_stay_loaded_only_on_roomy_boards(
    request: pytest.FixtureRequest, fixture: str, kept: bool
) -> None:
    # The Pico twin (192 KB heap) keeps a command's module after its first use; the WL55
    # (53 KB of heap) runs the agent frozen: its command modules are released after each use.
    board = request.getfixturevalue(fixture)
    ensure_agent(board)
    with AgentClient(board.port, on_console=None) as hub:
        hub.hello()  # served by dbchagent.cmd_info, a module kept on flash
    out = mpremote(board.port, "exec", "import sys; print('dbchagent.cmd_info' in sys.modules)")
    assert out.strip() == str(kept)
    ensure_agent(board)


def test_a_boards_flash_which_holds_its_key_is_the_owners_only(bench) -> None:
    # flash.img holds the board's key (data/key.bin): 0600, in 0700 folders, as the host's
    # key store (they were world-readable in world-readable folders)
    import stat

    (b,) = bench.start(board="PICO_WAVESHARE_SX1262", ids=["perm"], erase=True)
    try:
        modes = {
            p: stat.S_IMODE(p.stat().st_mode) for p in (bench.home, b.folder.root, b.folder.flash)
        }
        assert modes == {bench.home: 0o700, b.folder.root: 0o700, b.folder.flash: 0o600}
    finally:
        b.stop()


# --- the bridge socket: only the board's own VM drives its radio model -------------------
def test_a_foreign_connection_to_the_bridge_is_turned_away(hub_board) -> None:
    # The red team: the supervisor took any new connection and dropped the VM's, so
    # whoever connected drove the radio model and bypassed the agent.
    import socket

    ensure_agent(hub_board)
    sock_path = hub_board.bench.folder.board(hub_board.id).socket
    intruder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    intruder.settimeout(10)
    intruder.connect(str(sock_path))
    try:
        assert intruder.recv(1) == b""  # closed on us: not the VM
    finally:
        intruder.close()
    with AgentClient(hub_board.port, on_console=None) as hub:  # the VM's bridge still works
        apply(hub, get_table("sec-2018-03-r1"))  # tunes and reads back through the bridge
        assert hub.scan()["energy"]  # every channel's RSSI, read through the bridge
    log = hub_board.bench.folder.board(hub_board.id).log.read_text()
    assert "bridge: refused a connection" in log


def test_a_long_board_folder_puts_its_socket_in_a_private_folder(tmp_path, monkeypatch) -> None:
    # Beyond AF_UNIX's 107 bytes the socket moved to /tmp/dbch-<hash>.sock: 0777 under
    # umask 000, and another user could take the path first.
    import os
    import stat

    from dbch.errors import DbchError
    from dbch.sim.layout import BenchFolder

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    deep = tmp_path / ("x" * 120)
    old = os.umask(0)
    try:
        sock = BenchFolder(deep).board("sim1").socket
    finally:
        os.umask(old)
    st = os.lstat(sock.parent)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
    assert len(str(sock)) < 107
    # a folder someone made first, open to others, is refused, not used
    squat = tmp_path / "run2"
    (squat / "dbch").mkdir(parents=True)
    (squat / "dbch").chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(squat))
    with pytest.raises(DbchError, match="not a private folder"):
        _ = BenchFolder(deep).board("sim1").socket


def test_the_simulated_flash_driver_cannot_be_interrupted_inside_littlefs() -> None:
    # A board's flash driver is C: a Ctrl-C waits for littlefs to finish. The twin's is
    # Python, where MicroPython raises a pending KeyboardInterrupt at the next jump; one
    # raised inside a callback unwound littlefs mid-commit, and the deploy that followed in
    # the same boot damaged the filesystem (a file read back with another file's bytes).
    # So FlashBlocks has no branch and no loop (map() erases, a dict picks the ioctl).
    import ast

    from dbch import sim

    tree = ast.parse((Path(sim.__file__).parent / "rom" / "simmachine.py").read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "FlashBlocks"]
    jumps = (
        ast.If,
        ast.For,
        ast.While,
        ast.IfExp,
        ast.BoolOp,
        ast.Try,
        ast.With,
        ast.comprehension,
        ast.Assert,
    )
    for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name != "__init__"):
        found = [type(n).__name__ for n in ast.walk(fn) if isinstance(n, jumps)]
        assert not found, f"FlashBlocks.{fn.name} jumps ({found}): a Ctrl-C can land inside"


def test_no_ctrl_c_can_land_inside_a_message_to_the_board() -> None:
    # A board's GPIO and SPI are C: a Ctrl-C waits until the transfer is done. The twin's
    # ROM speaks to the board over its bridge in Python, where a pending KeyboardInterrupt
    # is raised at the next jump, and the QEMU twin's UART interrupt makes one pending at
    # any moment. Raised between a message's bytes, it left the bridge out of step: the
    # next message read this one's answer, OSError replaced the KeyboardInterrupt, a
    # driver's handler took it, the agent ran on and mpremote's Ctrl-C was lost (1 reset
    # in a few hundred under load). So: no jump from a message's first byte to its
    # reply's last, in _send, in _reply (its length check comes after its last byte) and
    # between the two in every caller.
    import ast

    from dbch import sim

    tree = ast.parse((Path(sim.__file__).parent / "rom" / "simmachine.py").read_text())
    jumps = (ast.If, ast.For, ast.While, ast.IfExp, ast.BoolOp, ast.Try, ast.With)
    jumps += (ast.comprehension, ast.Assert, ast.Return)

    def jumping(nodes: list[ast.stmt]) -> list[str]:
        return [type(n).__name__ for s in nodes for n in ast.walk(s) if isinstance(n, jumps)]

    def calls(stmt: ast.stmt, name: str) -> bool:
        return any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
            for n in ast.walk(stmt)
        )

    fns = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert not jumping(fns["_send"].body), "_send"
    assert not jumping(fns["_reply"].body[:-1]), "_reply before its length check"
    senders = [f for f in fns.values() if any(calls(s, "_send") for s in f.body)]
    assert len(senders) >= 8, [f.name for f in senders]  # pins, SPI, WDT, boot, reset...
    for f in senders:
        first = next(i for i, s in enumerate(f.body) if calls(s, "_send"))
        replied = [i for i, s in enumerate(f.body) if calls(s, "_reply")]
        last = replied[-1] if replied else first
        assert not jumping(f.body[first : last + 1]), f"{f.name} jumps inside a message"


def test_a_vm_is_interrupted_only_while_it_waits() -> None:
    # /proc/PID/syscall of a stopped VM (sim/vm_interrupt.py): a wait for time or for its
    # console is where a board takes a Ctrl-C; running code, or a read of a file or of the
    # radio bridge, is not.
    from dbch.sim.vm_interrupt import waiting

    assert waiting("7 0x7ffd 0x1 0x3e8 0x0 0x0 0x0 0x7ffd 0x7f3d", "x86_64")  # poll
    assert waiting("230 0x0 0x0 0x7ffe 0x7ffe 0x0 0x0 0x7ffe 0x7f3d", "x86_64")  # sleep
    assert waiting("219 0x0 0x0 0x0 0x0 0x0 0x0 0x7ffe 0x7f3d", "x86_64")  # one resumed
    assert waiting("0 0x0 0x7ffd 0x1 0x0 0x0 0x0 0x7ffd 0x7f3d", "x86_64")  # its console
    assert not waiting("0 0x5 0x7ffd 0x200 0x0 0x0 0x0 0x7ffd 0x7f3d", "x86_64")  # flash
    assert not waiting("-1 0x7ffe0b72bbb0 0x55971295acd4", "x86_64")  # running code
    assert not waiting("running", "x86_64")
    assert waiting("73 0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0", "aarch64")  # ppoll
    assert waiting("7 0x0", "riscv64") is None  # unknown numbers: the port's own behaviour


def test_a_forced_ctrl_c_reaches_a_vm_that_is_slow_to_stop(monkeypatch: pytest.MonkeyPatch):
    # After INTERRUPT_WAIT_S a Ctrl-C goes wherever the VM is. On a loaded host the VM may
    # not be scheduled to stop within the relay's look (sim/vm_interrupt.py): the forced
    # interrupt then answered "later" every time, and the input held behind it waited for
    # ever (found reading the change). A process with a SIGINT handler stands in for it.
    import sys

    from dbch.sim import vm_interrupt

    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *a: (print('interrupted'), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        monkeypatch.setattr(vm_interrupt, "_stopped", lambda pid: False)
        assert vm_interrupt.interrupt(p.pid) == "later"  # not forced: it waits its turn
        assert vm_interrupt.interrupt(p.pid, anywhere=True) == "sent"
        assert p.stdout.readline().strip() == "interrupted"
    finally:
        p.kill()
        p.wait()
