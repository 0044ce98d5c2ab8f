"""The shared air of a simulated bench: what every simulated radio puts on it.

Each chip model appends one JSON line per emission to <bench>/air.jsonl (the witness, a
lab spectrum analyser, reads it independently of what any agent claims) and reads other
boards' emissions back, with the bench's interferers, to answer RSSI.
Times are bench-clock seconds (the clock every board on the bench shares).
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbch.gbcs import channel_plan as plan
from dbch.sim.layout import BenchFolder, read_json

NOISE_FLOOR_DBM = -110.0
DEFAULT_PATH_LOSS_DB = 60.0  # board to board on a bench, through attenuators
NEIGHBOUR_HZ = 100_000  # within half the occupied bandwidth of the tuned frequency: heard
MASKED_BANDS_HZ = (plan.MASKED_BAND_HZ,)


@dataclass(frozen=True)
class Emission:
    board: str
    t: float
    freq_hz: int
    power_dbm: float
    duration_us: int

    @property
    def end(self) -> float:
        return self.t + self.duration_us / 1e6


class Air:
    """One board's view of the bench's air."""

    def __init__(self, bench: BenchFolder, board_id: str):
        self.bench = bench
        self.board_id = board_id
        self._offset = 0
        self._recent: deque[Emission] = deque()
        self._config_mtime = -1.0
        self._interferers: list[dict[str, Any]] = []
        self._masked: tuple[tuple[int, int], ...] = MASKED_BANDS_HZ
        self.path_loss_db = DEFAULT_PATH_LOSS_DB

    def emit(self, record: dict[str, Any]) -> None:
        record = {"board": self.board_id, **record}
        line = json.dumps(record, separators=(",", ":")) + "\n"
        # One write of a short line with O_APPEND: boards never interleave within a line.
        fd = os.open(self.bench.air_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def _reload_config(self) -> None:
        try:
            mtime = self.bench.config.stat().st_mtime
        except FileNotFoundError:
            mtime = 0.0
        if mtime != self._config_mtime:
            self._config_mtime = mtime
            cfg = read_json(self.bench.config) or {}
            self._interferers = cfg.get("interferers", [])
            self.path_loss_db = float(cfg.get("path_loss_db", DEFAULT_PATH_LOSS_DB))
            bands = cfg.get("masked_bands", MASKED_BANDS_HZ)
            self._masked = tuple((int(lo), int(hi)) for lo, hi in bands)

    def _refresh(self, now: float) -> None:
        self._reload_config()
        try:
            with open(self.bench.air_log, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            data = b""
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("emitted") and r.get("board") != self.board_id:
                self._recent.append(
                    Emission(
                        r["board"],
                        r["t"],
                        r["freq_hz"],
                        float(r["power_dbm"]),
                        int(r["duration_us"]),
                    )
                )
        while self._recent and self._recent[0].end < now - 5:
            self._recent.popleft()

    def power_at(self, freq_hz: int, now: float) -> float:
        """What a receiver tuned to `freq_hz` hears now, in dBm."""
        self._refresh(now)
        level = NOISE_FLOOR_DBM
        for i in self._interferers:
            if abs(i["freq_hz"] - freq_hz) <= NEIGHBOUR_HZ:
                level = max(level, float(i["power_dbm"]))
        for e in self._recent:
            if e.t <= now < e.end and abs(e.freq_hz - freq_hz) <= NEIGHBOUR_HZ:
                level = max(level, e.power_dbm - self.path_loss_db)
        return level

    def masked_bands(self) -> tuple[tuple[int, int], ...]:
        """Bands the chip models refuse to transmit in (bench.json `masked_bands`; the
        default is 915-921 MHz). A model-only test may clear it to prove the witness
        sees what a model emits there."""
        self._reload_config()
        return self._masked


def read_air_log(path: Path, board: str | None = None) -> list[dict[str, Any]]:
    """Every record in an air log (the witness's view), optionally for one board."""
    return read_air_log_from(path, 0, board)[0]


def read_air_log_from(
    path: Path, offset: int, board: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The records written after byte `offset` (whole lines: one being written is left for
    the next read), optionally for one board, and the offset to read from next."""
    out: list[dict[str, Any]] = []
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return out, offset
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if board is None or r.get("board") == board:
            out.append(r)
    return out, offset + end
