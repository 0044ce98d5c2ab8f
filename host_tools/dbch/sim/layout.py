"""Files of a simulated bench. One folder per board (flash survives stop and start) and the
bench-wide clock and air log that all boards share.

    <home>/bench.json        clock (epoch, scale) and interferers, shared by every board
    <home>/air.jsonl         what every simulated radio put on the air (the witness reads it)
    <home>/rom/              the simulated-board ROM, precompiled for the VM
    <home>/<id>/identity.json  which board this is and its unique id (kept across restarts)
    <home>/<id>/flash.img    the board's flash: a littlefs2 image
    <home>/<id>/runtime.json while running: supervisor and VM pids, port, reset count
    <home>/<id>/tty          symlink to the board's port (/dev/pts/N)
    <home>/<id>/faults.json  radio and link faults a test injects (SimBoard.set_faults)
    <home>/<id>/link_faults.json  counts of the link faults injected so far
    <home>/<id>/spi.log      radio SPI transactions, one per line (dbch sim start --trace-spi)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbch import paths


@dataclass(frozen=True)
class BoardFolder:
    root: Path

    @property
    def id(self) -> str:
        return self.root.name

    @property
    def identity(self) -> Path:
        return self.root / "identity.json"

    @property
    def flash(self) -> Path:
        return self.root / "flash.img"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime.json"

    @property
    def tty(self) -> Path:
        return self.root / "tty"

    @property
    def spi_log(self) -> Path:
        return self.root / "spi.log"

    @property
    def faults(self) -> Path:
        return self.root / "faults.json"

    @property
    def hold_unlock(self) -> Path:
        # present: the unlock button is held through the next reset (dbch sim reset --unlock)
        return self.root / "hold_unlock"

    @property
    def link_stats(self) -> Path:
        return self.root / "link_faults.json"

    @property
    def log(self) -> Path:
        return self.root / "supervisor.log"

    @property
    def socket(self) -> Path:
        """The bridge socket: in the board's folder (kept 0700 by the supervisor), or where
        that path is too long for AF_UNIX (107 bytes), in this user's private folder."""
        p = self.root / "bridge.sock"
        if len(str(p)) < 100:
            return p
        digest = hashlib.sha1(str(self.root).encode()).hexdigest()[:16]
        return paths.private_socket_dir() / f"{digest}.sock"


@dataclass(frozen=True)
class BenchFolder:
    home: Path

    @property
    def config(self) -> Path:
        return self.home / "bench.json"

    @property
    def air_log(self) -> Path:
        return self.home / "air.jsonl"

    @property
    def rom(self) -> Path:
        return self.home / "rom"

    def board(self, board_id: str) -> BoardFolder:
        return BoardFolder(self.home / board_id)

    def board_ids(self) -> list[str]:
        if not self.home.exists():
            return []
        found = [p.name for p in self.home.iterdir() if (p / "identity.json").exists()]
        return sorted(found, key=_natural)


def bench_time(epoch0_ns: int, clock_scale: int, now_ns: int | None = None) -> float:
    """The bench clock in seconds since 1970: real time since the bench started, run
    `clock_scale` times faster (the one formula the bench and every supervisor use)."""
    now = time.time_ns() if now_ns is None else now_ns
    return (epoch0_ns + (now - epoch0_ns) * clock_scale) / 1e9


def _natural(s: str) -> tuple[str, int]:
    head = s.rstrip("0123456789")
    tail = s[len(head) :]
    return head, int(tail) if tail else -1


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write: readers see the old or the new file, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); check it is not one.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
