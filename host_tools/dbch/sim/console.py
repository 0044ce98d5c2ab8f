"""A simulated board's console: the pty tools open like a USB serial device, relayed to and
from the VM's socket. The relay plays the board's USB CDC driver: flow control (the host's
writes are held back while the VM is behind; output nobody reads is kept up to what a USB
host buffers, then lost), input held until the board has booted, and Ctrl-C raising
KeyboardInterrupt while code runs (where the twin takes it by signal) but passed through as
a character at the REPL. A tty would do the same with ISIG, but the unix port flushes a
tty's pending input whenever its REPL switches modes, which loses mpremote's Ctrl-A; no
board does that. A bad cable (sim/link_faults.py) sits between the pty and the relay.
"""

from __future__ import annotations

import contextlib
import os
import pty
import selectors
import signal
import time
import tty
from collections.abc import Callable
from pathlib import Path

from dbch.sim.link_faults import INBOUND, OUTBOUND, LinkFaults

TO_VM_LIMIT = 65536  # bytes queued for the VM before the host's writes are held back
# What a USB host keeps of a CDC device's output that nobody has read yet (the cdc-acm
# driver's and the tty's buffers): beyond it, output is lost, as with nobody reading.
TO_HOST_LIMIT = 65536
CTRL_C = 0x03
CTRL_B = 0x02
RAW_BANNER = b"raw REPL; CTRL-B to exit"
# One KeyboardInterrupt per burst of Ctrl-C: a second SIGINT while the first is still
# pending makes the unix port exit, where a board would just raise again.
INTERRUPT_HOLDOFF_S = 0.05


