"""Argument definitions of every command, apart from their implementations: `dbch --help`
and shell completion build the whole parser from here without importing what the commands
run. Keep imports here light (data and constants only)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from dbch.boards import DEFAULT_BOARD
from dbch.cli import completion
from dbch.gbcs.regions import HOUR_S, REGIONS
from dbch.output import PAPER_SIZES


# --- argument types: a bad value is refused here (exit 2) before any port is touched ---
def wire_range(command: str, name: str) -> Callable[[str], int]:
    """A whole number within the range the agent takes for `command`'s `name` argument
    (the wire contract, read when a value is parsed: `dbch --help` stays light)."""

    def parse(text: str) -> int:
        from dbch.link.spec import COMMANDS

        lo, hi = COMMANDS[command].ranges[name]
        return at_least(lo, hi)(text)

    parse.__name__ = "number"
    return parse


def at_least(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(
                f"{value} is outside {lo}..{hi}" if hi is not None else f"{value} is below {lo}"
            )
        return value

    parse.__name__ = "number"  # argparse names the type in its message
    return parse


_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """Seconds from '10s', '5m', '2h', '30d' or a bare number of seconds."""
    t = text.strip().lower()
    scale = _UNITS_S.get(t[-1:])
    try:
        value = float(t[:-1] if scale else t) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (say 10s, 5m, 2h or 30d)"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be above zero")
    return value


def frequency(text: str) -> int:
    """A carrier in Hz from '868.45MHz', '868450 kHz', '868450000' or a bare '868.45'."""
    from dbch.gbcs.channel_plan import ChannelPlanError, parse_frequency

    try:
        return parse_frequency(text)
    except ChannelPlanError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _complete(action: argparse.Action, completer: Callable[..., list[str]]) -> None:
    """Shell completion for an argument (argcomplete reads `completer`): names, where the
    shell alone would offer file names."""
    action.completer = completer  # type: ignore[attr-defined]


def add_port_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    port = p.add_argument(
        "-p",
        "--port",
        default=os.environ.get("DBCH_PORT"),
        help="the board's port: /dev/ttyACM0, /dev/pts/N, sim:ID (a simulated board), "
        "socket://HOST:PORT, rfc2217://HOST:PORT or labgrid:PLACE (acquired from "
        "$LG_COORDINATOR for the command) (default: $DBCH_PORT)",
    )
    _complete(port, completion.ports)
    p.set_defaults(_port_required=required)


def add_table_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    _complete(
        p.add_argument("--table", required=required, help="table version id or .toml file"),
        completion.table_ids,
    )


def add_paper_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--paper",
        choices=PAPER_SIZES,
        default=PAPER_SIZES[0],
        help="the PDF's paper (default: A4)",
    )


def add_port_and_json_args(p: argparse.ArgumentParser) -> None:
    """The arguments of a command that reads one board: its port, and --json."""
    add_port_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def add_unlock_args(p: argparse.ArgumentParser) -> None:
    add_port_and_json_args(p)
    p.add_argument(
        "--forget",
        action="store_true",
        help="also remove the stored lock (default: unlocked only until the next reset)",
    )


def add_console_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument(
        "--json",
        action="store_true",
        help="JSON Lines: {utc, kind: text|event|bad_frame, ...} per line",
    )


def add_deploy_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument("--board", help="board definition id (default: what the board reports)")
    p.add_argument("--source", action="store_true", help="deploy .py sources, not .mpy")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the agent")
    p.add_argument(
        "--watchdog",
        type=int,
        nargs="?",
        const=8000,
        default=0,
        metavar="MS",
        help="the agent runs the hardware watchdog (default 8000 ms when given; "
        "field kits). Once started it cannot be stopped: the REPL then has MS to "
        "work before the board resets",
    )
    p.add_argument("--json", action="store_true", help="print a JSON report")


def add_serve_port_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument(
        "--listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1 and a free port; 0.0.0.0 for all)",
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="plain bytes (socket://) instead of RFC 2217 (rfc2217://)",
    )
    p.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")


def add_apply_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    add_table_arg(p, required=False)
    p.add_argument("--region", choices=REGIONS, help="CSP region (with --table)")
    p.add_argument(
        "--duis", metavar="FILE.xml", type=Path, help="a DUIS 6.28 SetCHFSubGHzConfiguration"
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def add_traffic_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument(
        "--frames", type=wire_range("traffic", "frames"), required=True, help="how many frames"
    )
    p.add_argument(
        "--size", type=wire_range("traffic", "size"), required=True, help="octets (8-125)"
    )
    p.add_argument(
        "--interval-ms",
        type=wire_range("traffic", "interval_ms"),
        default=100,
        help="between frames (default 100)",
    )
    p.add_argument("--no-wait", action="store_true", help="start and return")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_test_tx_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument(
        "--freq",
        type=frequency,
        required=True,
        help="carrier, e.g. 868.45MHz (a bare number in a GB band is read as MHz)",
    )
    p.add_argument("--size", type=wire_range("test_tx", "size"), default=16, help="octets (8-125)")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_events_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def add_logs_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument("--clear", action="store_true", help="clear the log after downloading it")
    p.add_argument("--json", action="store_true", help="print JSON")


# --- check -------------------------------------------------------------------------------
def _add_evidence_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--since",
        type=float,
        default=HOUR_S,
        metavar="S",
        help="how far back the witness looks, in bench seconds (default: one hour)",
    )
    p.add_argument(
        "--whole-air-log",
        action="store_true",
        help="the witness looks at everything the board ever emitted",
    )
    p.add_argument(
        "--operator",
        help="who runs the check, for the evidence (default: $DBCH_OPERATOR, else the login)",
    )
    p.add_argument(
        "--mode",
        choices=("conform", "comply"),
        default="conform",
        help="conform (default): every GBCS field equals the table's value for the region; "
        "comply: every field within the table's rules (a board configured more narrowly)",
    )


def add_check_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    add_table_arg(p)
    p.add_argument("--region", required=True, choices=REGIONS, help="CSP region")
    _add_evidence_args(p)
    p.add_argument(
        "--witness",
        metavar="SIM_ID",
        help="the simulated board behind a port the bench cannot recognise "
        "(socket:// or rfc2217:// to a simulated board)",
    )
    p.add_argument("--json", action="store_true", help="print the evidence records as JSON")
    p.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML")
    p.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write a self-contained HTML report with the channel-plan chart",
    )
    p.add_argument(
        "--pdf",
        type=Path,
        metavar="FILE",
        help="also print the HTML report to PDF (headless Chromium): opens anywhere",
    )
    add_paper_arg(p)
    p.epilog = (
        "Exit 0: every check passed; 1: a check failed or could not be checked; "
        "2: the check could not run (port, table)."
    )


# --- fleet -------------------------------------------------------------------------------
def add_fleet_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=("apply", "check"),
        help="apply a table to every board, or check every board against it",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--ports", help="comma-separated ports (also sim:ID, rfc2217://...)")
    which.add_argument(
        "--bench",
        type=Path,
        metavar="FILE",
        help="bench file (TOML) listing boards by USB serial number",
    )
    which.add_argument(
        "--places",
        metavar="SEL",
        help="labgrid places (LG_COORDINATOR): names, or KEY=VALUE for every place so "
        "tagged, comma-separated (e.g. dbch=1); acquired for the run, released after",
    )
    which.add_argument(
        "--sim",
        type=at_least(1),
        metavar="N",
        help="N simulated boards (started and deployed if not running)",
    )
    p.add_argument("--board", help="board type for --sim (default: the default board)")
    add_table_arg(p)
    p.add_argument(
        "--region",
        choices=REGIONS,
        help="CSP region (required unless the bench file gives each board's)",
    )
    _add_evidence_args(p)
    p.add_argument("--jobs", type=at_least(1), default=32, help="boards worked on at once (32)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="evidence folder (default: evidence/fleet-ACTION-TIME)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the summary as JSON; progress becomes JSON Lines on stderr",
    )
    p.add_argument(
        "--pdf",
        action="store_true",
        help="check: also print the fleet's HTML report to report.pdf (headless Chromium)",
    )
    add_paper_arg(p)
    p.epilog = (
        "Exit 0: every board passed; 1: a board failed (refused, non-conforming); "
        "2: a board could not be reached or its port is in use by another run."
    )


# --- monitor -----------------------------------------------------------------------------
def add_monitor_args(p: argparse.ArgumentParser) -> None:
    add_port_arg(p)
    p.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="seconds between status lines (2)"
    )
    p.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: {'status': ...} or {'event': ...}",
    )


def add_record_args(p: argparse.ArgumentParser) -> None:
    port = p.add_argument(
        "-p",
        "--port",
        action="append",
        required=True,
        help="a board's port (as for every command); give --port once per board",
    )
    _complete(port, completion.ports)
    p.add_argument("--db", type=Path, required=True, help="the kit's SQLite database (created)")
    p.add_argument(
        "--interval",
        type=duration,
        default=10.0,
        metavar="T",
        help="time between polls of each board: 10s, 1m ... (default 10s)",
    )
    p.add_argument(
        "--keep",
        type=duration,
        metavar="T",
        help="delete what is older than T (30d ...); the report marks it pruned (default: keep)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="progress and problems on stderr as JSON Lines, each with its UTC time",
    )


def add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, required=True, help="the kit's SQLite database")
    p.add_argument(
        "--since",
        type=duration,
        metavar="T",
        help="only the last T of the record (7d, 12h ...; default: all of it)",
    )
    add_table_arg(p, required=False)
    p.add_argument(
        "--region",
        choices=REGIONS,
        help="the region the kit must conform to (default: the one the recorded "
        "configuration names); with --table",
    )
    p.add_argument("--html", type=Path, metavar="FILE", help="write the timeline as HTML")
    p.add_argument(
        "--pdf",
        type=Path,
        metavar="FILE",
        help="print the timeline to PDF (Chromium; its HTML beside it unless --html)",
    )
    add_paper_arg(p)
    p.add_argument("--json", action="store_true", help="print the timeline and verdict as JSON")


KEY_ACTIONS = ("show", "provision", "rotate")


def add_key_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=KEY_ACTIONS,
        help="show: the board's key id and counter, and whether this host holds "
        "the key; provision: give the board a key over the REPL (physical access);"
        " rotate: replace the key over the link, authorised by the current one",
    )
    add_port_arg(p)
    p.add_argument(
        "--force", action="store_true", help="provision: replace a key this host does not hold"
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def add_sim_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="sim_verb", metavar="ACTION", required=True)

    s = sub.add_parser("start", help="start simulated boards in the background")
    s.add_argument("--board", default=DEFAULT_BOARD, help=f"board id (default {DEFAULT_BOARD})")
    s.add_argument("--count", type=at_least(1), default=1, help="how many boards (default 1)")
    s.add_argument(
        "--id",
        action="append",
        dest="ids",
        metavar="ID",
        help="name the board (repeatable); its flash is kept across starts",
    )
    s.add_argument("--erase", action="store_true", help="start from erased flash")
    s.add_argument(
        "--clock-scale",
        type=int,
        default=None,
        metavar="N",
        help="run the bench clock N times faster than real time (default 1)",
    )
    s.add_argument(
        "--interferer",
        action="append",
        default=[],
        metavar="FREQ:POWER",
        help="a continuous interferer on the bench, e.g. 868.45MHz:-70dBm",
    )
    s.add_argument(
        "--trace-spi",
        action="store_true",
        help="log every radio SPI transaction to <state>/spi.log",
    )
    s.add_argument(
        "--twin",
        choices=("unix", "qemu"),
        help="unix: the MicroPython unix VM (64-bit, host speed); qemu: the board's own "
        "MicroPython build on a Cortex-M3 in QEMU (32-bit, its real heap, agent frozen). "
        "Default: the board's (board.json sim.twin)",
    )
    s.add_argument(
        "--icount",
        type=int,
        metavar="SHIFT",
        help="qemu twins: a fixed instruction rate of 1000/2^SHIFT million per second "
        "(5: 31 MIPS, near a 48 MHz Cortex-M4 running MicroPython)",
    )
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("list", help="list running simulated boards")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("reset", help="press the reset button of a simulated board")
    _complete(s.add_argument("id", help="the board's id (dbch sim list)"), completion.sim_ids)
    s.add_argument(
        "--unlock",
        action="store_true",
        help="hold the board's unlock button through the reset: a locked board starts "
        "unlocked until its next reset (board.json: unlock)",
    )
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("kill", help="cut a simulated board's power at this instant (it restarts)")
    _complete(s.add_argument("id", help="the board's id (dbch sim list)"), completion.sim_ids)
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("stop", help="stop simulated boards (their flash is kept)")
    _complete(
        s.add_argument("ids", nargs="*", metavar="ID", help="the boards' ids (dbch sim list)"),
        completion.sim_ids,
    )
    s.add_argument("--all", action="store_true", help="stop every running board")
    s.add_argument("--json", action="store_true", help="print JSON")
    p.epilog = "Boards live under $DBCH_SIM_HOME (default ~/.local/state/dbch/sim)."


def add_boards_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="boards_verb", metavar="ACTION", required=True)
    s = sub.add_parser("list", help="every board and its simulated twin")
    s.add_argument("--json", action="store_true", help="print JSON")
    s = sub.add_parser("show", help="one board's definition")
    _complete(s.add_argument("id", help="board id (dbch boards list)"), completion.board_ids)
    s.add_argument("--json", action="store_true", help="print JSON")
    s = sub.add_parser("validate", help="check board.json files against the schema")
    s.add_argument("files", nargs="+", type=Path, help="board.json files")


def add_witness_args(p: argparse.ArgumentParser) -> None:
    _complete(
        p.add_argument("--sim", metavar="ID", help="only this simulated board"),
        completion.sim_ids,
    )
    p.add_argument("--last", type=int, default=None, metavar="N", help="only the last N")
    p.add_argument(
        "--json",
        action="store_true",
        help="JSON Lines: one record per line, each with its UTC time (utc)",
    )
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep going: each new emission as the radios send it, until Ctrl-C (exit 0)",
    )


def add_tables_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="tables_verb", metavar="ACTION", required=True)
    s = sub.add_parser("list", help="the table versions known (tables/ and $DBCH_TABLES_PATH)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s = sub.add_parser("show", help="one version: fields per region, channels, placeholders")
    _complete(s.add_argument("id", help="table id or .toml file"), completion.table_ids)
    s.add_argument("--region", choices=REGIONS, help="only this CSP region")
    s.add_argument("--json", action="store_true", help="print JSON")
    s = sub.add_parser("validate", help="check table files against the schema")
    s.add_argument("files", nargs="+", type=Path, help="table .toml files")
    s = sub.add_parser("diff", help="what changed between two versions, per region")
    s.add_argument("old", help="the earlier table: version id or .toml file")
    s.add_argument("new", help="the later table: version id or .toml file")
    s.add_argument("--json", action="store_true", help="print JSON")
    s = sub.add_parser(
        "impact",
        help="devices that conform to OLD but not to NEW (exit 1 if there are any)",
    )
    s.add_argument("old", help="the table the boards run: version id or .toml file")
    s.add_argument("new", help="the table coming in: version id or .toml file")
    s.add_argument(
        "--status",
        required=True,
        type=Path,
        metavar="DIR|FILE",
        help="saved device records (dbch status/config --json), a file or folder",
    )
    s.add_argument("--region", choices=REGIONS, help="region of records that do not say")
    s.add_argument("--json", action="store_true", help="print JSON")


def add_gbcs_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="gbcs_verb", metavar="ACTION", required=True)
    s = sub.add_parser("encode", help="the DLMS encoding of a configuration, as hex")
    src = s.add_mutually_exclusive_group(required=True)
    _complete(src.add_argument("--table", help="table id (with --region)"), completion.table_ids)
    src.add_argument("--duis", type=Path, help="a 6.28 SetCHFSubGHzConfiguration request")
    s.add_argument("--region", choices=REGIONS, help="CSP region (with --table)")
    s.add_argument("--pretty", action="store_true", help="one group of bytes per element")
    s = sub.add_parser(
        "decode",
        help="a DBCH GBCS message (command, response, alert: header, use case, payload in DUIS "
        "names) or a bare DLMS configuration",
    )
    s.add_argument(
        "input",
        metavar="HEX|FILE|-",
        help="the message as hex text, a file holding it (hex or binary), or - for stdin",
    )
    s.add_argument("--json", action="store_true", help="print JSON")


def add_duis_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="duis_verb", metavar="ACTION", required=True)
    s = sub.add_parser("import", help="read a 6.28 SetCHFSubGHzConfiguration request")
    s.add_argument("file", type=Path, help="the request XML file")
    s.add_argument("--json", action="store_true", help="print JSON")
    s = sub.add_parser("export", help="write a 6.28 request for a table region (unsigned)")
    _complete(s.add_argument("id", help="table id or .toml file"), completion.table_ids)
    s.add_argument("--region", required=True, choices=REGIONS, help="CSP region")
    s.add_argument(
        "--request-id",
        default="00-00-00-00-00-00-00-00:00-00-00-00-00-00-00-00:1",
        help="DUIS RequestID: originator:target device:counter (or give its parts below)",
    )
    s.add_argument("--originator", metavar="EUI64", help="business originator, 90-B3-D5-...")
    s.add_argument("--target", metavar="EUI64", help="target device (the hub), 00-DB-...")
    s.add_argument("--counter", type=at_least(0), help="the originator's request counter")
    s.add_argument(
        "--signature-placeholder",
        action="store_true",
        help="include the templates' ds:Signature element, empty, for a signing tool to fill",
    )
    s.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    s = sub.add_parser(
        "run",
        help="execute a DBCH DUIS request (6.28-6.32) on a board; write the DUIS Response the "
        "DCC would return, and its alerts",
    )
    s.add_argument("request", type=Path, help="the DUIS request XML (e.g. a DUIS template)")
    add_port_arg(s, required=False)
    s.add_argument(
        "-o",
        "--output",
        type=Path,
        help="write the Response here (and the board's id beside it); default stdout",
    )
    s.add_argument(
        "--alerts",
        type=Path,
        metavar="DIR",
        help="where the alerts the board raised go as DUIS alerts (default: beside the response)",
    )
    s.add_argument(
        "--strict-target",
        action="store_true",
        help="refuse when the board's EUI-64 is not the request's target",
    )
    s.add_argument(
        "--acb",
        metavar="EUI64",
        default="00-00-00-00-00-00-00-00",
        help="the Access Control Broker's system title the GBCS response goes to "
        "(default all zeros: a DUIS request does not carry it)",
    )
    s.add_argument("--json", action="store_true", help="print a summary as JSON")


def add_bench_args(p: argparse.ArgumentParser) -> None:
    from dbch import paths
    from dbch.perf import SECTIONS

    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    p.add_argument("-n", type=int, default=500, help="round trips per repetition")
    p.add_argument("--cli-n", type=int, default=5, help="processes per repetition")
    p.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    p.add_argument(
        "--out",
        type=Path,
        default=paths.build_dir() / "bench.json",
        help="where the figures go as JSON (default build/bench.json)",
    )
    p.add_argument(
        "--doc",
        type=Path,
        default=paths.project_root() / "docs" / "performance.md",
        help="document whose last-run table is replaced (full runs only)",
    )


def add_lab_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="lab_verb", metavar="ACTION", required=True)
    helps = {
        "exporter-config": "a labgrid exporter configuration (YAML) for these boards",
        "places": "the labgrid-client commands that create a tagged place for each board",
    }
    for verb, text in helps.items():
        s = sub.add_parser(verb, help=text, description=text)
        which = s.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--bench", type=Path, metavar="FILE", help="a bench file (USB boards by serial number)"
        )
        which.add_argument(
            "--sim",
            nargs="?",
            const="all",
            metavar="IDS",
            help="running simulated boards: all, or comma-separated ids",
        )
        s.add_argument("--region", choices=REGIONS, help="region tag for simulated boards")
        if verb == "exporter-config":
            s.add_argument("--out", type=Path, metavar="FILE", help="write here (default: print)")
        else:
            s.add_argument(
                "--exporter",
                metavar="NAME",
                help="the exporter's name (labgrid-exporter --name; default: this host's name)",
            )
            s.add_argument(
                "--run",
                action="store_true",
                help="run the commands (LG_COORDINATOR) instead of printing them",
            )
    p.epilog = (
        "Bring a bench (or a simulated lab) up: `dbch lab exporter-config --sim > exp.yaml`, "
        "`labgrid-exporter -c COORDINATOR exp.yaml`, `dbch lab places --sim --run` "
        "(docs/labs.md)."
    )


def add_firmware_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="firmware_verb", metavar="ACTION", required=True)
    s = sub.add_parser(
        "build",
        help="build the board's image (ports/stm32) with the agent frozen; fail if it does "
        "not fit",
    )
    s.add_argument("--board", default="NUCLEO_WL55", help="board id (default NUCLEO_WL55)")
    s.add_argument("--force", action="store_true", help="rebuild even if cached")
    s.add_argument(
        "--twin",
        action="store_true",
        help="build the board's 32-bit QEMU twin (ports/qemu) instead of its image",
    )
    s.add_argument("--json", action="store_true", help="print the budgets as JSON")
    s = sub.add_parser(
        "source",
        help="where MicroPython's source is found and how it differs from the pins; "
        "--fetch clones the pinned commits (make micropython)",
    )
    s.add_argument(
        "--fetch",
        action="store_true",
        help="clone the pinned commits (MicroPython, stm32lib, CMSIS_6, tinyusb) into the "
        "default place, or --dir",
    )
    s.add_argument("--dir", type=Path, metavar="DIR", help="with --fetch: clone here instead")
    s.add_argument("--force", action="store_true", help="with --fetch: replace what is there")
    s.add_argument(
        "--write-manifest",
        action="store_true",
        help="maintainers: rewrite boards/micropython.sha256 from the source and the cached "
        "builds (after moving the pins)",
    )
    s.add_argument("--json", action="store_true", help="print JSON")
    p.epilog = (
        "MicroPython's source, in this order: $MICROPYTHON_DIR (your checkout); the default "
        "checkout ($XDG_CACHE_HOME/dbch/micropython, which `make micropython` clones). The "
        "pins: boards/micropython.toml and .sha256. Outputs and the log: build/firmware/."
    )


def add_completion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell to complete in")
    p.epilog = (
        'bash: add `eval "$(dbch completion bash)"` to ~/.bashrc; zsh: '
        '`eval "$(dbch completion zsh)"` in ~/.zshrc; fish: '
        "`dbch completion fish | source` in config.fish."
    )
