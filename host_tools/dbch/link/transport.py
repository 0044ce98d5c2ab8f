"""Bytes to and from a board, opened by URL with pyserial's serial_for_url.

`/dev/ttyACM0`, a simulated board's `/dev/pts/N`, `socket://host:port` and
`rfc2217://host:port` (ser2net) all look the same from here up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import time
from typing import TYPE_CHECKING, Any

import serial

from dbch.errors import PortBusyError, TransportError

if TYPE_CHECKING:
    import socket

BAUDRATE = 115200
REMOTE_POLL_S = 0.05


class Transport:
    """An open port that yields whole lines; nothing above this asks what kind of port."""

    def __init__(self, url: str, exclusive: bool = True):
        self.url = url
        try:
            kwargs = {"exclusive": True} if exclusive and _is_local(url) else {}
            if url.startswith("rfc2217://"):  # pyserial's, reading whole chunks
                from dbch.link import rfc2217  # (network ports import what they need)

                self.serial = rfc2217.open_port(url, BAUDRATE, 0)
            else:
                self.serial = serial.serial_for_url(url, baudrate=BAUDRATE, timeout=0, **kwargs)
        except serial.SerialException as e:
            raise _open_error(url, e) from None
        except ValueError as e:
            raise TransportError(f"{url}: {e}") from None
        except OSError as e:  # a remote port that closed on us: e.g. served to someone else
            raise TransportError(
                f"{url}: cannot open: {e.strerror or e} (the remote end closed the "
                "connection; is the port in use by another client?)"
            ) from None
        self._buf = bytearray()
        self._local = _is_local(url)
        if not self._local:
            _ack_at_once(self.serial)
        self._timeout: float | None = 0
        # A local port on a POSIX host is read through its file descriptor: waiting with
        # select() leaves the port's settings alone, where changing pyserial's timeout
        # before each read costs a tcsetattr() call (a third of a status round trip).
        self._fd: int | None = None
        if self._local and os.name == "posix":
            try:
                self._fd = self.serial.fileno()
            except (AttributeError, serial.SerialException):
                self._fd = None

    def close(self) -> None:
        self.serial.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        try:
            self.serial.write(data)
            if self._fd is None:
                self.serial.flush()  # local writes have reached the kernel on return
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"{self.url}: write failed: {e}") from None

    def discard_input(self) -> None:
        """Drop whatever the board sent before now (stale output from an earlier run)."""
        self._buf.clear()
        try:
            self.serial.reset_input_buffer()
            while self.serial.in_waiting:
                self.serial.read(self.serial.in_waiting)
        except (serial.SerialException, OSError) as e:
            raise TransportError(f"{self.url}: {e}") from None

    def read_line(self, timeout: float) -> bytes | None:
        """The next line (with its newline), or None if none completes within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[: nl + 1])
                del self._buf[: nl + 1]
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._fill(remaining)

    def _fill(self, timeout: float) -> None:
        # Block for the first byte, then take everything already waiting in one read:
        # reading byte by byte would cost a system call per character.
        if self._fd is not None:
            self._fill_fd(timeout)
            return
        try:
            # Changing the timeout reconfigures the port: for rfc2217 that is a network round
            # trip, so remote ports poll with one fixed timeout instead.
            wanted = timeout if self._local else min(timeout, REMOTE_POLL_S)
            if wanted != self._timeout:
                self.serial.timeout = self._timeout = wanted
            first = self.serial.read(1)
            if first:
                self._buf += first
                waiting = self.serial.in_waiting
                if waiting:
                    self._buf += self.serial.read(waiting)
        except (serial.SerialException, OSError) as e:
            lost = "" if self._local else " (connection lost: the server or its board went away)"
            why = str(e).removeprefix("read failed: ")  # pyserial's socket:// says it too
            raise TransportError(f"{self.url}: read failed: {why}{lost}") from None

    def _fill_fd(self, timeout: float) -> None:
        try:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            if not ready:
                return
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            raise TransportError(f"{self.url}: read failed: {e}") from None
        if not data:
            # Readable with nothing to read: the other end is gone (board unplugged,
            # simulated board stopped), as pyserial reports it.
            raise TransportError(f"{self.url}: read failed: the port was closed or unplugged")
        self._buf += data


class _QuickAckSocket:
    """A TCP socket that acknowledges every segment at once. ser2net (as labgrid's exporter
    runs it) leaves Nagle's algorithm on, so the second part of a reply waits for our ACK of
    the first, and Linux delays that ACK by up to 40 ms: 45 ms per round trip instead of 4.
    TCP_QUICKACK is not sticky, so it is set again after every receive."""

    def __init__(self, sock: socket.socket, option: tuple[int, int]):
        self._sock = sock
        self._option = option  # (IPPROTO_TCP, TCP_QUICKACK)

    def recv(self, size: int, *flags: int) -> bytes:
        data = self._sock.recv(size, *flags)
        with contextlib.suppress(OSError):
            self._sock.setsockopt(*self._option, 1)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _ack_at_once(port: serial.SerialBase) -> None:
    import socket  # network ports only: a local port's start-up does without it

    sock = getattr(port, "_socket", None)  # pyserial's rfc2217:// and socket:// ports
    quickack = getattr(socket, "TCP_QUICKACK", None)  # Linux only
    if quickack is not None and isinstance(sock, socket.socket):
        port._socket = _QuickAckSocket(sock, (socket.IPPROTO_TCP, quickack))  # type: ignore[attr-defined]


def _is_local(url: str) -> bool:
    return "://" not in url


def _open_error(url: str, e: serial.SerialException) -> TransportError:
    text = str(e)
    if (
        isinstance(e.__cause__, BlockingIOError)
        or "lock" in text.lower()
        or (getattr(e, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK))
    ):
        return PortBusyError(f"{url}: port in use by another program")
    text = text.removeprefix(f"Could not open port {url}: ")  # pyserial repeats the URL
    if not _is_local(url) and "Connection refused" in text:
        return TransportError(
            f"{url}: connection refused: nothing serves it now (is its ser2net, labgrid "
            "exporter or `dbch serve-port` running?)"
        )
    return TransportError(f"{url}: cannot open: {text}")
