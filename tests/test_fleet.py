"""`dbch fleet apply|check`: 16 simulated boards at once with a summary and per-board
evidence; a busy port is reported, not fought over; bench files by USB serial number."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from dbch.checks.fleet import Outcome, exit_code, read_bench_file
from dbch.checks.targets import Console, Power, Target
from dbch.errors import DataFileError
from dbch.link.client import AgentClient
from helpers import table_variant

DBCH = str(Path(sys.executable).parent / "dbch")


@pytest.fixture
def fleet_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A bench of its own (DBCH_SIM_HOME), stopped afterwards."""
    env = {**os.environ, "DBCH_SIM_HOME": str(tmp_path / "sim")}
    yield env
    subprocess.run([DBCH, "sim", "stop", "--all"], env=env, capture_output=True, timeout=60)


def dbch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DBCH, *args], env=env, capture_output=True, text=True, timeout=600)


def test_fleet_apply_and_check_16_simulated_boards(fleet_env, tmp_path: Path) -> None:
    table = ["--table", "sec-2018-03-r1", "--region", "north"]
    out = dbch(
        fleet_env,
        "fleet",
        "apply",
        "--sim",
        "16",
        *table,
        "--out",
        str(tmp_path / "apply"),
        "--json",
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["counts"] == {"pass": 16} and len(summary["boards"]) == 16
    assert "starting 15" in out.stderr or "starting 16" in out.stderr  # it said what it did
    # Progress as JSON Lines on stderr, one per board as it ends (stdout: the summary).
    progress = [json.loads(x) for x in out.stderr.splitlines() if x.startswith("{")]
    assert [p["done"] for p in progress] == list(range(1, 17))
    names = {b["name"] for b in summary["boards"]}
    for p in progress:
        assert p["kind"] == "progress" and p["total"] == 16 and p["board"] in names
        assert p["result"] == "pass" and re.fullmatch(r"\d{4}-.*\+00:00", p["utc"])

    evidence = tmp_path / "check"
    out = dbch(fleet_env, "fleet", "check", "--sim", "16", *table, "--out", str(evidence))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "16 boards in" in out.stdout and "16 pass" in out.stdout
    names = {b["name"] for b in json.loads((evidence / "summary.json").read_text())["boards"]}
    assert len(names) == 16
    for name in names:
        records = json.loads((evidence / f"{name}.json").read_text())
        assert records and {r["result"] for r in records} == {"pass"}
        assert {r["board"].split(" ")[0] for r in records} == {name}
    suites = ET.parse(evidence / "junit.xml").getroot().findall("testsuite")
    assert len(suites) == 16 and all(s.get("failures") == "0" for s in suites)
    assert (evidence / "report.html").read_text().count('id="channel-plan"') == 16


def test_a_busy_port_is_reported_and_a_failing_board_fails_the_run(fleet_env, tmp_path) -> None:
    table = ["--table", "sec-2018-03-r1", "--region", "north"]
    started = json.loads(dbch(fleet_env, "sim", "start", "--count", "3", "--json").stdout)
    ids = [b["id"] for b in started]
    ports = ",".join(f"sim:{i}" for i in ids)
    for i in ids:
        assert dbch(fleet_env, "deploy", "--port", f"sim:{i}").returncode == 0
    applied = tmp_path / "applied"
    assert (
        dbch(
            fleet_env, "fleet", "apply", "--ports", ports, *table, "--out", str(applied)
        ).returncode
        == 0
    )

    held = AgentClient(started[0]["port"], on_console=None)  # as another run would
    try:
        out = dbch(
            fleet_env,
            "fleet",
            "check",
            "--ports",
            ports,
            *table,
            "--json",
            "--out",
            str(tmp_path / "busy"),
        )
        assert out.returncode == 2, out.stdout + out.stderr
        boards = {b["name"]: b for b in json.loads(out.stdout)["boards"]}
        assert boards[ids[0]]["result"] == "busy" and "in use" in boards[ids[0]]["detail"]
        assert boards[ids[1]]["result"] == boards[ids[2]]["result"] == "pass"

        # A board configured from a looser file fails, and a failure outranks busy.
        loose = table_variant(
            tmp_path, "loose", max_channel_changes_per_week=("max_channel_changes_per_week = 7")
        )
        assert (
            dbch(
                fleet_env,
                "fleet",
                "apply",
                "--ports",
                f"sim:{ids[2]}",
                "--table",
                str(loose.path),
                "--region",
                "north",
                "--out",
                str(tmp_path / "loose-apply"),
            ).returncode
            == 0
        )
        out = dbch(
            fleet_env, "fleet", "check", "--ports", ports, *table, "--out", str(tmp_path / "fail")
        )
        assert out.returncode == 1
        assert "config.max_channel_changes_per_week" in out.stdout
    finally:
        held.close()


# --- bench files and exit codes ----------------------------------------------------------
def ports(*pairs: tuple[str, str]):
    return lambda: [SimpleNamespace(serial_number=s, device=d) for s, d in pairs]


def test_a_bench_file_finds_boards_by_usb_serial_number(tmp_path: Path) -> None:
    f = tmp_path / "bench.toml"
    f.write_text(
        '[[board]]\nname = "wl55-a"\nserial = "0671FF38"\nregion = "south"\n\n'
        '[[board]]\nname = "remote"\nport = "rfc2217://benchhost:4001"\n'
    )
    targets = read_bench_file(f, ports(("0671FF38", "/dev/ttyACM3"), ("X", "/dev/ttyACM0")))
    assert targets == [
        Target("wl55-a", "/dev/ttyACM3", "south"),
        Target("remote", "rfc2217://benchhost:4001", None),
    ]


def test_a_bench_file_gives_a_real_board_the_power_its_bench_has(tmp_path: Path) -> None:
    # A relay named in the bench file is the board's Power protocol; a board without one
    # has no power, reset or witness (never a simulated stand-in).
    log = tmp_path / "relay.log"
    f = tmp_path / "bench.toml"
    f.write_text(
        f'[[board]]\nname = "a"\nport = "/dev/ttyACM0"\n'
        f"power_off = \"sh -c 'echo off >> {log}'\"\npower_on = \"sh -c 'echo on >> {log}'\"\n"
        '[[board]]\nname = "b"\nport = "/dev/ttyACM1"\n'
    )
    a, b = read_bench_file(f, ports())
    assert isinstance(a, Console) and isinstance(a.power, Power)
    assert a.reset is None and a.witness is None
    a.power.power_cut()
    assert log.read_text().split() == ["off", "on"]
    assert (b.power, b.reset, b.witness, b.simulated) == (None, None, None, False)
    assert b.emissions(3600) is None


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ('[[board]]\nname = "a"\nserial = "NOPE"\n', "board[0].serial", "no USB serial port"),
        (
            '[[board]]\nname = "a"\nserial = "S"\nport = "/dev/x"\n',
            "board[0].serial",
            "exactly one",
        ),
        (
            '[[board]]\nname = "a"\nport = "/dev/x"\n[[board]]\nname = "a"\nport = "/dev/y"\n',
            "board[1].name",
            "twice",
        ),
        ('[[board]]\nname = "a"\nport = "/dev/x"\nregion = "east"\n', "board[0].region", "one of"),
        (
            '[[board]]\nname = "a"\nport = "/dev/x"\nspeed = 9600\n',
            "board[0].speed",
            "unknown field",
        ),
        ("board = []\n", "board", "no boards"),
    ],
)
def test_a_bad_bench_file_names_the_field(tmp_path: Path, text, field, reason) -> None:
    f = tmp_path / "bench.toml"
    f.write_text(text)
    with pytest.raises(DataFileError) as e:
        read_bench_file(f, ports(("S", "/dev/ttyACM0")))
    assert e.value.file == str(f) and e.value.field == field and reason in e.value.reason


