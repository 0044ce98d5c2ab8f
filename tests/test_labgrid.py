"""Benches beyond one host, on loopback with real processes: a labgrid coordinator, two
exporters (two "bench hosts") each serving two simulated boards through ser2net, places made
with labgrid-client; `dbch` reaching boards as `labgrid:PLACE`, the agent's labgrid driver
and strategy, and a labgrid pytest run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dbch.boards.deploy import deploy
from dbch.lg.exporter import from_sim
from dbch.lg.loopback import LoopbackLab
from dbch.link.client import AgentClient
from dbch.sim.bench import Bench, SimBoard

pytestmark = [pytest.mark.labgrid, pytest.mark.unix_twin]  # a whole lab, boards included
DBCH = str(Path(sys.executable).parent / "dbch")
TABLE = ["--table", "sec-2018-03-r1", "--region", "north"]
HOSTS = {"bench1": ["a1", "a2"], "bench2": ["b1", "b2"]}
LABGRID_RUN = ["--lg-env", "env.yaml", "--dbch-table", "sec-2018-03-r1"]
LABGRID_RUN += ["--dbch-evidence", "evidence.json", "test_hub.py"]


def FLEET_OUT(out: Path) -> list[str]:
    return ["--jobs", "1", "--out", str(out), "--json"]


class Lab:
    def __init__(self, lab: LoopbackLab, bench: Bench, boards: dict[str, SimBoard], home: Path):
        self.lab = lab
        self.bench = bench
        self.boards = boards
        self.env = {**lab.env, "DBCH_SIM_HOME": str(home)}

    def dbch(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **({"LG_USERNAME": user} if user else {})}
        return subprocess.run([DBCH, *args], env=env, capture_output=True, text=True, timeout=300)

    def holders(self) -> str:
        return self.lab.client("who").stdout

    def export(self, host: str) -> None:
        self.lab.start_exporter(host, from_sim([self.boards[i] for i in HOSTS[host]], "north"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lab-sim")
    # One key store for this process's deploys and the dbch commands it runs.
    saved_keys = os.environ.get("DBCH_KEYS")
    os.environ["DBCH_KEYS"] = str(home / "keys")
    bench = Bench(home)
    ids = [i for ids in HOSTS.values() for i in ids] + ["blank"]
    started = {b.id: b for b in bench.start(ids=ids, erase=True)}
    with ThreadPoolExecutor(4) as pool:  # "blank" stays blank: the strategy deploys it
        list(pool.map(lambda i: deploy(started[i].port, started[i].board), ids[:-1]))
    loop = LoopbackLab(tmp_path_factory.mktemp("labgrid")).start()
    try:
        world = Lab(loop, bench, started, home)
        for host in HOSTS:
            world.export(host)
        loop.create_places("bench1")
        # bench2's places the way a lab engineer makes them: dbch lab places --run
        made = world.dbch("lab", "places", "--sim", "b1,b2", "--exporter", "bench2")
        assert made.returncode == 0, made.stderr  # (printed, not run, the first time)
        assert "labgrid-client -p b1 add-match bench2/b1/NetworkSerialPort" in made.stdout
        made = world.dbch(
            "lab", "places", "--sim", "b1,b2", "--exporter", "bench2", "--region", "north", "--run"
        )
        assert made.returncode == 0, made.stderr
        loop.start_exporter("bench3", from_sim([started["blank"]]))
        loop.create_places("bench3", tags=False)  # not dbch=1: fleets leave it alone
        yield world
    finally:
        loop.close()
        bench.stop()
        if saved_keys is None:
            os.environ.pop("DBCH_KEYS", None)
        else:
            os.environ["DBCH_KEYS"] = saved_keys


def test_exporter_config_from_the_cli_is_what_the_lab_runs(lab: Lab) -> None:
    import yaml
    from dbch.lg.exporter import exporter_yaml

    out = lab.dbch("lab", "exporter-config", "--sim", "a1,a2")
    assert out.returncode == 0, out.stderr
    boards = [lab.boards["a1"], lab.boards["a2"]]
    assert yaml.safe_load(out.stdout) == yaml.safe_load(exporter_yaml(from_sim(boards)))
    assert yaml.safe_load(out.stdout)["a1"] == {
        "RawSerialPort": {"port": lab.boards["a1"].port, "speed": 115200}
    }
    bad = lab.dbch("lab", "exporter-config", "--sim", "nosuch")
    assert bad.returncode == 2 and "no running simulated board nosuch" in bad.stderr


def test_the_venv_has_one_serial_package_and_pip_check_passes() -> None:
    """labgrid needs pyserial-labgrid, mpremote needs pyserial: both install `serial`. One
    distribution owns it (scripts/pyserial-is-labgrid)."""
    from importlib.metadata import files

    import serial

    owner = {str(f) for f in files("pyserial-labgrid") or []}
    assert "serial/__init__.py" in owner
    assert serial.__file__.endswith(os.path.join("site-packages", "serial", "__init__.py"))
    assert serial.VERSION == "3.5.0.2"  # labgrid's fork, not pyserial 3.5
    assert not [f for f in files("pyserial") or [] if str(f).startswith("serial/")]
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_fleet_apply_and_check_over_four_places(lab: Lab, tmp_path: Path) -> None:
    out = lab.dbch("fleet", "apply", "--places", "dbch=1", *TABLE, "--out", str(tmp_path / "a"))
    assert out.returncode == 0, out.stdout + out.stderr
    out = lab.dbch(
        "fleet", "check", "--places", "dbch=1", *TABLE, "--out", str(tmp_path / "c"), "--json"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads(out.stdout)
    assert summary["counts"] == {"pass": 4}
    assert sorted(b["name"] for b in summary["boards"]) == ["a1", "a2", "b1", "b2"]
    # The witness of a simulated board exported from this host still answers.
    records = json.loads((tmp_path / "c" / "a1.json").read_text())
    assert "witness" in {r["view"] for r in records}
    assert "a1" not in lab.holders()  # released after the run


def test_a_place_another_user_holds_is_busy_and_left_alone(lab: Lab, tmp_path: Path) -> None:
    lab.lab.client("-p", "a2", "acquire", user="alice")
    try:
        with AgentClient(lab.boards["a2"].port, on_console=None) as hub:
            before = hub.status()["counters"]["rx"]
        one = lab.dbch("hello", "--port", "labgrid:a2")
        assert one.returncode == 2, one.stderr
        assert "labgrid:a2: busy, held by" in one.stderr and "/alice" in one.stderr
        out = lab.dbch(
            "fleet", "check", "--places", "dbch=1", *TABLE, "--out", str(tmp_path), "--json"
        )
        assert out.returncode == 2, out.stdout + out.stderr
        results = {b["name"]: b["result"] for b in json.loads(out.stdout)["boards"]}
        assert results == {"a1": "pass", "a2": "busy", "b1": "pass", "b2": "pass"}
        assert "alice" in lab.holders()  # still hers
        with AgentClient(lab.boards["a2"].port, on_console=None) as hub:
            assert hub.status()["counters"]["rx"] == before + 1  # only this status request
    finally:
        lab.lab.client("-p", "a2", "release", user="alice")


def test_an_exporter_killed_mid_fleet_fails_its_boards_only(lab: Lab, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [DBCH, "fleet", "check", "--places", "a1,a2,b1,b2", *TABLE, *FLEET_OUT(tmp_path)],
        env=lab.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen = ""
        while '"done":1,' not in seen:  # the first board (bench1's) is done: cut bench2 off
            line = proc.stderr.readline()
            assert line, f"fleet ended early: {seen}"
            seen += line
        lab.lab.stop_exporter("bench2")
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        lab.export("bench2")  # back for the tests after this one
    assert proc.returncode == 2, stdout + stderr
    boards = {b["name"]: b for b in json.loads(stdout)["boards"]}
    assert boards["a1"]["result"] == boards["a2"]["result"] == "pass"
    for gone in ("b1", "b2"):
        assert boards[gone]["result"] == "error", boards[gone]
        assert "rfc2217://127.0.0.1" in boards[gone]["detail"]  # says which connection
        detail = boards[gone]["detail"]
        assert "nothing serves it now" in detail or "connection lost" in detail  # and why
    assert "b1" not in lab.holders()


def test_the_strategy_brings_a_blank_board_to_configured(lab: Lab, tmp_path: Path) -> None:
    from labgrid import Environment

    env_file = tmp_path / "env.yaml"
    env_file.write_text(environment_yaml("blank", lab.lab.address))
    lab.lab.client("-p", "blank", "acquire")
    try:
        target = Environment(str(env_file)).get_target("main")
        strategy = target.get_driver("DbchStrategy")
        agent = target.get_driver("DbchAgentDriver")
        assert not agent.firmware_current()  # blank: MicroPython's REPL, no agent
        strategy.transition("configured")
        assert agent.firmware_current()
        assert agent.configured_as("sec-2018-03-r1", "north")
        assert agent.check("sec-2018-03-r1", "north").result == "pass"
        strategy.transition("configured")  # already there: nothing is redone
        target.deactivate_all_drivers()
    finally:
        lab.lab.client("-p", "blank", "release")


def environment_yaml(place: str, coordinator: str) -> str:
    return textwrap.dedent(
        f"""\
        targets:
          main:
            resources:
              RemotePlace:
                name: {place}
            drivers:
              DbchAgentDriver:
                board: PICO_WAVESHARE_SX1262
              DbchStrategy:
                table: sec-2018-03-r1
                region: north
        options:
          coordinator_address: {coordinator}
        imports:
          - dbch.lg.driver
        """
    )


SUITE = """
import pytest


