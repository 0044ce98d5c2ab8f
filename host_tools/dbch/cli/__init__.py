"""The `dbch` command: one explicit table of verbs (as mpremote's `_COMMANDS`).

Each verb names the module that runs it, its handler, the function that adds its
arguments (all in `cli/args.py`) and one line of help. The parser is built from the table
alone; a command's module is imported only when that command runs, so `dbch --help` and
every query start fast.

Exit codes scripts can rely on: 0 success; 1 the operation ran and failed (the device
refused, a check failed); 2 it could not run (bad usage or input file, port unreachable
or in use, simulator problem); 130 interrupted.

The cli package is the only place that writes to stdout/stderr; nothing imports it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from typing import NamedTuple

from dbch import __version__
from dbch.cli import args as a
from dbch.errors import DbchError


class Command(NamedTuple):
    runs: str  # "module:handler" under dbch.cli: the module is imported when it runs
    add_args: Callable[[argparse.ArgumentParser], None]
    help: str

    @property
    def module(self) -> str:
        return self.runs.split(":")[0]

    @property
    def handler(self) -> str:
        return self.runs.split(":")[1]


COMMANDS: dict[str, Command] = {
    "hello": Command(
        "device:do_hello",
        a.add_port_and_json_args,
        "identify the agent: firmware, board, radio, uid",
    ),
    "status": Command(
        "device:do_status",
        a.add_port_and_json_args,
        "health of the agent: uptime, reset cause, heap",
    ),
    "console": Command(
        "device:do_console",
        a.add_console_args,
        "show what the board prints (console lines and events)",
    ),
    "deploy": Command(
        "device:do_deploy",
        a.add_deploy_args,
        "put the firmware on a board with mpremote, then reset it",
    ),
    "apply": Command(
        "agent:do_apply",
        a.add_apply_args,
        "set a table region's (or a DUIS request's) configuration",
    ),
    "config": Command(
        "agent:do_config",
        a.add_port_and_json_args,
        "the configuration in force on the agent (DBCH03)",
    ),
    "channel": Command(
        "agent:do_channel", a.add_port_and_json_args, "the operating channel (DBCH01)"
    ),
    "scan": Command(
        "agent:do_scan",
        a.add_port_and_json_args,
        "energy scan of the allowed channels, change if agility allows (DBCH05)",
    ),
    "channel-log": Command(
        "agent:do_channel_log", a.add_port_and_json_args, "the channel change log (DBCH02)"
    ),
    "traffic": Command(
        "agent:do_traffic",
        a.add_traffic_args,
        "send frames through the transmit gate; sent and refused",
    ),
    "test-tx": Command(
        "agent:do_test_tx",
        a.add_test_tx_args,
        "one test frame on a chosen frequency (through the gate)",
    ),
    "events": Command(
        "agent:do_events", a.add_events_args, "follow the agent's alerts and events live"
    ),
    "logs": Command(
        "agent:do_logs",
        a.add_logs_args,
        "download (and optionally clear) the event log kept on flash",
    ),
    "check": Command(
        "check:do_check",
        a.add_check_args,
        "check a board against a table: config, readback, witness",
    ),
    "fleet": Command(
        "check:do_fleet",
        a.add_fleet_args,
        "apply or check many boards at once (ports, bench, --sim N)",
    ),
    "monitor": Command(
        "check:do_monitor", a.add_monitor_args, "live status line and alerts from one agent"
    ),
    "record": Command(
        "kit:do_record",
        a.add_record_args,
        "field kit: record boards' status and events into an SQLite database, unattended",
    ),
    "report": Command(
        "kit:do_report",
        a.add_report_args,
        "field kit: the recorded timeline and whether the hub conformed throughout",
    ),
    "serve-port": Command(
        "device:do_serve_port",
        a.add_serve_port_args,
        "serve one board's port over TCP with ser2net (RFC 2217)",
    ),
    "lab": Command(
        "lab:do_lab", a.add_lab_args, "labgrid: an exporter configuration and places for a bench"
    ),
    "key": Command(
        "keys:do_key",
        a.add_key_args,
        f"the board's bench key that authorises changes: {', '.join(a.KEY_ACTIONS)}",
    ),
    "lock": Command(
        "keys:do_lock",
        a.add_port_and_json_args,
        "lock the board: no REPL over its link until a signed unlock or its unlock button",
    ),
    "unlock": Command(
        "keys:do_unlock", a.add_unlock_args, "lift the board's lock until its next reset (signed)"
    ),
    "sim": Command(
        "sim:do_sim", a.add_sim_args, "simulated boards: start, list, reset, kill, stop"
    ),
    "boards": Command(
        "boards:do_boards", a.add_boards_args, "board definitions: list, show, validate"
    ),
    "witness": Command(
        "witness:do_witness",
        a.add_witness_args,
        "what simulated radios put on the air (not the agents)",
    ),
    "tables": Command(
        "tables:do_tables",
        a.add_tables_args,
        "SEC DBCH configuration tables: list, show, diff, impact",
    ),
    "gbcs": Command(
        "tables:do_gbcs",
        a.add_gbcs_args,
        "GBCS: encode a configuration, decode any DBCH message",
    ),
    "duis": Command(
        "tables:do_duis",
        a.add_duis_args,
        "DUIS: import or export a 6.28 request, run a DBCH request on a board",
    ),
    "firmware": Command(
        "firmware:do_firmware",
        a.add_firmware_args,
        "build a board's MicroPython image with the agent frozen",
    ),
    "bench": Command(
        "bench:do_bench",
        a.add_bench_args,
        "measure link, apply, gate, memory and fleet (make bench)",
    ),
    "completion": Command(
        "completion:do_completion",
        a.add_completion_args,
        'shell completion: eval "$(dbch completion bash)"',
    ),
}


# Streams a user ends with Ctrl-C: that is success (exit 0), not an interruption (130).
STOPPED_BY_CTRL_C = frozenset({"console", "monitor", "events", "witness", "record"})


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (`only`) the top level with one command's parser: a command
    that runs needs no other, and building all of them costs more than the command."""
    parser = argparse.ArgumentParser(
        prog="dbch",
        description="DBCH configuration agent tools: simulated boards, deploy, link, checks.",
        epilog="Ports: /dev/ttyACM0, a simulated board's /dev/pts/N or sim:ID, "
        "socket://host:port, rfc2217://host:port, labgrid:PLACE (acquired from "
        "LG_COORDINATOR for the command). Exit codes: 0 ok, 1 failed, 2 could not run.",
    )
    parser.add_argument("--version", action="version", version=f"dbch {__version__}")
    _add_verbosity(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a command's copy must not overwrite `dbch -q COMMAND` with its default.
    _add_verbosity(common, suppress=True)
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb, cmd in COMMANDS.items():
        if only is not None and verb != only:
            continue
        p = sub.add_parser(verb, help=cmd.help, description=cmd.help, parents=[common])
        cmd.add_args(p)
    return parser


def _add_verbosity(p: argparse.ArgumentParser, suppress: bool) -> None:
    """-q/-v on every command, before or after its name."""
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="only results and errors: no progress, no board console lines",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS if suppress else 0,
        help="also the tools' debug log: each link request and reply, mpremote's steps",
    )


def main(argv: list[str] | None = None) -> int:
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (dbch completion)
        import argcomplete

        argcomplete.autocomplete(build_parser())  # answers and exits
    argv = sys.argv[1:] if argv is None else argv
    verb = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(verb if verb in COMMANDS else None).parse_args(argv)
    from dbch import lab  # registers the sim:ID and labgrid:PLACE port names

    try:
        return _run(args)
    finally:
        try:
            lab.release_places()
        except DbchError as e:
            print(f"dbch: {e}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    try:
        from dbch.cli import printing

        printing.setup(args.quiet, args.verbose)
        module = importlib.import_module(f"dbch.cli.{COMMANDS[args.verb].module}")
        return int(getattr(module, COMMANDS[args.verb].handler)(args) or 0)
    except DbchError as e:
        from dbch.cli.printing import error_text

        print(f"dbch: {error_text(e)}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # `dbch ... | head`: the reader has all it wanted
        # (an OSError, so before that handler; stdout to /dev/null so that the flush at
        # exit does not raise again)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # a file or folder the user named: one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"dbch: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.verb in STOPPED_BY_CTRL_C:
            return 0  # the way to end a stream, as picocom and miniterm do
        print("dbch: interrupted", file=sys.stderr)
        return 130
