"""A simulated board's console: the pty tools open like a USB serial device, relayed to and
from the VM's socket, as the board's console kind (its definition's `console`) behaves.
`usb_cdc`, the MCU's own USB: flow control (the host's writes are held back while the VM is
behind; output nobody reads is kept up to what a USB host buffers, then lost), unpaced.
`uart`, a UART behind a USB-serial bridge (the ST-LINK, a CP2102): every byte crosses the
wire at the baud rate in both directions (`Wire`), the bridge holds the host back when its
buffer is full, and on a twin whose unread input waits in its socket (the unix twin) bytes
arriving while the MCU's receive ring (`rx_buffer`) is full are lost: a UART has no flow
control. (docs/boards.md, "The console is part of the board", says where the twins still
differ from a board.) Input waits for the board's first start (as a host's writes wait for
a USB device to enumerate); after a reset or power cut, what arrives before the board has
booted again is lost, as on a board (the USB device went away; a resetting MCU's UART is
not listening): bytes a tool sent before the cut never reach the next boot. Ctrl-C raises
KeyboardInterrupt while code runs (where the twin takes it by signal) but passes through
as a character at the REPL. A tty would do the same with ISIG, but the unix port flushes a
tty's pending input whenever its REPL switches modes, which loses mpremote's Ctrl-A; no
board does that. A bad cable (sim/link_faults.py) sits between the pty and the relay.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import selectors
import struct
import termios
import time
import tty
from collections.abc import Callable
from pathlib import Path

from dbch.sim import vm_interrupt
from dbch.sim.link_faults import INBOUND, OUTBOUND, LinkFaults
from dbch.sim.wire import Wire

TO_VM_LIMIT = 65536  # bytes queued for the VM before the host's writes are held back
# What a USB host keeps of a CDC device's output that nobody has read yet (the cdc-acm
# driver's and the tty's buffers): beyond it, output is lost, as with nobody reading.
TO_HOST_LIMIT = 65536
CTRL_C = 0x03
CTRL_B = 0x02
RAW_BANNER = b"raw REPL; CTRL-B to exit"
REPL_PROMPT = b"\n>>> "
# A USB-serial bridge's buffer toward the board (what the host may write ahead of the wire).
UART_BRIDGE_BUFFER = 1024
# Board output waiting for the wire before the VM's writes block (a UART's TX FIFO and a
# little of the port's buffer).
UART_TX_HOLD = 64


def unread_bytes(fd: int) -> int:
    """Bytes waiting in a socket for its reader (FIONREAD on the reader's end)."""
    buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


# One KeyboardInterrupt per burst of Ctrl-C, as a board's one pending interrupt: a second
# SIGINT would raise again wherever the VM then is, inside the first one's handling.
INTERRUPT_HOLDOFF_S = 0.05
# How long a Ctrl-C waits for the unix twin's VM to reach a point where a board takes it
# (sim/vm_interrupt.py) before it is sent wherever the VM is: code that never waits (a
# loop of pure computation) has no better moment. The agent waits within milliseconds.
INTERRUPT_WAIT_S = 2.0
INTERRUPT_RETRY_S = 0.001


class ConsoleRelay:
    def __init__(
        self,
        sel: selectors.BaseSelector,
        link: LinkFaults,
        interrupts_by_signal: bool,
        debug: Callable[[str], None],
        note: Callable[[str], None],
        bytes_per_s: float | None = None,
        rx_buffer: int = 0,
    ):
        self.sel = sel
        self.link = link
        self.interrupts_by_signal = interrupts_by_signal
        self.debug = debug
        self.note = note  # always logged
        # a uart console: paced both ways, the MCU's receive ring of rx_buffer bytes
        self.paced = bytes_per_s is not None
        self.wire_in = Wire(bytes_per_s)
        self.wire_out = Wire(bytes_per_s)
        self.rx_buffer = rx_buffer
        self.vm_peer: int | None = None  # the VM's end of its socket: what it has not read
        self.from_vm = bytearray()  # board output on the wire (uart)
        self.dropped_to_vm = 0  # bytes lost at a full receive ring (uart)
        self.port = ""
        self.host_fd = -1
        self.vm_fd: int | None = None
        self.vm_pid: int | None = None
        self.to_vm = bytearray()
        self.to_host = bytearray()  # board output the host side has not taken yet
        self.host_reading = True  # whether the host's input is taken (VM flow control)
        self.vm_ready = False  # set when the ROM has booted; host input waits or is lost
        self.input_lost = False  # till then (attach)
        self.raw_repl = False  # the console is in the raw REPL (mpremote's mode)
        self.prompted = False  # this boot has reached the REPL's prompt
        self.dropped_to_host = 0
        self.last_interrupt = 0.0
        self.interrupt_since: float | None = None  # a Ctrl-C the VM has not taken yet
        self.interrupt_tries = 0
        self.interrupt_at_once = False
        self.held = bytearray()  # host input after it: it follows the interrupt
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
    def attach(
        self,
        vm_fd: int,
        vm_pid: int,
        raw_repl: bool,
        vm_peer: int | None = None,
        input_lost: bool = False,
    ) -> None:
        """A new VM behind the console (power on or a reset). `vm_peer`: the VM's end of the
        socket, for a uart console's receive ring. `input_lost`: the board went away (a
        reset or power cut, not a soft reset): what the host sends before it has booted
        again is lost, where at the first start it waits for the board."""
        self.vm_fd, self.vm_pid, self.vm_peer = vm_fd, vm_pid, vm_peer
        self.input_lost = input_lost
        self.sel.register(vm_fd, selectors.EVENT_READ, "vm")
        self.to_vm.clear()  # (the old VM's output may still be crossing the wire)
        if raw_repl:
            # Soft reset from the raw REPL: MicroPython skips main.py and comes back in the
            # raw REPL (mpremote waits for its banner). Ctrl-A, delivered once booted.
            self.to_vm += b"\x01"
        self.raw_repl = False
        self.prompted = False
        self.tail.clear()
        self.vm_ready = False
        self.last_interrupt = 0.0
        self.interrupt_since = None
        self.held.clear()

    def detach(self) -> None:
        if self.vm_fd is not None:
            self._drain_vm()
            if self.vm_fd in self.sel.get_map():
                self.sel.unregister(self.vm_fd)
        self.vm_fd = self.vm_pid = self.vm_peer = None
        # Input still crossing the wire is lost with the board it was for (a power cut or
        # reset while the host sends: pace() must not deliver it to no VM).
        self.vm_ready = False
        self.to_vm.clear()
        self.interrupt_since = None
        self.held.clear()

    def _drain_vm(self) -> None:
        # What the VM wrote before it stopped (a reset right after a reply): on a board the
        # write blocked until the bytes were on the wire, so they reach the host. The
        # socket took them at once here; take them now and let them cross the wire.
        if not self.paced:
            return
        while True:
            try:
                data = os.read(self.vm_fd, 65536)  # type: ignore[arg-type]
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            self._onto_wire(self.link.pass_bytes(OUTBOUND, data, now), now)

    def booted(self) -> None:
        # What the relay itself queued for the new VM (the raw REPL's Ctrl-A after a soft
        # reset from it) goes now; the host's input is taken from here on.
        self.debug(f"booted; {len(self.to_vm)} bytes queued")
        self.vm_ready = True
        self.wire_in.queued(time.monotonic())
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
            now = time.monotonic()
            out = self.link.pass_bytes(OUTBOUND, data, now)
            if out and self.paced:
                self._onto_wire(out, now)
                self.pace(now)
            elif out:
                self.to_host_bytes(out)
            self.tail += data
            del self.tail[:-2048]
            if RAW_BANNER in self.tail[-len(data) - len(RAW_BANNER) :]:
                self.raw_repl = True
            if not self.prompted and REPL_PROMPT in self.tail[-len(data) - len(REPL_PROMPT) :]:
                # Why a boot ended at the REPL (a traceback a tool may have discarded)
                self.prompted = True
                said = self.tail[-600:].decode("utf-8", "replace")
                self.note(f"at the REPL; the board printed before it:\n{said}")
        return True

    def _onto_wire(self, out: bytes, now: float) -> None:
        # board output waits its turn on a uart's wire (an idle line starts it now)
        if not self.from_vm:
            self.wire_out.queued(now)
        self.from_vm += out

    def pump_to_vm(self) -> None:
        if self.vm_fd is None:
            self.to_vm.clear()
            return
        if self.to_vm and self.vm_ready:
            if self.paced:
                self._uart_to_vm(time.monotonic())
            else:
                try:
                    n = os.write(self.vm_fd, self.to_vm)
                    del self.to_vm[:n]
                except BlockingIOError:
                    pass
                except OSError:
                    self.to_vm.clear()
        self._vm_events()
        self._hold_host()

    def _hold_host(self) -> None:
        # Hold the host back while the VM (or the wire) is behind, as USB flow control does.
        limit = UART_BRIDGE_BUFFER if self.paced else TO_VM_LIMIT
        self.host_reading = len(self.to_vm) < limit
        self._host_events()

    def _uart_to_vm(self, now: float) -> None:
        # What has crossed the wire lands in the MCU's receive ring; what finds it full is
        # lost (a UART has no flow control). Without a ring to keep (a QEMU twin), the
        # emulated UART holds the wire back instead: nothing is lost.
        n = min(len(self.to_vm), self.wire_in.allowed(now))
        if not n:
            return
        deliver = n
        if self.vm_peer is not None:
            with contextlib.suppress(OSError):
                deliver = min(n, max(0, self.rx_buffer - unread_bytes(self.vm_peer)))
        try:
            written = os.write(self.vm_fd, self.to_vm[:deliver]) if deliver else 0  # type: ignore[arg-type]
        except BlockingIOError:
            written = 0
        except OSError:
            self.to_vm.clear()
            return
        taken = n if self.vm_peer is not None else written
        lost = taken - written
        if lost:
            self.dropped_to_vm += lost
            self.debug(f"receive ring full: {lost} bytes lost")
        del self.to_vm[:taken]
        self.wire_in.sent(taken)

    def _vm_events(self) -> None:
        if self.vm_fd is None:
            return
        # read the VM's output unless it waits for the wire (a blocking UART write); write
        # while input is queued and the VM has booted (paced input goes out from pace())
        reading = len(self.from_vm) < UART_TX_HOLD
        writable = bool(self.to_vm) and self.vm_ready and not self.paced
        want = (selectors.EVENT_READ if reading else 0) | (
            selectors.EVENT_WRITE if writable else 0
        )
        self._watch(self.vm_fd, want, "vm")

    def pace(self, now: float) -> None:
        """Move what has crossed a uart's wire by `now`, both ways."""
        if not self.paced:
            return
        if self.to_vm and self.vm_ready:
            self._uart_to_vm(now)
        n = min(len(self.from_vm), self.wire_out.allowed(now))
        if n:
            out = bytes(self.from_vm[:n])
            del self.from_vm[:n]
            self.wire_out.sent(n)
            self.to_host_bytes(out)
        self._vm_events()
        self._hold_host()

    def next_due(self) -> float | None:
        """When pace() has bytes to move next, or a Ctrl-C is tried again (None: nothing
        waits)."""
        if self.interrupt_since is not None:
            return time.monotonic() + INTERRUPT_RETRY_S
        if not self.paced:
            return None
        dues = [
            d
            for d in (
                self.wire_in.due(len(self.to_vm)) if self.vm_ready else None,
                self.wire_out.due(len(self.from_vm)),
            )
            if d is not None
        ]
        return min(dues) if dues else None

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
        self._watch(self.host_fd, want, "host")

    def _watch(self, fd: int, want: int, tag: str) -> None:
        # the selector's events for `fd`: none at all means not registered
        registered = fd in self.sel.get_map()
        if want and registered:
            if self.sel.get_key(fd).events != want:
                self.sel.modify(fd, want, tag)
        elif want:
            self.sel.register(fd, want, tag)
        elif registered:
            self.sel.unregister(fd)

    def on_host(self, powered: bool) -> None:
        try:
            data = os.read(self.host_fd, 65536)
        except (BlockingIOError, OSError):
            return
        self.deliver_to_vm(self.link.pass_bytes(INBOUND, data, time.monotonic()), powered)

    def deliver_to_vm(self, data: bytes, powered: bool, at_once: bool = False) -> None:
        """`at_once`: a Ctrl-C in `data` is sent wherever the VM is (a test's Ctrl-C at a
        named boot step, which the VM takes in the bridge call that asked for it)."""
        if not data or self.vm_fd is None or not powered:
            return  # (while the VM restarts, input is lost, as on a board being reset)
        if self.input_lost and not self.vm_ready:
            self.debug(f"{len(data)} bytes lost: the board is starting")
            return
        if self.interrupt_since is not None:
            self.held += data  # after a Ctrl-C the VM has not taken yet: it waits its turn
            return
        if CTRL_C in data and self.vm_ready and self.interrupts_by_signal:
            data = self._interrupt_chars(data, at_once)
        self._queue_to_vm(data)

    def _queue_to_vm(self, data: bytes) -> None:
        if not data:
            return
        if CTRL_B in data:
            self.raw_repl = False
        if not self.to_vm:
            self.wire_in.queued(time.monotonic())
        self.to_vm += data
        self.pump_to_vm()

    def _interrupt_chars(self, data: bytes, at_once: bool) -> bytes:
        # The board's USB CDC driver: while code runs, Ctrl-C is taken out of the stream
        # and raises KeyboardInterrupt; at the REPL it is an ordinary character. (The QEMU
        # twin takes Ctrl-C as a byte on its UART, as the board does: never here.)
        if self.vm_pid is None:
            return data
        now = time.monotonic()
        if now - self.last_interrupt <= INTERRUPT_HOLDOFF_S:
            if vm_interrupt.catches_sigint(self.vm_pid):
                return data.replace(bytes((CTRL_C,)), b"")  # the same burst
            return data
        # Bytes sent before the Ctrl-C reach the VM first, as they would on the wire; those
        # after it wait until the VM has taken it (retry_interrupt).
        at = data.index(CTRL_C)
        self._queue_to_vm(data[:at])
        self.interrupt_since, self.interrupt_tries = now, 0
        self.interrupt_at_once = at_once
        self.held = bytearray(data[at + 1 :])
        self.retry_interrupt(now)
        return b""

    def retry_interrupt(self, now: float) -> None:
        """Interrupt the VM if it is at a point where a board would take a Ctrl-C."""
        if self.interrupt_since is None:
            return
        if self.vm_pid is None:
            self.interrupt_since = None
            return
        how = vm_interrupt.interrupt(
            self.vm_pid,
            anywhere=self.interrupt_at_once or now - self.interrupt_since >= INTERRUPT_WAIT_S,
        )
        self.interrupt_tries += 1
        if how == "later":
            return
        held, self.held = bytes(self.held), bytearray()
        waited = f"{(now - self.interrupt_since) * 1000:.0f} ms, {self.interrupt_tries} looks"
        self.interrupt_since = None
        if how == "sent":
            self.debug(f"Ctrl-C -> SIGINT ({waited})")
            self.last_interrupt = now
            held = held.replace(bytes((CTRL_C,)), b"")  # the same burst: one interrupt
        else:
            self.debug("Ctrl-C passed through (no handler)")
            held = bytes((CTRL_C,)) + held
        self._queue_to_vm(held)
