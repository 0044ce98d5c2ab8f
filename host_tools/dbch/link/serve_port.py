"""Serve a board's port over TCP, as ser2net does on a remote bench host: RFC 2217 (pyserial's
PortManager does the Telnet/COM-port negotiation) or raw bytes (`socket://`).

One client at a time; the board's port is opened (exclusively) only while a client is
connected, so local tools can use the board between remote sessions. A second client is
told the port is busy and disconnected.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any

import serial
import serial.rfc2217

from dbch.errors import TransportError
from dbch.link.transport import BAUDRATE, _open_error

log = logging.getLogger("dbch.serve_port")


class _ModemLinesOptional:
    """A serial port whose modem lines may not exist (a pseudo-terminal has none): reading
    them gives False and setting them does nothing, instead of failing the session."""

    _MODEM = frozenset({"cts", "dsr", "ri", "cd", "dtr", "rts", "break_condition"})

    def __init__(self, port: serial.SerialBase):
        object.__setattr__(self, "_port", port)

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self._port, name)
        except (OSError, serial.SerialException):
            if name in self._MODEM:
                return False
            raise

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            setattr(self._port, name, value)
        except (OSError, serial.SerialException, ValueError) as e:
            log.debug("ignored %s=%r: %s", name, value, e)


class PortServer:
    """Listen on (host, port) and relay one client at a time to the board at `url`."""

    def __init__(self, url: str, host: str = "127.0.0.1", port: int = 0, rfc2217: bool = True):
        self.url = url
        self.rfc2217 = rfc2217
        self.sock = socket.create_server((host, port))
        self.address = self.sock.getsockname()[:2]
        self._busy = threading.Lock()
        self._stop = threading.Event()

    @property
    def client_url(self) -> str:
        scheme = "rfc2217" if self.rfc2217 else "socket"
        return f"{scheme}://{self.address[0]}:{self.address[1]}"

    def serve_forever(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, peer = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            if not self._busy.acquire(blocking=False):
                log.info("refused %s: port in use by another client", peer)
                with contextlib.suppress(OSError):
                    client.sendall(b"dbch serve-port: port in use by another client\r\n")
                client.close()
                continue
            threading.Thread(target=self._session, args=(client, peer), daemon=True).start()

    def start(self) -> PortServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self._stop.set()
        self.sock.close()

    def _session(self, client: socket.socket, peer: Any) -> None:
        try:
            try:
                port = serial.serial_for_url(
                    self.url, baudrate=BAUDRATE, timeout=0.05, exclusive=True
                )
            except serial.SerialException as e:
                err: TransportError = _open_error(self.url, e)
                log.warning("client %s: %s", peer, err)
                with contextlib.suppress(OSError):
                    client.sendall(f"dbch serve-port: {err}\r\n".encode())
                return
            log.info("client %s connected to %s", peer, self.url)
            try:
                self._relay(client, port)
            finally:
                port.close()
                log.info("client %s disconnected", peer)
        finally:
            client.close()
            self._busy.release()

    def _relay(self, client: socket.socket, port: serial.SerialBase) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        write_lock = threading.Lock()

        class Connection:
            @staticmethod
            def write(data: bytes) -> None:
                with write_lock:
                    client.sendall(data)

        manager = (
            serial.rfc2217.PortManager(_ModemLinesOptional(port), Connection, log)
            if self.rfc2217
            else None
        )
        done = threading.Event()

        def board_to_client() -> None:
            try:
                while not done.is_set():
                    data = port.read(port.in_waiting or 1)
                    if data:
                        Connection.write(b"".join(manager.escape(data)) if manager else data)
                    elif manager is not None:
                        manager.check_modem_lines()
            except (OSError, serial.SerialException):
                pass
            finally:
                done.set()

        reader = threading.Thread(target=board_to_client, daemon=True)
        reader.start()
        client.settimeout(0.2)
        try:
            while not done.is_set() and not self._stop.is_set():
                try:
                    data = client.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    break
                port.write(b"".join(manager.filter(data)) if manager else data)
        except (OSError, serial.SerialException):
            pass
        finally:
            done.set()
            reader.join(1.0)
