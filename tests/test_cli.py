"""The dbch command: output formats and exit codes that scripts can rely on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dbch.boards.definitions import get_board
from dbch.cli import main
from dbch.link.client import AgentClient
from helpers import HUB_BOARD, ensure_agent

DBCH = str(Path(sys.executable).parent / "dbch")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DBCH, *args], capture_output=True, text=True, timeout=60)


def test_help_lists_every_command() -> None:
    out = run("--help")
    assert out.returncode == 0
    for verb in ("hello", "status", "console", "deploy", "sim", "boards"):
        assert verb in out.stdout


def test_hello_and_status_json(hub_board) -> None:
    ensure_agent(hub_board)
    out = run("hello", "--port", f"sim:{hub_board.id}", "--json")
    assert out.returncode == 0, out.stderr
    hello = json.loads(out.stdout)
    assert hello["board"] == HUB_BOARD and len(hello["uid"]) == 16
    out = run("status", "--port", hub_board.port, "--json")
    assert out.returncode == 0, out.stderr
    assert "uptime_ms" in json.loads(out.stdout)
    out = run("status", "--port", hub_board.port)
    assert "reset cause" in out.stdout


def test_sim_list_json_has_id_board_port(hub_board) -> None:
    out = run("sim", "list", "--json")
    boards = json.loads(out.stdout)
    mine = next(b for b in boards if b["id"] == hub_board.id)
    assert mine["board"] == HUB_BOARD and mine["port"] == hub_board.port


def test_missing_port_is_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBCH_PORT", raising=False)
    assert main(["hello"]) == 2


def test_unreachable_port_is_exit_2() -> None:
    out = run("hello", "--port", "/dev/does-not-exist")
    assert out.returncode == 2 and "cannot open" in out.stderr


def test_port_in_use_is_reported_not_fought_over(hub_board) -> None:
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None):
        out = run("status", "--port", hub_board.port)
    assert out.returncode == 2 and "in use" in out.stderr


def test_boards_list_shows_every_board_and_twin() -> None:
    out = run("boards", "list")
    assert out.returncode == 0
    for board_id in ("NUCLEO_WL55", "PICO_CC1101", "FEATHER_RP2040_RFM95"):
        assert board_id in out.stdout
    heap = get_board("NUCLEO_WL55").heap_kb  # the board's build's heap (its linker map)
    assert f"qemu: the board's build, heap {heap} KB, fs 24 KB" in out.stdout  # the WL55's twin
    assert "unix: heap 384 KB, fs 512 KB" in out.stdout


def test_boards_validate_reports_file_and_field(tmp_path: Path) -> None:
    f = tmp_path / "Z" / "board.json"
    f.parent.mkdir()
    f.write_text(json.dumps({"id": "Z"}))
    out = run("boards", "validate", str(f))
    assert out.returncode == 2 and "board.json: ram_kb: required" in out.stderr


def test_console_shows_device_output_and_events(hub_board) -> None:
    # Reset the board while `dbch console` watches: the agent's ready event is decoded.
    proc = subprocess.Popen(
        [DBCH, "console", "--port", hub_board.port, "--seconds", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import time

    time.sleep(0.5)
    hub_board.reset()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    # decoded as people read it: the event's name, the uid in hex (not a dict repr)
    ready = next(line for line in out.splitlines() if line.startswith("<event ready"))
    assert "{" not in ready and re.search(r"uid=[0-9a-f]{16}", ready), ready


def test_ctrl_c_ends_a_stream_with_exit_0(hub_board) -> None:
    # picocom and miniterm exit 0 when the user stops them: so do console and monitor.
    import signal
    import time

    for verb in ("console", "monitor"):
        proc = subprocess.Popen(
            [DBCH, verb, "--port", hub_board.port],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, (verb, err)
        assert "Traceback" not in err


def test_device_console_text_cannot_drive_the_users_terminal() -> None:
    # A board's console text (prints, tracebacks, anything on the cable) is shown, never
    # obeyed: escape sequences that clear the screen, retitle the window or recolour it,
    # and other control characters, are removed before printing.
    import logging

    from dbch.cli.printing import device_formatter, device_text

    raw = "ok \x1b[2J\x1b[31mred\x1b[0m \x1b]0;title\x07end \x1bc\u009b\x07 tab\tkept".encode()
    assert device_text(raw) == "ok red end c tab\tkept"
    # the lines the link hands to the dbch.device logger (what `dbch` commands show)
    record = logging.LogRecord("dbch.device", logging.WARNING, "", 0, "%s", (raw.decode(),), None)
    assert device_formatter().format(record) == "[device] ok red end c tab\tkept"


_LOG_PROBE = """
import sys
from dbch import logsetup
from dbch.cli import printing
from dbch.link import frames
printing.setup(quiet=False, verbose=int(sys.argv[1]))
logsetup.debug("dbch.link", "-> %s (request %d)", "status", 7)
print("logging" in sys.modules)
frames.default_console(b"\\x1b[31mboot\\x1b[0m done")
"""


@pytest.mark.parametrize("verbose", [0, 1])
def test_logging_is_set_up_when_first_used_and_lines_still_show(verbose: int) -> None:
    # A query that logs nothing does without `logging` (5 ms of start-up); the board's
    # console lines still come out as `[device] ...` and `-v` still shows the link's
    # requests: the set-up waits for the first line, it is not skipped.
    out = subprocess.run(
        [sys.executable, "-c", _LOG_PROBE, str(verbose)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(bool(verbose))  # imported before any line only for -v
    lines = out.stderr.splitlines()
    assert "[device] boot done" in lines
    assert ("[debug] dbch.link: -> status (request 7)" in lines) == bool(verbose)


def complete(line: str, tmp_path: Path) -> list[str]:
    """What the shell gets for `line` (argcomplete's protocol: the shell runs dbch with the
    line in COMP_LINE and reads the answer from a file)."""
    answer = tmp_path / "completions"
    answer.write_text("")
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_IFS": "\n",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
    }
    out = subprocess.run([DBCH], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [c.strip() for c in answer.read_text().splitlines()]


def test_shell_completion_of_commands_actions_and_options(tmp_path: Path) -> None:
    assert complete("dbch fle", tmp_path) == ["fleet"]
    assert {"apply", "check"} <= set(complete("dbch fleet ", tmp_path))
    assert "--places" in complete("dbch fleet check --pl", tmp_path)
    assert set(complete("dbch sim ", tmp_path)) >= {"start", "list", "reset", "kill", "stop"}
    for shell in ("bash", "zsh"):
        code = run("completion", shell)
        assert code.returncode == 0 and "dbch" in code.stdout
        syntax = subprocess.run(["bash", "-n"], input=code.stdout, text=True, capture_output=True)
        if shell == "bash":
            assert syntax.returncode == 0, syntax.stderr


def test_the_readme_lists_every_command() -> None:
    from dbch.cli import COMMANDS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("## The `dbch` command") :]
    missing = [v for v in COMMANDS if not re.search(rf"`(dbch )?{re.escape(v)}[` ]", table)]
    assert not missing, f"README's command table lacks {missing}"


def test_every_argument_of_every_command_has_help() -> None:
    import argparse

    from dbch.cli import build_parser

    missing = []

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, f"{path} {name}")
            elif not a.help:
                missing.append(f"{path} {a.option_strings or a.dest}")

    walk(build_parser(), "dbch")
    assert not missing, missing


def test_a_reader_that_stops_early_ends_dbch_quietly() -> None:
    # `dbch ... | head`: was "dbch: Broken pipe" and exit 2 (BrokenPipeError is an OSError,
    # so the file-error handler took it first).
    proc = subprocess.Popen(
        [DBCH, "tables", "show", "sec-2017-12-draft", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)  # far less than it writes (about 40 KB), then the reader is gone
    proc.stdout.close()
    assert proc.wait(60) == 0
    assert proc.stderr.read() == b""


@pytest.mark.parametrize("board", ["hub_board", "small_board"])
def test_event_times_are_utc_on_every_ports_epoch(board: str, request: pytest.FixtureRequest):
    # The stm32 port (the WL55 and its twin) counts time.time() from 2000, the others from
    # 1970: the WL55's events read 30 years early ("1996-12-04", "utc": null) until the
    # host read the board's epoch from hello.
    import datetime as dt

    b = request.getfixturevalue(board)
    ensure_agent(b)
    out = run("logs", "--port", b.port, "--json")
    assert out.returncode == 0, out.stderr
    latest = json.loads(out.stdout)[-1]  # at least the boot's own record
    assert latest["utc"] is not None, latest
    when = dt.datetime.fromisoformat(latest["utc"])
    assert abs(when - dt.datetime.now(dt.UTC)) < dt.timedelta(days=1), latest


def test_help_names_every_key_action_and_every_kind_of_port() -> None:
    # A new user found `key rotate` missing from the top-level help and `labgrid:PLACE`
    # from --port's.
    from dbch.cli.args import KEY_ACTIONS

    top = " ".join(run("--help").stdout.split())
    assert all(action in top for action in KEY_ACTIONS), top
    port = " ".join(run("status", "--help").stdout.split())
    for kind in ("sim:ID", "socket://", "rfc2217://", "labgrid:PLACE"):
        assert kind in port, (kind, port)


def test_duis_export_says_when_its_request_id_names_nobody(tmp_path: Path) -> None:
    # The default RequestID is all zeros: fine for a look, not for submission. It was
    # written without a word.
    out = run("duis", "export", "sec-2018-03-r1", "--region", "north", "-o", str(tmp_path / "a"))
    assert out.returncode == 0 and "all-zero" in out.stderr, out.stderr
    named = run(
        "duis",
        "export",
        "sec-2018-03-r1",
        "--region",
        "north",
        "-o",
        str(tmp_path / "b"),
        "--originator",
        "90-B3-D5-1F-30-01-00-00",
        "--target",
        "00-DB-12-34-56-78-90-A0",
    )
    assert named.returncode == 0 and "all-zero" not in named.stderr, named.stderr


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("dbch check --table sec-2018", {"sec-2018-03", "sec-2018-03-r1"}),
        ("dbch boards show NUCLEO", {"NUCLEO_WL55"}),
    ],
)
def test_completion_offers_names_not_file_names(tmp_path: Path, line: str, want: set) -> None:
    # A new user: completion fell back to file names for --table, --port and board ids.
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    subprocess.run([DBCH], env=env, capture_output=True, timeout=60, pass_fds=())
    assert {w.strip() for w in out.read_text().split("\v")} - {""} == want
