"""Naming a board's port on the command line."""

from __future__ import annotations

import argparse
import os

from .errors import DbchError


def add_port_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "-p",
        "--port",
        default=os.environ.get("DBCH_PORT"),
        help="the board's port: /dev/ttyACM0, /dev/pts/N, sim:ID (a simulated board), "
        "socket://HOST:PORT or rfc2217://HOST:PORT (default: $DBCH_PORT)",
    )
    p.set_defaults(_port_required=required)


def add_port_and_json_args(p: argparse.ArgumentParser) -> None:
    """The arguments of a command that reads one board: its port, and --json."""
    add_port_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def resolve_port(spec: str | None) -> str:
    """A port URL from what the user typed; `sim:ID` names a running simulated board."""
    if not spec:
        raise DbchError("no port given: use --port (or set DBCH_PORT)")
    if spec.startswith("sim:"):
        from .sim.bench import Bench

        return Bench().board(spec[4:]).port
    return spec
