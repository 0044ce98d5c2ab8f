"""Serve one board's port over TCP with ser2net, as a labgrid exporter does for each board.

`dbch serve-port` is a one-line way to put a single board (a simulated one on this host, a
USB board on a bench PC) on the network without writing a ser2net or exporter file: RFC
2217 (`rfc2217://HOST:PORT?ign_set_control`) or raw bytes (`socket://HOST:PORT`). ser2net
(Debian package `ser2net`, scripts/setup-debian.sh) does the serving; this module only
writes its configuration, starts it and waits until it listens.

ser2net takes one client at a time here (`max-connections: 1`): a second one is told the
port is in use and disconnected. It does not lock the device against local programs;
labgrid places (docs/labs.md) are how a lab keeps two users off one board.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from dbch.errors import TransportError
from dbch.link.transport import BAUDRATE

SER2NET_DEBIAN_PATH = "/usr/sbin/ser2net"  # not on a normal user's PATH on Debian
START_TIMEOUT_S = 10.0


def ser2net_program() -> str:
    found = shutil.which("ser2net") or (
        SER2NET_DEBIAN_PATH if os.path.exists(SER2NET_DEBIAN_PATH) else None
    )
    if found is None:
        raise TransportError(
            "ser2net is not installed (Debian: apt install ser2net; scripts/setup-debian.sh)"
        )
    return found


def free_tcp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ser2net_config(device: str, host: str, port: int, rfc2217: bool = True) -> str:
    """ser2net 4's YAML for one connection (the form labgrid's exporter writes)."""
    accepter = (
        f"telnet(rfc2217,mode=server),tcp,{host},{port}" if rfc2217 else f"tcp,{host},{port}"
    )
    return (
        "connection: &dbch\n"
        f"  accepter: {accepter}\n"
        f"  connector: serialdev(nouucplock=true),{device},{BAUDRATE}n81,local\n"
        "  options:\n"
        "    max-connections: 1\n"
        "    kickolduser: false\n"
        # Send what the board wrote at once: ser2net otherwise waits for the line to go
        # quiet (at least 1 ms), about 3 ms per round trip here (docs/labs.md, Speed).
        "    chardelay: false\n"
    )


def _die_with_parent() -> None:
    # In the child, before ser2net runs: the kernel stops it when its parent ends, however
    # that ends (a signal Python does not turn into an exception, SIGKILL, a crash). A
    # ser2net left behind keeps listening on a pty path that a later board may reuse.
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Ser2net:
    """ser2net serving `device` at (host, port); port 0 picks a free one."""

    def __init__(self, device: str, host: str = "127.0.0.1", port: int = 0, rfc2217: bool = True):
        if not device.startswith("/dev/"):
            raise TransportError(f"{device}: ser2net serves a local device (/dev/...)")
        self.device = device
        self.host = host
        self.port = port or free_tcp_port(host)
        self.rfc2217 = rfc2217
        self._dir = Path(tempfile.mkdtemp(prefix="dbch-ser2net-"))
        self.config_file = self._dir / "ser2net.yaml"
        self.config_file.write_text(ser2net_config(device, host, self.port, rfc2217))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        if self.rfc2217:
            return f"rfc2217://{self.host}:{self.port}?ign_set_control"
        return f"socket://{self.host}:{self.port}"

    def start(self) -> Ser2net:
        # -n: stay in the foreground (we own the process); -d: log to stderr, not syslog;
        # -P: its pid file in our folder (the default, /run, needs root).
        self.log_file = self._dir / "ser2net.log"  # a file: a pipe nobody reads would fill
        with open(self.log_file, "wb") as log:
            pid_file = str(self._dir / "pid")
            self.proc = subprocess.Popen(
                [ser2net_program(), "-n", "-d", "-c", str(self.config_file), "-P", pid_file],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.log_file.read_text(errors="replace").strip()[-300:]
                raise TransportError(f"ser2net for {self.device} exited: {err}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                # That probe was a client: give ser2net a moment to take the next one.
                time.sleep(0.1)
                return self
            except OSError:
                time.sleep(0.05)
        self.close()
        raise TransportError(f"ser2net for {self.device} is not listening on {self.port}")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Ser2net:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
