"""What a bench engineer's scripts read: host-side argument errors (exit 2 before any port
is touched), a board at the REPL named at once, JSON records and JSON Lines streams with
UTC timestamps, compared with hand-written expected records (never with shapes generated
from the output itself)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dbch.gbcs.tables import get_table
from dbch.link.client import AgentClient
from helpers import apply, ensure_agent

DBCH = str(Path(sys.executable).parent / "dbch")
UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DBCH, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["test-tx", "--freq", "banana"], "'banana' is not a frequency"),
        (["test-tx", "--freq", "1e9"], "'1e9' is not a frequency"),
        (["test-tx", "--freq", "42"], "did you mean 42MHz?"),
        (["traffic", "--frames", "-1", "--size", "20"], "-1 is outside 1..100000"),
        (["traffic", "--frames", "3", "--size", "100000"], "100000 is outside 8..125"),
        (["traffic", "--frames", "3", "--size", "20", "--interval-ms", "-5"], "-5 is outside"),
        (["sim", "start", "--count", "0"], "0 is below 1"),
    ],
)
def test_bad_arguments_are_exit_2_before_any_port(args: list[str], message: str) -> None:
    # The review: `--freq banana` was a traceback; `--frames -1` went to the board and came
    # back "device refused" (exit 1). No port is given here: none is needed to refuse.
    out = run(*args, "--port", "/dev/nonexistent-dbch-port")
    assert out.returncode == 2, out
    assert message in out.stderr and "Traceback" not in out.stderr


def test_a_bare_number_in_a_gb_band_is_megahertz() -> None:
    from dbch.cli.args import frequency

    assert frequency("868.45") == 868_450_000
    assert frequency("868450000") == 868_450_000
    assert frequency("868450 kHz") == 868_450_000


def test_a_board_at_the_repl_is_named_at_once(bench) -> None:
    (board,) = bench.start(erase=True)  # erased flash: no agent, the REPL answers
    try:
        out = run("hello", "--port", board.port, timeout=30)
    finally:
        board.stop()
    assert out.returncode == 2
    assert "at the MicroPython REPL" in out.stderr and "dbch deploy" in out.stderr
    assert "NameError" not in out.stderr + out.stdout  # its echo of our frame is not shown


def test_a_board_that_fell_to_the_repl_says_what_it_printed(bench) -> None:
    # A deploy that waited for the agent said only "at the MicroPython REPL" (CI, a loaded
    # machine): why the agent stopped was on the console and nobody saw it.
    from dbch.errors import AtReplError
    from mpremote.transport_serial import SerialTransport

    (board,) = bench.start(erase=True)
    try:
        t = SerialTransport(board.port)
        t.enter_raw_repl(soft_reset=False)
        t.fs_writefile("main.py", b"raise ValueError('no agent here')\n")
        t.exit_raw_repl()
        t.read_until(1, b">>> ")  # its prompt, read here: not a stale line the client sees
        t.close()
        with AgentClient(board.port, on_console=None) as hub:
            board.reset()
            with pytest.raises(AtReplError, match="it printed 'ValueError: no agent here'"):
                hub.wait_ready(10.0, give_up_at_repl=True)
    finally:
        board.stop()


def test_the_last_words_are_not_the_repls_answer_to_our_own_requests() -> None:
    # A deploy's wait polls a board at its REPL with hellos, each answered with a NameError
    # (the frame's base64 is a name the REPL does not know): the error quoted that, not the
    # exception that stopped the agent (a soak's deploy failure said nothing more).
    from collections import deque

    from dbch.link.frames import last_words

    tail = deque(
        [
            b"Traceback (most recent call last):",
            b'  File "main.py", line 2, in <module>',
            b"MemoryError: memory allocation failed",
            b"NameError: name 'ENUtgmVoZWxsb6B2nG5O' isn't defined",
            b"NameError: name 'ENUugmVoZWxsb6B2nG5P' isn't defined",
        ]
    )
    assert last_words(tail) == " (it printed 'MemoryError: memory allocation failed')"
    tail.append(b"NameError: name 'dbch_board' isn't defined")  # a real one is kept
    assert "dbch_board" in last_words(tail)


def test_streams_are_json_lines_with_utc_and_records_carry_names(hub_board) -> None:
    ensure_agent(hub_board)
    port = f"sim:{hub_board.id}"
    with AgentClient(hub_board.port, on_console=None) as hub:
        apply(hub, get_table("sec-2018-03-r1"))
    out = run("monitor", "--port", port, "--json", "--seconds", "1.5")
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert lines and all(UTC.fullmatch(x["utc"]) for x in lines)
    assert set(lines[0]) == {"utc", "status"}
    tx = json.loads(run("test-tx", "--port", port, "--freq", "915.35MHz", "--json").stdout)
    assert tx == {"freq_hz": 915_350_000, "sent": False, "refused": "masked_band"}
    logs = json.loads(run("logs", "--port", port, "--json").stdout)
    changed = [r for r in logs if r["kind"] == 0x8F2A][-1]
    assert changed["name"] == "Sub GHz configuration changed"
    assert set(changed) == {"seq", "t", "utc", "kind", "name", "fields"}
    reset = [r for r in logs if r["kind"] == "reset"][-1]
    assert reset["name"] == "reset" and "cause" in reset["fields"]


def test_console_and_sim_actions_speak_json(hub_board) -> None:
    ensure_agent(hub_board)
    proc = subprocess.Popen(
        [DBCH, "console", "--port", hub_board.port, "--seconds", "4", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import time

    time.sleep(0.8)
    reset = run("sim", "reset", hub_board.id, "--json")  # the ready event comes to console
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines and all(UTC.fullmatch(x["utc"]) for x in lines)
    assert {x["kind"] for x in lines} <= {"text", "event", "bad_frame"}
    ready = next(x for x in lines if x["kind"] == "event" and x["event"]["ev"] == "ready")
    assert set(ready) == {"utc", "kind", "event"} and ready["event"]["board"] == hub_board.board

    assert reset.returncode == 0, reset.stderr
    said = json.loads(reset.stdout)
    assert UTC.fullmatch(said.pop("utc"))
    assert {"action": "reset", "unlock": False, "id": hub_board.id}.items() <= said.items()
    assert said["board"] == hub_board.board and said["powered"] is True
    killed = run("sim", "kill", hub_board.id, "--json")
    assert json.loads(killed.stdout)["action"] == "kill"
    assert run("sim", "start", "--id", "json-stop", "--json").returncode == 0
    stopped = run("sim", "stop", "json-stop", "--json")
    assert {"action": "stop", "stopped": ["json-stop"]}.items() <= json.loads(
        stopped.stdout
    ).items()


def test_quiet_and_verbose_on_every_command(hub_board) -> None:
    from dbch.cli import COMMANDS, build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "verb").choices
    for verb in COMMANDS:
        options = {o for a in commands[verb]._actions for o in a.option_strings}
        assert {"-q", "--quiet", "-v", "--verbose"} <= options, verb
    ensure_agent(hub_board)
    port = f"sim:{hub_board.id}"
    quiet = run("-q", "fleet", "check", "--ports", port, *TABLE_ARGS, "--out", "/dev/null/x")
    # Errors are still shown, as one line (an unusable --out folder was a traceback).
    assert quiet.returncode == 2, quiet.stderr
    assert quiet.stderr == "dbch: /dev/null/x: Not a directory\n"
    for argv in (["-q", "status", "--port", port], ["status", "--port", port, "-q"]):
        out = run(*argv)
        assert out.returncode == 0 and out.stderr == "" and "firmware" in out.stdout
    loud = run("status", "--port", port, "-v")
    assert loud.returncode == 0
    assert re.search(r"\[debug\] dbch\.link: -> status \(request \d+", loud.stderr)
    assert re.search(r"\[debug\] dbch\.link: <- status \(request \d+\) in [\d.]+ ms", loud.stderr)
    assert run("status", "--port", port).stderr == ""  # neither: no debug lines


TABLE_ARGS = ["--table", "sec-2018-03-r1", "--region", "north"]


def test_a_boards_invalid_config_is_shown_with_the_duis_element() -> None:
    from dbch.cli.printing import error_text
    from dbch.errors import DeviceError

    e = DeviceError("invalid_config", "limited_critical_threshold", "208 not in 160..240 step 10")
    assert error_text(e) == (
        "device refused: invalid_config (LimitedCriticalDutyCycleThreshold, "
        "limited_critical_threshold): 208 not in 160..240 step 10"
    )
    assert error_text(DeviceError("busy")) == "device refused: busy"


def test_papercuts_a_new_user_reported() -> None:
    # Issue 28, section 3: each wording as a user read it, and as it reads now.
    from dbch.cli.printing import lifted_text
    from dbch.gbcs import channel_plan as plan
    from dbch.gbcs.subghz_config import SubGhzConfig

    assert plan.span_mhz(31, [0]) == "915.35"  # was "915.35-915.35"
    assert plan.span_mhz(31, [0, 2]) == "915.35-915.75"
    assert "(by a signed unlock)" in lifted_text({"lifted_by": "signed"})  # "(by signed)"
    assert "unlock button" in lifted_text({"lifted_by": "button"})
    values = [0xE0000006, 0xE8000006, 0xF0000006, 0xF8000001, 130, 220, 5, 7, 7, 12, 6000]
    problems = SubGhzConfig(*values, 130, 100, 4000, 3000).problems()  # page 31 channel 0
    assert any("enables channel 0 (915.35 MHz)" in p for p in problems), problems


def test_values_read_as_people_write_them_everywhere() -> None:
    # A new user: the value said 14.0 dBm and the reason "140 dBm x 10 ... 140"; limits
    # read "unit uncertain" and "dB (probably)"; the terminal printed mask words in decimal.
    from dbch.checks.views import regulatory_view, shown
    from dbch.gbcs.subghz_config import FIELDS
    from dbch.gbcs.tables import get_table

    table = get_table("sec-2018-03-r1")
    (power, *_) = regulatory_view(table, {"max_tx_ddbm": 140})
    assert "14.0 dBm within the regulatory limit" in power.reason, power.reason
    assert "140" not in power.reason.replace("14.0", "")
    assert shown("page28", 0xE7FFFFFF, "mask word") == "0xE7FFFFFF"
    assert not {f.unit for f in FIELDS} & {"unit uncertain", "dB (probably)"}


def test_the_terminal_check_table_shortens_hashes_and_writes_masks_in_hex() -> None:
    from dbch.cli.check import _cell

    digest = "9f5e675f7c1cbcf2a0d2b1d9710bf31f1b4f7e4e6b170eca437759615f8bf519"
    assert _cell("hash", digest, "sha256") == "9f5e675f…5f8bf519 sha256"
    assert _cell("page28", 0xE7FFFFFF, "mask word") == "0xE7FFFFFF"
    assert _cell("max_tx_ddbm", 140, "dBm x 10") == "14.0 dBm"