def test_exit_codes_rank_failure_over_could_not_run() -> None:
    def outcome(result: str) -> Outcome:
        return Outcome(Target("b", "p"), result, "", 0.0)

    assert exit_code([outcome("pass")] * 3) == 0
    assert exit_code([outcome("pass"), outcome("busy")]) == 2
    assert exit_code([outcome("error"), outcome("fail"), outcome("busy")]) == 1


def test_a_fleet_keeps_to_one_board_type_and_says_what_a_fresh_board_needs(
    fleet_env, tmp_path: Path
) -> None:
    # The review: `fleet check --sim 16` on fresh boards failed without saying why, the
    # fleet quietly took other board types already running, summary.json had no region,
    # and its time left out starting and deploying the boards. A new user: it also took
    # an unrelated board of its own type that was running (now: only its fleetN boards).
    other = dbch(fleet_env, "sim", "start", "--board", "PICO_CC1101", "--erase")
    assert other.returncode == 0, other.stderr
    mine = dbch(fleet_env, "sim", "start", "--id", "mine", "--erase")  # the fleet's type
    assert mine.returncode == 0, mine.stderr
    table = ["--table", "sec-2018-03-r1", "--region", "south"]
    out = dbch(fleet_env, "fleet", "check", "--sim", "2", *table, "--out", str(tmp_path / "c"))
    assert out.returncode == 1
    assert out.stdout.count("not configured: run `dbch fleet apply`") == 2, out.stdout
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["region"] == "south" and summary["wall_s"] > summary["work_s"] > 0
    assert {b["region"] for b in summary["boards"]} == {"south"}
    boards = json.loads(dbch(fleet_env, "sim", "list", "--json").stdout)
    types = {b["id"]: b["board"] for b in boards}
    assert sorted(types.values()).count("PICO_CC1101") == 1  # not taken into the fleet
    assert "mine" in types and "mine" not in {b["name"] for b in summary["boards"]}
    assert {b["name"] for b in summary["boards"]} <= {
        i for i, t in types.items() if t != "PICO_CC1101"
    }
    out = dbch(fleet_env, "witness", "--sim", "nosuch")
    assert out.returncode == 2 and "no simulated board 'nosuch'" in out.stderr