def catches_sigint(pid: int) -> bool:
    """Whether MicroPython has its SIGINT handler installed: it does while running code with
    the interrupt character enabled (micropython.kbd_intr), not while reading a REPL line."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except OSError:
        pass
    return False


class ConsoleRelay:
    def __init__(
        self,
        sel: selectors.BaseSelector,
        link: LinkFaults,
        interrupts_by_signal: bool,
        debug: Callable[[str], None],
    ):
        self.sel = sel
        self.link = link
        self.interrupts_by_signal = interrupts_by_signal
        self.debug = debug
        self.port = ""
        self.host_fd = -1
        self.vm_fd: int | None = None
        self.vm_pid: int | None = None
        self.to_vm = bytearray()
        self.to_host = bytearray()  # board output the host side has not taken yet
        self.host_reading = True  # whether the host's input is taken (VM flow control)
        self.vm_ready = False  # set when the ROM has booted; host input waits until then
        self.raw_repl = False  # the console is in the raw REPL (mpremote's mode)
        self.dropped_to_host = 0
        self.last_interrupt = 0.0
        self.tail = bytearray()  # last output, logged if the VM dies unexpectedly

    def open(self, link_path: Path) -> str:
        """Open the pty, point `link_path` at it; its path (what tools open)."""
        self.host_fd, slave = pty.openpty()
        tty.setraw(slave)
        self._slave = slave  # held open: the port stays a port with nobody on it
        os.set_blocking(self.host_fd, False)
        self.port = os.ttyname(slave)
        with contextlib.suppress(FileNotFoundError):
            link_path.unlink()
        link_path.symlink_to(self.port)
        self.sel.register(self.host_fd, selectors.EVENT_READ, "host")
        return self.port

    # --- the VM side ---
    def attach(self, vm_fd: int, vm_pid: int, raw_repl: bool) -> None:
        """A new VM behind the console (power on or a reset)."""
        self.vm_fd, self.vm_pid = vm_fd, vm_pid
        self.sel.register(vm_fd, selectors.EVENT_READ, "vm")
        self.to_vm.clear()
        if raw_repl:
            # Soft reset from the raw REPL: MicroPython skips main.py and comes back in the
            # raw REPL (mpremote waits for its banner). Ctrl-A, delivered once booted.
            self.to_vm += b"\x01"
        self.raw_repl = False
        self.vm_ready = False
        self.last_interrupt = 0.0

    def detach(self) -> None:
        if self.vm_fd is not None:
            self.sel.unregister(self.vm_fd)
        self.vm_fd = self.vm_pid = None

    def booted(self) -> None:
        # Bytes the host sent while the board was booting are delivered now, as a USB
        # host's writes wait until the device has enumerated.
        self.debug(f"booted; {len(self.to_vm)} bytes held")
        self.vm_ready = True
        self.pump_to_vm()

    def on_vm(self, mask: int) -> bool:
        """The VM's socket is ready; False when the VM's stream ended (it exited)."""
        if mask & selectors.EVENT_WRITE:
            self.pump_to_vm()
        if mask & selectors.EVENT_READ:
            try:
                data = os.read(self.vm_fd, 65536)  # type: ignore[arg-type]
            except BlockingIOError:
                return True
            except OSError:
                data = b""
            if not data:
                return False
            out = self.link.pass_bytes(OUTBOUND, data, time.monotonic())
            if out:
                self.to_host_bytes(out)
            self.tail += data
            del self.tail[:-2048]
            if RAW_BANNER in self.tail[-len(data) - len(RAW_BANNER) :]:
                self.raw_repl = True
        return True

    def pump_to_vm(self) -> None:
        if self.vm_fd is None:
            self.to_vm.clear()
            return
        if self.to_vm and self.vm_ready:
            try:
                n = os.write(self.vm_fd, self.to_vm)
                del self.to_vm[:n]
            except BlockingIOError:
                pass
            except OSError:
                self.to_vm.clear()
        writable = self.to_vm and self.vm_ready
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if writable else 0)
        self.sel.modify(self.vm_fd, want, "vm")
        # Hold the host back while the VM is not reading, as USB flow control does.
        self.host_reading = len(self.to_vm) < TO_VM_LIMIT
        self._host_events()

    # --- the host side ---
    def to_host_bytes(self, data: bytes) -> None:
        """Queued and written as the pty takes it (a reader busy for a moment loses
        nothing); beyond what a USB host would buffer, output is lost."""
        room = TO_HOST_LIMIT - len(self.to_host)
        self.dropped_to_host += max(0, len(data) - room)
        self.to_host += data[: max(0, room)]
        self.flush_host()

    def flush_host(self) -> None:
        if self.to_host:
            try:
                n = os.write(self.host_fd, self.to_host)
                del self.to_host[:n]
            except BlockingIOError:
                pass
            except OSError:
                self.to_host.clear()
        self._host_events()

    def _host_events(self) -> None:
        # read the host's input unless the VM is behind; write while output is queued
        want = (selectors.EVENT_READ if self.host_reading else 0) | (
            selectors.EVENT_WRITE if self.to_host else 0
        )
        registered = self.host_fd in self.sel.get_map()
        if want and registered:
            if self.sel.get_key(self.host_fd).events != want:
                self.sel.modify(self.host_fd, want, "host")
        elif want:
            self.sel.register(self.host_fd, want, "host")
        elif registered:
            self.sel.unregister(self.host_fd)

    def on_host(self, powered: bool) -> None:
        try:
            data = os.read(self.host_fd, 65536)
        except (BlockingIOError, OSError):
            return
        self.deliver_to_vm(self.link.pass_bytes(INBOUND, data, time.monotonic()), powered)

    def deliver_to_vm(self, data: bytes, powered: bool) -> None:
        if data and self.vm_fd is not None and powered:
            if CTRL_C in data and self.vm_ready:
                data = self._interrupt_chars(data)
            if CTRL_B in data:
                self.raw_repl = False
            self.to_vm += data
            self.pump_to_vm()
        # (while the VM restarts, input is lost, as on a board being reset)

    def _interrupt_chars(self, data: bytes) -> bytes:
        # The board's USB CDC driver: while code runs, Ctrl-C is taken out of the stream
        # and raises KeyboardInterrupt; at the REPL it is an ordinary character.
        if not self.interrupts_by_signal or self.vm_pid is None:
            return data  # a UART carries Ctrl-C as a byte, as a board's does
        if not catches_sigint(self.vm_pid):
            self.debug("Ctrl-C passed through (no handler)")
            return data
        self.debug("Ctrl-C -> SIGINT")
        now = time.monotonic()
        if now - self.last_interrupt > INTERRUPT_HOLDOFF_S:
            self.last_interrupt = now
            # Bytes sent before the Ctrl-C reach the VM first, as they would on the wire.
            before = data[: data.index(CTRL_C)]
            self.to_vm += before
            self.pump_to_vm()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.vm_pid, signal.SIGINT)
            data = data[len(before) :]
        return data.replace(bytes((CTRL_C,)), b"")
