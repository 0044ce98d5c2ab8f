"""The process behind one simulated board (python -m dbch.sim.supervisor --home H --id ID).

It owns what outlives the MicroPython VM, as a board's hardware outlives its firmware, and
holds the parts that do each job:
- the console port (sim/console.py: the pty relay that plays a USB CDC driver);
- the radio bus (sim/bus.py: the chip model, pins, the SPI trace), reached by the VM only
  through the bridge;
- the twin kind (sim/twins.py: how its VM starts, its heap and flash, its exits);
- power and reset, here: the VM is restarted from the flash image on machine.reset(), on
  Ctrl-D at the REPL, on a watchdog timeout, on SIGHUP (dbch sim reset), and after a power
  cut (SIGKILL of the VM). SIGUSR1 cuts power until SIGUSR2. SIGTERM stops the board.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from dbch.boards.chips import chip as chip_spec
from dbch.boards.definitions import BoardDef, get_board
from dbch.sim.bridge import BridgeParser
from dbch.sim.bus import RadioBus
from dbch.sim.console import ConsoleRelay
from dbch.sim.layout import BenchFolder, bench_time, read_json, write_json
from dbch.sim.link_faults import INBOUND, LinkFaults
from dbch.sim.twins import TwinKind, twin_kind

_PR_SET_PDEATHSIG = 1
_CRASH_WINDOW_S = 5.0
_CRASH_LIMIT = 5
# A relay that wakes this much later than it asked for left the console still: logged,
# since a tool's timeout may have passed meanwhile.
STALL_NOTE_S = 0.25


def mount_point(board: BoardDef) -> str:
    """Where the board's port mounts its filesystem: MicroPython's stm32 port mounts it on
    /flash and starts there (the VFS root holds only mount points); the others on /."""
    return "/flash" if board.mcu.upper().startswith("STM32") else "/"


class Supervisor:
    def __init__(
        self,
        home: Path,
        board_id: str,
        trace_spi: bool = False,
        heap_kb: int | None = None,
        kernel: Path | None = None,
        icount: int | None = None,
    ):
        # kernel: a QEMU twin's firmware (sim/twin_image.build_qemu_twin); None: unix VM
        self.bench = BenchFolder(home)
        self.folder = self.bench.board(board_id)
        if kernel is not None:
            kernel = self._keep_kernel(kernel)
        self.twin: TwinKind = twin_kind(kernel, icount)
        self.cause = "power_on"  # of the VM's last start
        identity = read_json(self.folder.identity)
        if identity is None:
            raise SystemExit(f"{self.folder.identity}: missing")
        self.board: BoardDef = get_board(identity["board"])
        self.heap_kb, self.hold_back = self.twin.heap(self.board, heap_kb)
        self.uid: str = identity["uid"]
        cfg = read_json(self.bench.config) or {}
        self.clock_scale = int(cfg.get("clock_scale", 1))
        self.epoch0_ns = int(cfg.get("epoch0_ns", time.time_ns()))
        self.bus = RadioBus(
            self.board,
            self.folder.spi_log if trace_spi else None,
            board_id=board_id,
            bench=self.bench,
            clock=self.sim_time,
            log=self.log,
        )
        self.sel = selectors.DefaultSelector()
        self.vm: subprocess.Popen[bytes] | None = None
        self.vm_sock: socket.socket | None = None
        self.conn: socket.socket | None = None
        self.parser: BridgeParser | None = None
        self.powered = True
        self.pending_cause: str | None = None
        self.wdt_deadline: float | None = None
        self.wdt_period: float = 0.0
        self.crashes: list[float] = []  # times the VM died on its own (not reset/power cut)
        self.resets = 0
        self.stopping = False
        self.signals: list[int] = []
        self.crashed = False
        self.debugging = bool(os.environ.get("DBCH_SIM_DEBUG"))
        self.link = LinkFaults()  # a bad cable between host and board, when a test asks
        self.interrupt_at = ""  # a boot step for a test's Ctrl-C (_load_faults)
        # a test's reset or power cut inside a radio transaction: (kind, transfers to let
        # pass first), fired once (_load_faults; tests/test_power_cuts.py)
        self.cut_in_spi: tuple[str, int] | None = None
        self.booted_vm: int | None = None  # the last VM whose ROM said it had booted
        self.steps_interrupted = 0  # Ctrl-Cs the ROM asked for at a named boot step
        wire = self.board.console.bytes_per_s
        self.console = ConsoleRelay(
            self.sel,
            self.link,
            self.twin.interrupts_by_signal,
            self.debug,
            self.log,
            bytes_per_s=wire * self.clock_scale if wire else None,  # a faster bench clock
            rx_buffer=self.board.console.rx_buffer,
        )
        self.vm_peer: socket.socket | None = None
        self.dropped_written = 0
        self.vm_fd: int | None = None
        self.link_stats_due = 0.0

    # --- clock shared with the VM (bench clock, possibly faster than real time) ---
    def sim_time(self) -> float:
        return bench_time(self.epoch0_ns, self.clock_scale)

    def debug(self, msg: str) -> None:
        if self.debugging:
            self.log(msg)

    def log(self, msg: str) -> None:
        with open(self.folder.log, "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {msg}\n")

    # --- setup ---
    def _open_port(self) -> None:
        self.port = self.console.open(self.folder.tty)

    def _listen(self) -> None:
        path = self.folder.socket
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.folder.root.chmod(0o700)  # the socket's folder, if it is the board's: private
        self.listener.bind(str(path))
        path.chmod(0o600)
        self.listener.listen(1)
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")

    def _keep_kernel(self, kernel: Path) -> Path:
        # The board's own copy of its firmware (and linker map): a rebuild prunes the cached
        # build it came from, and QEMU reads the kernel again at every reset and power cut.
        keep = self.folder.root / "kernel"
        keep.mkdir(parents=True, exist_ok=True)
        for name in (kernel.name, "firmware.map"):
            shutil.copyfile(kernel.parent / name, keep / name)
        return keep / kernel.name

    def _flash_blocks(self) -> int:
        return self.twin.flash_kb(self.board) * 1024 // self.board.sim.fs_block_size

    def _ensure_flash(self) -> None:
        size = self._flash_blocks() * self.board.sim.fs_block_size
        flash = self.folder.flash
        if not flash.exists() or flash.stat().st_size != size:
            # Fresh flash is erased (all ones); the ROM formats it on first boot.
            fd = os.open(flash, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the key
            with os.fdopen(fd, "wb") as f:
                f.write(b"\xff" * size)
        flash.chmod(0o600)
        self.folder.root.chmod(0o700)

    def _write_runtime(self) -> None:
        write_json(
            self.folder.runtime,
            {
                "id": self.folder.id,
                "board": self.board.id,
                "port": self.port,
                "pid": os.getpid(),
                "vm_pid": self.vm.pid if self.vm else None,
                "booted_vm": self.booted_vm,
                "steps_interrupted": self.steps_interrupted,
                "powered": self.powered,
                "crashed": self.crashed,
                "resets": self.resets,
                "heap_kb": self.heap_kb,
                "twin": self.twin.name,
                "clock_scale": self.clock_scale,
                "dropped_to_host": self.console.dropped_to_host,
                "dropped_to_vm": self.console.dropped_to_vm,
                "console": self.board.console.kind,
            },
        )

    # --- the VM ---
    def _start_vm(self, cause: str, raw_repl: bool = False) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        env.update(
            DBCH_BRIDGE=str(self.folder.socket),
            DBCH_FLASH=str(self.folder.flash),
            DBCH_FLASH_BLOCK_SIZE=str(self.board.sim.fs_block_size),
            DBCH_FLASH_BLOCKS=str(self._flash_blocks()),
            DBCH_RESET_CAUSE=cause,
            DBCH_UID=self.uid,
            DBCH_TWIN_OF=self.board.id,
            DBCH_SPI_BUSES=self.board.radio.spi,
            DBCH_STM="1" if chip_spec(self.board.radio.chip).internal else "0",
            DBCH_CLOCK_SCALE=str(self.clock_scale),
            DBCH_EPOCH0_NS=str(self.epoch0_ns),
            DBCH_INTERRUPT_AT=self.interrupt_at,
        )
        libc = ctypes.CDLL(None, use_errno=True)

        def child_setup() -> None:
            os.setsid()
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # no VM outlives its board

        self.cause = cause
        self._press_unlock()
        cmd = self.twin.command(
            self.bench.rom, self.heap_kb, self.folder.socket, raw_repl, theirs.fileno()
        )
        stderr = self.twin.stderr(self.folder.log)
        on_stdio = self.twin.console_on_stdio
        self.vm = subprocess.Popen(
            cmd,
            stdin=theirs if on_stdio else subprocess.DEVNULL,
            stdout=theirs if on_stdio else stderr,
            stderr=stderr or theirs,
            env=env,
            cwd=str(self.bench.rom),
            preexec_fn=child_setup,
            close_fds=True,
            pass_fds=() if on_stdio else (theirs.fileno(),),
        )
        if stderr is not None:
            stderr.close()  # the VM has its own copy
        if self.console.paced and self.twin.unread_in_socket:
            # Kept to see how much of its input the VM has not read (a UART's receive ring);
            # the VM's exit is then seen by SIGCHLD, not by the end of its stream.
            self.vm_peer = theirs
        else:
            theirs.close()
        ours.setblocking(False)
        self.vm_sock = ours
        self.vm_fd = ours.fileno()
        self.console.attach(
            self.vm_fd,
            self.vm.pid,
            raw_repl,
            self.vm_peer.fileno() if self.vm_peer else None,
            input_lost=self.resets > 0 and cause != "soft",
        )
        self.wdt_deadline = None
        self.log(f"VM {self.vm.pid} started ({cause})")
        self._write_runtime()

    def _stop_vm(self) -> None:
        self.link.clear()
        if self.vm is not None:
            if self.vm.poll() is None:
                self.vm.kill()
            self.vm.wait()
        if self.vm_sock is not None:
            self.console.detach()
            self.vm_sock.close()
            self.vm_sock = None
            self.vm_fd = None
        if self.vm_peer is not None:
            self.vm_peer.close()
            self.vm_peer = None
        if self.conn is not None:
            self.sel.unregister(self.conn)
            self.conn.close()
            self.conn = None
        self.wdt_deadline = None

    def _vm_exited(self) -> None:
        assert self.vm is not None
        rc = self.vm.wait()
        self._stop_vm()
        self.vm = None
        if self.pending_cause is not None:
            cause, self.pending_cause = self.pending_cause, None
        elif rc == -signal.SIGKILL:
            cause = "power_on"  # killed from outside: a power cut, power comes back
            self.bus.power_cut()
        elif self.twin.exit_cause(rc) is not None:
            cause = self.twin.exit_cause(rc)  # type: ignore[assignment]
        else:
            cause = "hard"
            tail = self.console.tail.decode("utf-8", "replace")
            self.log(f"VM exited with {rc}; last output:\n{tail}")
            now = time.monotonic()
            self.crashes = [t for t in self.crashes if now - t < _CRASH_WINDOW_S] + [now]
        if self.stopping or not self.powered:
            self._write_runtime()
            return
        if len(self.crashes) >= _CRASH_LIMIT:
            self.crashed = True
            self.log("VM keeps exiting at start; board left off (dbch sim reset to retry)")
            self._write_runtime()
            return
        self.resets += 1
        if cause == "soft":
            self.console.to_host_bytes(b"MPY: soft reboot\r\n")
        self._start_vm(cause, raw_repl=cause == "soft" and self.console.raw_repl)

    def _reset(self, cause: str) -> None:
        if self.vm is None:
            self.crashed = False
            self.crashes.clear()
            if self.powered:
                self.resets += 1
                self._start_vm(cause)
            return
        self.pending_cause = cause
        self.vm.kill()
        self._vm_exited()

    def _press_unlock(self) -> None:
        # held through this reset if `dbch sim reset --unlock` asked, released otherwise
        held = self.folder.hold_unlock.exists()
        self.folder.hold_unlock.unlink(missing_ok=True)
        self.bus.hold_unlock(held, self.log)

    def _load_faults(self) -> None:
        # Faults a test injects into the radio (stuck_busy, gone, wrong_id, skew_readback);
        # SimBoard.set_faults writes the file and sends SIGWINCH.
        faults = read_json(self.folder.faults) or {}
        self.bus.set_faults(faults)
        self.link.configure(faults)
        # a boot step at which the ROM asks for a Ctrl-C (tests/test_boot_window.py)
        self.interrupt_at = str(faults.get("interrupt_at", ""))
        cut = faults.get("cut_in_spi")
        self.cut_in_spi = (str(cut["kind"]), int(cut.get("after", 0))) if cut else None
        self._write_link_stats()
        self.log(f"faults: {faults or 'none'}")

    def _write_link_stats(self) -> None:
        write_json(self.folder.link_stats, {**self.link.counts, "injected": self.link.injected})

    # --- Board interface for the bridge ---
    def spi_transfer(self, bus: str, mosi: bytes) -> bytes:
        miso = self.bus.spi_transfer(bus, mosi)
        if self.cut_in_spi is not None:
            kind, after = self.cut_in_spi
            if after > 0:
                self.cut_in_spi = (kind, after - 1)
            else:  # now, with chip select still low: the VM never finishes this one
                self.cut_in_spi = None
                self.log(f"fault: {kind} inside a radio transaction")
                if kind == "power":
                    assert self.vm is not None
                    self.vm.kill()
                    self._vm_exited()
                else:
                    self._reset("hard")
        return miso

    def pin_set(self, name: str, level: int) -> None:
        self.bus.pin_set(name, level)

    def pin_get(self, name: str) -> int:
        return self.bus.pin_get(name)

    def request_reset(self, kind: str) -> None:
        self.debug(f"reset requested by the VM ({kind})")
        self.pending_cause = kind
        if self.vm is not None and self.vm.poll() is None:
            self.vm.kill()

    def config(self) -> bytes:
        # What a QEMU twin's ROM asks at start (a unix twin gets it in its environment).
        radio = self.board.radio
        return (
            f"flash={self.folder.flash}\nblock_size={self.board.sim.fs_block_size}\n"
            f"blocks={self._flash_blocks()}\nuid={self.uid}\ncause={self.cause}\n"
            f"buses={radio.spi}\nstm={int(chip_spec(radio.chip).internal)}\n"
            f"hold_back={self.hold_back}\nmount={mount_point(self.board)}\n"
            f"twin_of={self.board.id}\n"
        ).encode()

    def booted(self) -> None:
        self.console.booted()
        self.booted_vm = self.vm.pid if self.vm else None  # the host's input is taken now
        self._write_runtime()

    def ctrl_c(self) -> None:
        # A Ctrl-C arriving on the console now (the ROM asks, at a boot step a test names):
        # the relay's own path, so it interrupts exactly when a real one would.
        self.console.deliver_to_vm(b"\x03", True, at_once=True)
        self.steps_interrupted += 1  # (a test checks its step was reached)
        self._write_runtime()

    def watchdog(self, timeout_ms: int | None) -> None:
        if timeout_ms is not None:
            self.wdt_period = timeout_ms / 1000 / self.clock_scale
        if self.wdt_period:
            self.wdt_deadline = time.monotonic() + self.wdt_period

    def _on_accept(self) -> None:
        conn, _ = self.listener.accept()
        # Only the board's own VM may drive its radio model and pins: whoever else reaches
        # the socket (another process of this user, the folder's permissions aside) is
        # turned away, and the VM's connection stays.
        pid, uid, _gid = struct.unpack(
            "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        )
        vm_pid = self.vm.pid if self.vm is not None else None
        if pid != vm_pid or uid != os.getuid():
            self.log(f"bridge: refused a connection from pid {pid} (uid {uid}): not the VM")
            conn.close()
            return
        if self.conn is not None:
            self.sel.unregister(self.conn)
            self.conn.close()
        self.conn = conn
        self.parser = BridgeParser(self)
        self.sel.register(conn, selectors.EVENT_READ, "bridge")

    def _on_bridge(self) -> None:
        assert self.conn is not None and self.parser is not None
        try:
            data = self.conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(self.conn)
            self.conn.close()
            self.conn = None
            return
        try:
            reply = self.parser.feed(data)
        except Exception as e:  # a model bug must not take the bench down: log, reset
            self.log(f"bridge error: {type(e).__name__}: {e}")
            self.request_reset("hard")
            return
        if reply and self.conn is not None:
            with contextlib.suppress(OSError):  # the VM may have been reset meanwhile
                self.conn.sendall(reply)

    # --- signals ---
    def _on_signal(self, signum: int, _frame: object) -> None:
        self.signals.append(signum)

    def _handle_signals(self) -> None:
        while self.signals:
            sig = self.signals.pop(0)
            if sig in (signal.SIGTERM, signal.SIGINT):
                self.stopping = True
            elif sig == signal.SIGHUP:
                self.log("reset requested")
                self._reset("hard")
            elif sig == signal.SIGUSR1 and self.powered:
                self.log("power off")
                self.powered = False
                self.pending_cause = "power_on"
                self.bus.power_cut()
                if self.vm is not None:
                    self.vm.kill()
                    self._vm_exited()
            elif sig == signal.SIGWINCH:
                self._load_faults()
            elif sig == signal.SIGUSR2 and not self.powered:
                self.log("power on")
                self.powered = True
                self.pending_cause = None
                self._reset("power_on")

    def run(self) -> int:
        self._ensure_flash()
        self._open_port()
        self._listen()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        for sig in (
            signal.SIGTERM,
            signal.SIGINT,
            signal.SIGHUP,
            signal.SIGUSR1,
            signal.SIGUSR2,
            signal.SIGWINCH,
            signal.SIGCHLD,  # a VM exited (wakes the loop, which polls it)
        ):
            signal.signal(sig, self._on_signal)
        self._load_faults()
        self._start_vm("power_on")
        try:
            while not self.stopping:
                timeout = 0.5
                if self.wdt_deadline is not None:
                    timeout = max(0.0, min(timeout, self.wdt_deadline - time.monotonic()))
                for due in (self.link.next_due(), self.console.next_due()):
                    if due is not None:
                        timeout = max(0.0, min(timeout, due - time.monotonic()))
                asked = time.monotonic() + timeout
                ready = self.sel.select(timeout)
                late = time.monotonic() - asked
                if late >= STALL_NOTE_S:  # the relay could not run: a loaded host
                    self.log(f"relay woke {late * 1000:.0f} ms late (host busy)")
                for key, mask in ready:
                    what = key.data
                    if what == "host":
                        if mask & selectors.EVENT_READ:
                            self.console.on_host(self.powered)
                        if mask & selectors.EVENT_WRITE:
                            self.console.flush_host()
                    elif what == "vm":
                        if key.fd == self.vm_fd and not self.console.on_vm(mask):
                            self._vm_exited()  # end of its stream: the VM exited
                    elif what == "bridge":
                        if self.conn is not None and key.fileobj is self.conn:
                            self._on_bridge()
                    elif what == "accept":
                        self._on_accept()
                    elif what == "wake":
                        os.read(wake_r, 512)
                self._handle_signals()
                now = time.monotonic()
                self.console.retry_interrupt(now)
                self.console.pace(now)
                if self.console.dropped_to_vm != self.dropped_written:
                    self.dropped_written = self.console.dropped_to_vm
                    self._write_runtime()  # what a test or `dbch sim status` reads
                for direction, chunk in self.link.release(now):
                    if direction == INBOUND:
                        self.console.deliver_to_vm(chunk, self.powered)
                    else:
                        self.console.to_host_bytes(chunk)
                if self.link.active and now >= self.link_stats_due:
                    self.link_stats_due = now + 0.5
                    self._write_link_stats()
                if self.vm is not None and self.vm.poll() is not None:
                    self._vm_exited()
                if self.wdt_deadline is not None and time.monotonic() >= self.wdt_deadline:
                    self.log("watchdog expired")
                    self._reset("watchdog")
        finally:
            self._stop_vm()
            for p in (self.folder.runtime, self.folder.tty, self.folder.socket):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            self.log("stopped")
        return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dbch-sim-supervisor", description=__doc__)
    ap.add_argument("--home", required=True, type=Path)
    ap.add_argument("--id", required=True)
    ap.add_argument("--trace-spi", action="store_true", help="log radio SPI transactions")
    ap.add_argument("--heap-kb", type=int, help="override the twin's heap (measurements)")
    ap.add_argument("--kernel", type=Path, help="a QEMU twin's firmware.elf")
    ap.add_argument("--icount", type=int, help="QEMU -icount shift (fixed instruction rate)")
    args = ap.parse_args(argv)
    sup = Supervisor(args.home, args.id, args.trace_spi, args.heap_kb, args.kernel, args.icount)
    return sup.run()


if __name__ == "__main__":
    sys.exit(main())
