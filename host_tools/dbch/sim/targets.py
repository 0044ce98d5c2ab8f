"""A simulated board as a target: it implements the bench protocols of dbch.checks.targets
(power, reset, and a witness that reads what the simulated radio put on the air)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbch.checks.targets import Target
from dbch.sim.air import read_air_log
from dbch.sim.bench import Bench, SimBoard


@dataclass(frozen=True)
class SimPower:
    board: SimBoard

    def power_cut(self) -> None:
        self.board.kill()


@dataclass(frozen=True)
class SimReset:
    board: SimBoard

    def reset(self) -> None:
        self.board.reset()


@dataclass(frozen=True)
class AirWitness:
    """The bench's spectrum analyser: what `sim_id` emitted, from the air log."""

    bench: Bench
    sim_id: str

    def emissions(self, since_s: float | None) -> list[dict[str, Any]]:
        start = None if since_s is None else self.bench.now() - since_s
        return [
            r
            for r in read_air_log(self.bench.folder.air_log, self.sim_id)
            if start is None or r["t"] >= start
        ]


def sim_target(
    board: SimBoard, name: str | None = None, region: str | None = None, port: str | None = None
) -> Target:
    """`port`: another way to the same board's console (an rfc2217:// URL serving it)."""
    return Target(
        name=name or board.id,
        port=port or board.port,
        region=region,
        board=board.board,
        power=SimPower(board),
        reset=SimReset(board),
        witness=AirWitness(board.bench, board.id),
        simulated=True,
    )