def test_the_agent_answers(target):
    agent = target.get_driver("DbchAgentDriver")
    assert agent.hello()["board"] == "PICO_WAVESHARE_SX1262"


def test_configured_and_conforming(dbch_hub, dbch_table, dbch_target, dbch_evidence):
    from dbch.pytest_plugin import check_now

    assert dbch_target.port.startswith("rfc2217://127.0.0.1")
    report = dbch_evidence.add(check_now(dbch_hub, dbch_target, dbch_table))
    assert report.result == "pass", report.failures
"""


def test_a_labgrid_pytest_run_with_the_agent_driver(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "env.yaml").write_text(environment_yaml("a1", lab.lab.address))
    (tmp_path / "test_hub.py").write_text(SUITE)
    lab.lab.client("-p", "a1", "acquire")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *LABGRID_RUN],
            cwd=tmp_path,
            env=lab.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        lab.lab.client("-p", "a1", "release")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "2 passed" in out.stdout
    records = json.loads((tmp_path / "evidence.json").read_text())
    assert records and not [r for r in records if r["result"] == "fail"]


def test_our_suite_runs_unaffected_without_a_labgrid_environment(pytestconfig) -> None:
    """labgrid's plugin is loaded in every run (its entry point): without --lg-env or LG_ENV
    it holds no environment and our fixtures use our own options."""
    from labgrid.pytestplugin.hooks import LABGRID_ENV_KEY

    assert pytestconfig.pluginmanager.has_plugin("labgrid")
    assert os.environ.get("LG_ENV") is None and pytestconfig.stash[LABGRID_ENV_KEY] is None
