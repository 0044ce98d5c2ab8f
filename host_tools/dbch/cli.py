"""The `dbch` command: a table of verbs, each `do_<verb>(args) -> exit code`.

Exit codes scripts can rely on: 0 success; 1 the operation ran and failed (the device
refused, a check failed); 2 it could not run (bad usage or input file, port unreachable
or in use, simulator problem); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from . import (
    __version__,
    cmd_agent,
    cmd_boards,
    cmd_check,
    cmd_device,
    cmd_keys,
    cmd_sim,
    cmd_tables,
    cmd_witness,
)
from .errors import DbchError

Handler = Callable[[argparse.Namespace], int]

# verb -> (module with do_/add_ functions, one-line help)
COMMANDS: dict[str, tuple[object, str]] = {
    "hello": (cmd_device, "identify the agent: firmware, board, radio, unique id"),
    "status": (cmd_device, "health of the agent: uptime, reset cause, heap, counters"),
    "console": (cmd_device, "show what the board prints (console lines and events)"),
    "deploy": (cmd_device, "put the firmware on a board with mpremote, then reset it"),
    "apply": (cmd_agent, "set a table region's (or a DUIS request's) configuration"),
    "config": (cmd_agent, "the configuration in force on the agent (DBCH03)"),
    "channel": (cmd_agent, "the operating channel (DBCH01)"),
    "scan": (cmd_agent, "energy scan of the allowed channels, change if agility allows (DBCH05)"),
    "channel-log": (cmd_agent, "the channel change log (DBCH02)"),
    "traffic": (cmd_agent, "send frames through the transmit gate; report sent and refused"),
    "test-tx": (cmd_agent, "one test frame on a chosen frequency (still through the gate)"),
    "events": (cmd_agent, "follow the agent's alerts and events live"),
    "logs": (cmd_agent, "download (and optionally clear) the event log kept on flash"),
    "check": (cmd_check, "check a board against a table: config, radio readback, witness"),
    "fleet": (cmd_check, "apply or check many boards at once (ports, bench file, --sim N)"),
    "monitor": (cmd_check, "live status line and alerts from one agent"),
    "serve-port": (cmd_device, "serve a board's port over TCP (RFC 2217 or raw), as ser2net"),
    "key": (cmd_keys, "the board's bench key that authorises changes: show, provision, rotate"),
    "sim": (cmd_sim, "simulated boards: start, list, reset, kill, stop"),
    "boards": (cmd_boards, "board definitions: list, show, validate"),
    "witness": (cmd_witness, "what simulated radios put on the air (independent of agents)"),
    "tables": (cmd_tables, "SEC DBCH configuration tables: list, show, validate, diff, impact"),
    "gbcs": (cmd_tables, "GBCS DLMS encoding of the Sub GHz configuration: encode, decode"),
    "duis": (cmd_tables, "DUIS 6.28 SetCHFSubGHzConfiguration XML: import, export"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dbch",
        description="DBCH configuration agent tools: simulated boards, deploy, link, checks.",
        epilog="Ports: /dev/ttyACM0, a simulated board's /dev/pts/N or sim:ID, "
        "socket://host:port, rfc2217://host:port. Exit codes: 0 ok, 1 failed, 2 could not run.",
    )
    parser.add_argument("--version", action="version", version=f"dbch {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb, (module, text) in COMMANDS.items():
        p = sub.add_parser(verb, help=text, description=text)
        getattr(module, f"add_{verb.replace('-', '_')}_args")(p)
        p.set_defaults(handler=getattr(module, f"do_{verb.replace('-', '_')}"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except DbchError as e:
        print(f"dbch: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("dbch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dbch ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
