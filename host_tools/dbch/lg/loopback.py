"""A labgrid lab on this machine's loopback: a coordinator, exporters (each a "bench host"
serving its boards through ser2net) and places, as real processes.

The tests, `make bench` and scripts use it to bring a simulated lab up and use it exactly as
a real one: `dbch fleet check --places dbch=1` with LG_COORDINATOR set to `address`. Its
labgrid-client helpers also make the places of a real lab (`dbch lab places --run`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from dbch.errors import DbchError
from dbch.lg.exporter import ExportedBoard, exporter_yaml, place_commands
from dbch.link.ser2net import free_tcp_port

START_TIMEOUT_S = 30.0


def program(name: str) -> str:
    """labgrid's programs come with the Python package, beside this interpreter."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def labgrid_client(
    *args: str, address: str | None = None, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """labgrid-client with `args`, at `address` (else LG_COORDINATOR), as `user` (else the
    login: LG_USERNAME)."""
    where = ["-x", address] if address else []
    return subprocess.run(
        [program("labgrid-client"), *where, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **({"LG_USERNAME": user} if user else {})},
    )


def create_places(
    boards: list[ExportedBoard], exporter: str, address: str | None = None, tags: bool = True
) -> None:
    """Run place_commands with labgrid-client (a place that exists already is kept)."""
    for cmd in place_commands(boards, exporter):
        if cmd[3] == "set-tags" and not tags:
            continue
        out = labgrid_client(*cmd[1:], address=address)
        if out.returncode != 0 and "already exists" not in out.stderr:
            raise DbchError(f"{' '.join(cmd)}: {out.stderr.strip() or out.returncode}")


class LoopbackLab:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.address = f"127.0.0.1:{free_tcp_port('127.0.0.1')}"
        self.coordinator: subprocess.Popen[bytes] | None = None
        self.exporters: dict[str, subprocess.Popen[bytes]] = {}
        self.boards: dict[str, list[ExportedBoard]] = {}

    @property
    def env(self) -> dict[str, str]:
        """The environment for labgrid's and our clients: where the coordinator is."""
        return {**os.environ, "LG_COORDINATOR": self.address}

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115  (the child's)
        # A session of its own: stopping it stops what it started (an exporter's ser2net).
        proc = subprocess.Popen(
            argv, cwd=self.workdir, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        return proc

    def start(self) -> LoopbackLab:
        self.coordinator = self._spawn(
            "coordinator", [program("labgrid-coordinator"), "-l", self.address]
        )
        host, port = self.address.split(":")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.coordinator.poll() is not None:
                raise DbchError(f"labgrid-coordinator exited: see {self.workdir}/coordinator.log")
            try:
                socket.create_connection((host, int(port)), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise DbchError("labgrid-coordinator is not listening") from None
                time.sleep(0.1)

    def client(
        self, *args: str, check: bool = True, user: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """labgrid-client against this lab; `user`: as another user (LG_USERNAME)."""
        out = labgrid_client(*args, address=self.address, user=user)
        if check and out.returncode != 0:
            raise DbchError(f"labgrid-client {' '.join(args)}: {out.stderr.strip()}")
        return out

    def start_exporter(self, name: str, boards: list[ExportedBoard]) -> None:
        """An exporter named `name` serving `boards`; returns when the coordinator lists
        every one of them as available."""
        config = self.workdir / f"{name}.yaml"
        config.write_text(exporter_yaml(boards))
        self.boards[name] = boards
        self.exporters[name] = self._spawn(
            name,
            [
                program("labgrid-exporter"),
                "--name",
                name,
                "--hostname",
                "127.0.0.1",
                "-c",
                self.address,
                str(config),
            ],
        )
        self.wait_available(name)

    def wait_available(self, name: str) -> None:
        wanted = {f"{name}/{b.group}/NetworkSerialPort" for b in self.boards[name]}
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            proc = self.exporters[name]
            if proc.poll() is not None:
                raise DbchError(f"exporter {name} exited: see {self.workdir}/{name}.log")
            shown = set(self.client("resources", check=False).stdout.split())
            if wanted <= shown:
                return
            if time.monotonic() > deadline:
                raise DbchError(f"exporter {name}: {sorted(wanted - shown)} never appeared")
            time.sleep(0.3)

    def create_places(self, exporter: str, tags: bool = True) -> None:
        """A place per board of `exporter`, matched to it (tagged unless `tags` is False)."""
        create_places(self.boards[exporter], exporter, self.address, tags)

    def stop_exporter(self, name: str) -> None:
        """Kill the exporter and the ser2net processes it started: its boards are gone."""
        proc = self.exporters.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for name in list(self.exporters):
            self.stop_exporter(name)
        if self.coordinator is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.coordinator.pid, signal.SIGKILL)
            self.coordinator.wait(10)
            self.coordinator = None

    def __enter__(self) -> LoopbackLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
