"""Ctrl-C into the unix twin's VM at a point where a board would take it.

On a board, Ctrl-C arriving while code runs only marks a KeyboardInterrupt pending; the VM
raises it at its next check (a jump in the bytecode, a wait for input or time), never in
the middle of C code. The unix port (MICROPY_ASYNC_KBD_INTR) raises it from its SIGINT
handler wherever the signal lands: in the garbage collector that leaves the heap locked
("MemoryError: ... heap is locked", then "FATAL: uncaught NLR", and the VM exits), in
littlefs halfway through a commit, in a read from the radio bridge. So the relay stops the
VM, looks at what it is doing, and sends the signal only while it waits in a system call
that is such a check (poll, sleep, a read of its console); otherwise it lets it run and
tries again a moment later. Stopped, the VM cannot change its handler or leave the call
between the look and the signal.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import time

# System calls in which the unix port waits for input or for time (select.poll, time.sleep,
# the console's read), by architecture: read's number first (a read only counts on fd 0).
_WAITS = {
    # read; poll, select, nanosleep, restart_syscall (a wait our own stop interrupted,
    # resumed), clock_nanosleep, epoll_wait, pselect6, ppoll, epoll_pwait, epoll_pwait2
    "x86_64": (0, frozenset({7, 23, 35, 219, 230, 232, 270, 271, 281, 441})),
    # read; nanosleep, restart_syscall, clock_nanosleep, pselect6, ppoll, epoll_pwait,
    # epoll_pwait2
    "aarch64": (63, frozenset({101, 128, 115, 72, 73, 22, 441})),
}
STOP_WAIT_S = 0.02  # a VM in uninterruptible sleep (disk) that does not stop: try later


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


def waiting(syscall_line: str, machine: str | None = None) -> bool | None:
    """Whether a stopped task's /proc/PID/syscall line shows a wait at which MicroPython
    takes an interrupt. None: this machine's system call numbers are not known here."""
    waits = _WAITS.get(machine or platform.machine())
    if waits is None:
        return None
    fields = syscall_line.split()
    if not fields or fields[0] in ("running", "-1"):
        return False  # running Python or C code (the collector, littlefs): not now
    nr = int(fields[0])
    if nr == waits[0]:
        return len(fields) > 1 and int(fields[1], 16) == 0  # its console, not a file/socket
    return nr in waits[1]


def _stopped(pid: int) -> bool:
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("T", "t"):
            return True
        if state in ("Z", "X"):
            return False
        time.sleep(0.0001)
    return False


def interrupt(pid: int, anywhere: bool = False) -> str:
    """Try to interrupt the VM `pid` as a board would. Returns 'sent' (SIGINT at a wait),
    'char' (no handler installed: the Ctrl-C is an ordinary character, as at a REPL), or
    'later' (busy in code where a board would not take it yet: try again). `anywhere`:
    wherever it is (a loop that never waits has no better moment)."""
    if not catches_sigint(pid):
        return "char"  # (a Ctrl-C flood at a locked board: no stop per byte)
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return "char"
    try:
        if not _stopped(pid) and not anywhere:
            return "later"  # (a loaded host: not scheduled to stop yet; forced, it goes)
        if not catches_sigint(pid):
            return "char"  # it just went back to its REPL
        try:
            with open(f"/proc/{pid}/syscall") as f:
                at_wait = waiting(f.read())
        except OSError:
            at_wait = None
        if at_wait is False and not anywhere:
            return "later"
        # at a wait, or no way to tell (another architecture): as the port itself would
        os.kill(pid, signal.SIGINT)  # pending while stopped: taken in that call on resuming
        return "sent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
