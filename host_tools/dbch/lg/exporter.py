"""A bench as a labgrid exporter: its configuration file, and the places that use it.

Each board is one resource group named after the board: a USB board as a `USBSerialPort`
matched by its USB serial number (udev's ID_SERIAL_SHORT, so it is found on whichever USB
port it is plugged into), a simulated board or a fixed device as a `RawSerialPort`. The
exporter serves each through ser2net; clients see a `NetworkSerialPort`.

Places carry tags for choosing boards: `dbch=1` on every one, `board` (definition id),
`radio` (chip) and `region` (CSP region) where the bench knows them, so
`dbch fleet check --places dbch=1,region=north` finds them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from dbch.boards.definitions import get_board
from dbch.errors import DbchError
from dbch.link.transport import BAUDRATE


@dataclass
class ExportedBoard:
    group: str  # the resource group, and the place's name
    resource: dict[str, Any]  # {"USBSerialPort": {...}} or {"RawSerialPort": {...}}
    tags: dict[str, str] = field(default_factory=dict)


def board_tags(board: str | None, region: str | None) -> dict[str, str]:
    tags = {"dbch": "1"}
    if board:
        tags["board"] = board
        tags["radio"] = get_board(board).radio.chip
    if region:
        tags["region"] = region
    return tags


def from_bench(entries: Iterable[Any]) -> list[ExportedBoard]:
    """Boards of a bench file (checks.fleet.bench_entries). A board given by a network URL
    is served by another host already and is left out."""
    out = []
    for e in entries:
        if e.serial is not None:
            res = {"USBSerialPort": {"match": {"ID_SERIAL_SHORT": e.serial}, "speed": BAUDRATE}}
        elif e.port and e.port.startswith("/dev/"):
            res = {"RawSerialPort": {"port": e.port, "speed": BAUDRATE}}
        else:
            continue
        out.append(ExportedBoard(e.name, res, board_tags(e.board, e.region)))
    return out


def from_sim(boards: Iterable[Any], region: str | None = None) -> list[ExportedBoard]:
    """Running simulated boards (sim.bench.SimBoard): their pty as a RawSerialPort."""
    return [
        ExportedBoard(
            b.id,
            {"RawSerialPort": {"port": b.port, "speed": BAUDRATE}},
            board_tags(b.board, region),
        )
        for b in boards
    ]


def exporter_yaml(boards: list[ExportedBoard]) -> str:
    if not boards:
        raise DbchError("no boards to export")
    names = [b.group for b in boards]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DbchError(f"board names must be unique in one exporter: {', '.join(dupes)}")
    return yaml.safe_dump({b.group: b.resource for b in boards}, sort_keys=False)


def place_commands(boards: list[ExportedBoard], exporter: str) -> list[list[str]]:
    """labgrid-client command lines that create a place per board, matched to this
    exporter's group and tagged (run once per lab; `-x` or LG_COORDINATOR says where)."""
    out = []
    for b in boards:
        p = ["labgrid-client", "-p", b.group]
        out.append([*p, "create"])
        out.append([*p, "add-match", f"{exporter}/{b.group}/NetworkSerialPort"])
        out.append([*p, "set-tags", *(f"{k}={v}" for k, v in b.tags.items())])
    return out


def place_script(boards: list[ExportedBoard], exporter: str) -> str:
    lines = [shlex.join(c) for c in place_commands(boards, exporter)]
    return "\n".join(lines) + "\n"