def test_ctrl_c_stops_a_fleet_at_once_and_keeps_what_finished(fleet_env, tmp_path) -> None:
    # A new user: Ctrl-C waited for the board in flight, printed progress after
    # "interrupted" and left an empty evidence folder. Here the second board never
    # answers (a port nobody serves), so Ctrl-C lands while it is in flight.
    import signal
    import time
    import tty

    table = ["--table", "sec-2018-03-r1", "--region", "north"]
    (board,) = json.loads(dbch(fleet_env, "sim", "start", "--json").stdout)
    assert dbch(fleet_env, "deploy", "--port", board["port"]).returncode == 0
    assert dbch(fleet_env, "fleet", "apply", "--ports", board["port"], *table).returncode == 0
    master, slave = os.openpty()
    tty.setraw(slave)
    evidence = tmp_path / "check"
    proc = subprocess.Popen(
        [DBCH, "fleet", "check", "--ports", f"{board['port']},{os.ttyname(slave)}",
         "--jobs", "1", *table, "--out", str(evidence), "--json"],
        env=fleet_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        while '"done":1' not in (line := proc.stderr.readline()).replace(" ", ""):
            assert line, "the first board never finished"
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        assert proc.wait(30) == 130
        assert time.monotonic() - t0 < 2.0  # it did not wait for the board in flight
        rest = proc.stderr.read()
        assert "interrupted: 1 of 2 boards done" in rest
        assert proc.stdout is not None and json.loads(proc.stdout.read())["interrupted"]
        assert '"kind":"progress"' not in rest.replace(" ", "")  # nothing after it
    finally:
        proc.kill()
        os.close(master)
        os.close(slave)
    summary = json.loads((evidence / "summary.json").read_text())
    assert summary["interrupted"] and summary["boards_in_run"] == 2
    assert [b["result"] for b in summary["boards"]] == ["pass"]
    (kept,) = [p for p in evidence.glob("*.json") if p.name != "summary.json"]
    assert {r["result"] for r in json.loads(kept.read_text())} == {"pass"}
