"""`dbch check`: a conforming board passes; each deliberately broken board fails naming the
field (configuration altered behind the host's back, a radio emitting off-plan, an agent
that lies about its radio); evidence in JSON, JUnit and HTML; ports over RFC 2217 and raw
TCP; the live monitor. The pure checking logic is tested on fabricated readings too."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dbch.checks.views import run_check
from dbch.errors import TransportError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.subghz_config import SubGhzConfig, agent_record, content_hash
from dbch.gbcs.tables import get_table
from dbch.link.client import AgentClient
from dbch.link.ser2net import Ser2net
from dbch.sim.bench import Bench, SimBoard
from helpers import apply, ensure_agent, mpremote, start_deployed, table_variant

DBCH = str(Path(sys.executable).parent / "dbch")
TABLE = get_table("sec-2018-03-r1")
RECORD_KEYS = {
    "check",
    "view",
    "field",
    "value",
    "limit",
    "unit",
    "rule",
    "result",
    "reason",
    "table",
    "table_hash",
    "region",
    "fw_hash",
    "mode",
    "kind",
    "source",
    "simulated",
    "tool",
    "host",
    "operator",
    "command",
    "board",
    "time",
}


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DBCH, *args], capture_output=True, text=True, timeout=timeout)


# Bench time at which each board was last set up: the witness looks back to then, not to
# emissions earlier tests on the same board made on purpose.
SET_UP_AT: dict[str, float] = {}


def check(board: SimBoard, *extra: str, port: str | None = None) -> tuple[int, list[dict]]:
    since = board.bench.now() - SET_UP_AT.get(board.id, 0.0) + 0.5
    out = run(
        "check",
        "--port",
        port or f"sim:{board.id}",
        "--table",
        TABLE.id,
        "--region",
        "north",
        "--json",
        "--since",
        f"{since:.3f}",
        *extra,
    )
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def failed(records: list[dict]) -> dict[str, dict]:
    return {r["check"]: r for r in records if r["result"] == "fail"}


def mhz_in(text: str) -> float:
    """The frequency a reason names ("... e.g. 864.299999 MHz": the synthesiser's step)."""
    return float(re.search(r"(\d+\.\d+) MHz", text).group(1))  # type: ignore[union-attr]


def send_frames(hub: AgentClient, n: int = 4) -> None:
    assert hub.traffic(frames=n, size=24, interval_ms=20)["started"]
    assert hub.wait_event("traffic_done", timeout=10.0) is not None


@pytest.fixture
def good_board(hub_board: SimBoard) -> SimBoard:
    """The hub board, honest, with the 2018 table for north applied and a few frames sent."""
    hub_board.set_faults()
    ensure_agent(hub_board)
    SET_UP_AT[hub_board.id] = hub_board.bench.now()
    with AgentClient(hub_board.port, on_console=None) as hub:
        apply(hub, TABLE)
        send_frames(hub)
    return hub_board


# --- boards on a simulated bench --------------------------------------------------------
def test_a_board_with_the_2018_table_passes(good_board: SimBoard, tmp_path: Path) -> None:
    junit, html = tmp_path / "check.xml", tmp_path / "check.html"
    rc, records = check(good_board, "--junit", str(junit), "--html", str(html))
    assert rc == 0, failed(records)
    assert {r["result"] for r in records} == {"pass"}
    assert {r["view"] for r in records} == {"config", "radio", "witness"}
    for r in records:
        assert set(r) == RECORD_KEYS
        assert r["table"] == TABLE.id and r["fw_hash"] and r["board"].startswith(good_board.id)
    expected = TABLE.record_hash("north")
    assert {r["table_hash"] for r in records} == {expected}
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert int(suite.get("tests", 0)) == len(records)
    page = html.read_text()
    assert 'id="channel-plan"' in page and 'class="emission"' in page

    out = run("check", "--port", f"sim:{good_board.id}", "--table", TABLE.id, "--region", "north")
    assert out.returncode == 0 and "PASS:" in out.stdout


def test_a_configuration_altered_behind_the_hosts_back_fails_naming_the_field(
    good_board: SimBoard, tmp_path: Path
) -> None:
    # Another tool sets a configuration that still calls itself the 2018 table.
    altered = table_variant(
        tmp_path, "sec-2018-03-r1", max_channel_changes_per_week="max_channel_changes_per_week = 3"
    )
    with AgentClient(good_board.port, on_console=None) as hub:
        apply(hub, altered)
    rc, records = check(good_board)
    bad = failed(records)
    assert rc == 1
    assert "config.max_channel_changes_per_week" in bad and "config.hash" in bad
    assert bad["config.max_channel_changes_per_week"]["value"] == 3
    assert bad["config.max_channel_changes_per_week"]["limit"] == 5
    assert not [c for c in bad if not c.startswith("config.")]  # radio and air are fine


def test_a_radio_emitting_off_plan_fails_on_the_witness(good_board: SimBoard) -> None:
    """The synthesiser is pulled 70 kHz off (a bad reference): registers and the agent's
    readback look right, the spectrum analyser does not."""
    good_board.set_faults(freq_offset_hz=70_000)
    try:
        with AgentClient(good_board.port, on_console=None) as hub:
            send_frames(hub, 3)
        rc, records = check(good_board)
    finally:
        good_board.set_faults()
    bad = failed(records)
    assert rc == 1 and set(bad) == {"witness.allowed_channels"}
    assert bad["witness.allowed_channels"]["field"] == "freq_hz"
    assert bad["witness.allowed_channels"]["value"] == 3
    assert abs(mhz_in(bad["witness.allowed_channels"]["reason"]) - 863.32) < 1e-5


LIAR_MAIN = b"""# A lying agent (test only): the chip is tuned 1.05 MHz above what it reports.
from subghz import sx126x
_tune = sx126x.SX1262._tune
def _lying_tune(self, f):
    _tune(self, f + 1050000)
    self._shadow["freq_hz"] = f
sx126x.SX1262._tune = _lying_tune
from dbchagent.program import main
main()
"""


def test_an_agent_that_lies_about_its_radio_fails_on_the_witness(
    bench: Bench, tmp_path: Path
) -> None:
    board = start_deployed(bench)
    try:
        liar = tmp_path / "main.py"
        liar.write_bytes(LIAR_MAIN)
        mpremote(board.port, "cp", str(liar), ":main.py", resume=False, timeout=60)
        board.reset()
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            apply(hub, TABLE)
            send_frames(hub, 3)
            assert hub.status()["radio"]["readback"]["freq_hz"] == 863_250_000  # the lie
        rc, records = check(board)
        bad = failed(records)
        assert rc == 1 and set(bad) == {"witness.allowed_channels"}
        assert abs(mhz_in(bad["witness.allowed_channels"]["reason"]) - 864.3) < 1e-5
        assert all(r["result"] == "pass" for r in records if r["view"] != "witness")
    finally:
        board.stop()


def test_a_port_that_cannot_be_reached_is_exit_2() -> None:
    out = run("check", "--port", "/dev/does-not-exist", "--table", TABLE.id, "--region", "north")
    assert out.returncode == 2 and "cannot open" in out.stderr
    out = run("check", "--port", "/dev/null", "--table", "no-such-table", "--region", "north")
    assert out.returncode == 2 and "no-such-table" in out.stderr


# --- remote ports --------------------------------------------------------------------------
def hello_at(url: str) -> object:
    with AgentClient(url, on_console=None, retries=0, timeout=0.5) as hub:
        return hub.hello()


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(x) for x in (task / "children").read_text().split()}
    return out


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":  # exited, not yet reaped by init
            return True
        time.sleep(0.05)
    return False


def _serve_port(board: SimBoard, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """`dbch serve-port` for `board`, and the RFC 2217 URL it prints."""
    server = subprocess.Popen(
        [DBCH, "serve-port", "--port", f"sim:{board.id}", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    assert url.startswith("rfc2217://127.0.0.1:"), url
    return server, url


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGKILL])
def test_serve_port_stops_its_ser2net_however_it_ends(good_board: SimBoard, sig: int) -> None:
    # The red team: SIGTERM or SIGHUP left ser2net listening on the board's pty path, which
    # a later pty can reuse. A requested stop exits 0; even SIGKILL takes ser2net along.
    server, _url = _serve_port(good_board)
    try:
        (child,) = _children(server.pid)
        server.send_signal(sig)
        rc = server.wait(10)
        assert rc == (-signal.SIGKILL if sig == signal.SIGKILL else 0)
        assert _gone(child), f"ser2net ({child}) outlived serve-port ({sig!r})"
    finally:
        if server.poll() is None:
            server.kill()


def test_rfc2217_from_serve_port_works_for_every_command(good_board: SimBoard) -> None:
    server, url = _serve_port(good_board, "--seconds", "120")
    try:
        hello = run("hello", "--port", url, "--json")
        assert hello.returncode == 0, hello.stderr
        assert json.loads(hello.stdout)["board"] == good_board.board
        rc, records = check(good_board, "--witness", good_board.id, port=url)
        assert rc == 0 and {r["view"] for r in records} == {"config", "radio", "witness"}
        applied = run("apply", "--port", url, "--table", TABLE.id, "--region", "north")
        assert applied.returncode == 0, applied.stderr
        deployed = run("deploy", "--port", url, "--board", good_board.board, "--json")
        assert deployed.returncode == 0, deployed.stderr
        assert json.loads(deployed.stdout)["copied"] == []
        # ser2net takes one client at a time: a second is refused, the first carries on.
        with AgentClient(url, on_console=None) as remote:
            remote.wait_ready()
            with pytest.raises(TransportError):
                hello_at(url)
            assert remote.hello().board == good_board.board
    finally:
        server.terminate()
        server.wait(10)


def test_raw_tcp_port(good_board: SimBoard) -> None:
    ensure_agent(good_board)
    server = Ser2net(good_board.port, rfc2217=False).start()
    try:
        assert server.client_url.startswith("socket://")
        with AgentClient(server.client_url, on_console=None) as hub:
            assert hub.hello().board == good_board.board
            assert hub.get_config()["configured"]
    finally:
        server.close()


# --- monitor -------------------------------------------------------------------------------
def test_monitor_prints_status_and_alerts(good_board: SimBoard) -> None:
    proc = subprocess.Popen(
        [
            DBCH,
            "monitor",
            "--port",
            f"sim:{good_board.id}",
            "--seconds",
            "3",
            "--interval",
            "1",
            "--json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # it holds the port now
    # Another command meanwhile goes through the monitor (before: refused, port in use)
    from dbch.link.share import RelayLink

    with AgentClient(good_board.port, on_console=None) as hub:
        assert isinstance(hub.link, RelayLink)
        assert hub.status()["config"]["table"] == TABLE.id
    rest, _ = proc.communicate(timeout=30)
    out = first + rest
    lines = [json.loads(ln) for ln in out.splitlines()]
    statuses = [ln["status"] for ln in lines if "status" in ln]
    assert len(statuses) >= 2
    assert statuses[-1]["config"]["table"] == TABLE.id
    text = run("monitor", "--port", f"sim:{good_board.id}", "--seconds", "1")
    assert text.returncode == 0 and "p28/ch" in text.stdout and "radio ready" in text.stdout


# --- the pure checks on fabricated readings ----------------------------------------------
def readings(table=TABLE, region="north") -> tuple[dict, dict]:
    cfg = table.region(region).config()
    record = agent_record(cfg, table.regulatory)
    reg = table.regulatory
    config = {
        "configured": True,
        "fields": cfg.as_dict(),
        "hash": content_hash(record),
        "regulatory": {
            "max_tx_ddbm": reg.max_tx_ddbm,
            "lbt_threshold_ddbm": reg.lbt_threshold_ddbm,
            "cap_ms_per_hour": [reg.cap_ms_per_hour[p] for p in plan.PAGES],
        },
    }
    status = {
        "radio": {
            "state": "ready",
            "readback": {
                "freq_hz": 863_250_000,
                "bitrate": 100_000,
                "fdev_hz": 35_000,
                "power_dbm": 14,
                "packet_type": "gfsk",
                "sync_word": 0x904E,
                "errors": 0,
                "verified": ["freq_hz"],
            },
        },
        "channel": {"page": 28, "channel": 0, "freq_hz": 863_250_000},
        "fw": {"hash": "f"},
    }
    return config, status


def emission(t: float, freq_hz: int = 863_250_000, us: int = 1000, emitted=True) -> dict:
    return {
        "t": t,
        "freq_hz": freq_hz,
        "duration_us": us,
        "emitted": emitted,
        "violation": None if emitted else "carrier in masked band",
    }


def results(rep) -> dict[str, str]:
    return {r.check: r.result for r in rep.records}


def test_fabricated_good_readings_pass_and_real_hardware_has_no_witness() -> None:
    cfg, st = readings()
    rep = run_check(TABLE, "north", cfg, st, [emission(1.0)], "b")
    assert rep.result == "pass", rep.failures
    rep = run_check(TABLE, "north", cfg, st, None, "b")
    assert rep.result == "pass" and results(rep)["witness"] == "n/a"


def test_an_emission_in_the_masked_band_fails_whatever_the_agent_says() -> None:
    cfg, st = readings()
    rep = run_check(TABLE, "north", cfg, st, [emission(1.0, 917_100_000)], "b")
    assert results(rep)["witness.masked_band"] == "fail"
    assert results(rep)["witness.allowed_channels"] == "fail"
    rep = run_check(TABLE, "north", cfg, st, [emission(1.0, 917_100_000, emitted=False)], "b")
    assert results(rep)["witness.model_refusals"] == "fail"


def test_airtime_over_the_cap_in_any_hour_fails() -> None:
    cfg, st = readings()
    cap_s = TABLE.regulatory.cap_ms_per_hour[28] / 1000
    n = int(cap_s / 0.05) + 5  # frames of 50 ms: just over the cap inside one hour
    burst = [emission(1000.0 + i, us=50_000) for i in range(n)]
    rep = run_check(TABLE, "north", cfg, st, burst, "b")
    assert results(rep)["witness.duty_cycle"] == "fail"
    spread = [emission(1000.0 + i * 3700 / n * 2, us=50_000) for i in range(n)]
    assert results(run_check(TABLE, "north", cfg, st, spread, "b"))["witness.duty_cycle"] == (
        "pass"
    )


def test_what_cannot_be_checked_is_never_passed() -> None:
    cfg, st = readings()
    del st["radio"]["readback"]["bitrate"]
    rep = run_check(TABLE, "north", cfg, st, None, "b")
    assert results(rep)["radio.bitrate"] == "unchecked" and rep.result == "incomplete"
    st["radio"]["readback"] = None
    rep = run_check(TABLE, "north", cfg, st, None, "b")
    assert results(rep)["radio.readback"] == "unchecked"


def test_looser_regulatory_limits_and_off_channel_tuning_fail_naming_the_field() -> None:
    cfg, st = readings()
    cfg["regulatory"]["max_tx_ddbm"] = 200
    cfg["hash"] = "0" * 64  # the agent's record differs, so does its hash
    cfg["regulatory"]["cap_ms_per_hour"][3] += 1
    st["radio"]["readback"]["freq_hz"] = 863_350_000
    st["radio"]["readback"]["sync_word"] = 0x1234
    bad = {r.check: r for r in run_check(TABLE, "north", cfg, st, None, "b").failures}
    assert set(bad) == {
        "config.regulatory.max_tx_ddbm",
        "config.regulatory.cap_ms_per_hour.page31",
        "config.hash",
        "radio.freq_hz",
        "radio.operating_channel",
        "radio.sync_word",
    }
    assert "863.350000 MHz is no channel" in bad["radio.freq_hz"].reason
    cfg["configured"] = False
    bad = {r.check for r in run_check(TABLE, "north", cfg, st, None, "b").failures}
    assert "config.configured" in bad


def test_a_narrower_board_fails_conform_and_passes_comply(good_board: SimBoard) -> None:
    # The review: a board enabling only page 28 channel 5 (everything else the table's)
    # passed `check` with exit 0, "every field within its rule". A supplier proving hubs
    # "appropriately configured" asks whether the board holds the table's values.
    narrow = SubGhzConfig(
        **{**TABLE.region("north").config().as_dict(), "page28": plan.mask_word(28, [5])}
    )
    with AgentClient(good_board.port, on_console=None) as hub:
        hub.apply_config(agent_record(narrow, TABLE.regulatory), TABLE.id, "north")
    rc, records = check(good_board)
    bad = failed(records)
    assert rc == 1 and set(bad) == {"config.page28", "config.hash"}, bad
    assert "in the table but not enabled" in bad["config.page28"]["reason"]
    assert {r["mode"] for r in records} == {"conform"}
    rc, records = check(good_board, "--mode", "comply")
    assert rc == 0, failed(records)
    assert {r["mode"] for r in records} == {"comply"}


def test_every_record_says_what_kind_of_number_it_compares_with() -> None:
    # The review: `dbch check` reported the Zigbee constants as "the table's". Each record
    # now carries its limit's kind (sec_table, zigbee, regulation) and source.
    cfg = {
        "configured": True,
        "hash": "x",
        "fields": TABLE.region("north").config().as_dict(),
        "regulatory": {
            "cap_ms_per_hour": [100000] * 4,
            "lbt_threshold_ddbm": -870,
            "max_tx_ddbm": 140,
        },
    }
    rep = run_check(TABLE, "north", cfg, {"radio": {}}, None, "b")
    kind = {r.check: r.kind for r in rep.records}
    source = {r.check: r.source for r in rep.records}
    assert kind["config.regulatory.cap_ms_per_hour.page30"] == "zigbee"
    assert kind["config.regulatory.lbt_threshold_ddbm"] == "zigbee"
    assert kind["config.regulatory.max_tx_ddbm"] == "regulation"
    assert source["config.regulatory.max_tx_ddbm"].startswith("unverified: ")
    assert kind["config.page31"] == "sec_table" and "BEIS" in source["config.page31"]
    assert source["config.gsme_curfew"].startswith("placeholder: ")
    cap = next(r for r in rep.records if r.check == "config.regulatory.cap_ms_per_hour.page30")
    assert "Zigbee R22 limit" in cap.reason and "table" not in cap.reason
    assert {r.kind for r in rep.records} <= {"sec_table", "zigbee", "regulation"}


def test_transmit_power_is_checked_as_radiated_with_the_boards_antenna() -> None:
    # The table's maximum is a radiated limit (ERP); the chip reports conducted power.
    cfg = {"configured": False}
    st = {"radio": {"readback": {"power_dbm": 14}}}
    bare = {r.check: r for r in run_check(TABLE, "north", cfg, st, None, "b").records}
    assert bare["radio.power_dbm"].result == "pass"  # 14 dBm + 0 dBi - 2.15 = 11.85 dBm ERP
    big = {r.check: r for r in run_check(TABLE, "north", cfg, st, None, "b", gain_dbi=5).records}
    assert (
        big["radio.power_dbm"].result == "fail"
        and "16.85 dBm ERP" in big["radio.power_dbm"].reason
    )


def test_evidence_says_simulated_and_who_checked_what(good_board: SimBoard, tmp_path) -> None:
    # An auditor must not mistake a simulated pass for a hardware one; every record and
    # report names the bench, the tool, the host, the operator and the command line.
    junit, html = tmp_path / "c.xml", tmp_path / "c.html"
    rc, records = check(
        good_board, "--junit", str(junit), "--html", str(html), "--operator", "Ada"
    )
    assert rc == 0
    assert {r["simulated"] for r in records} == {True}
    assert {r["operator"] for r in records} == {"Ada"}
    assert {r["tool"] for r in records} == {"dbch 0.1.0"}
    assert all(r["host"] and "check --port" in r["command"] for r in records)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name", "").startswith("[SIMULATED] ")
    assert suite.get("timestamp") and suite.get("hostname")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert (
        props["bench"] == "SIMULATED" and props["mode"] == "conform" and props["operator"] == "Ada"
    )
    assert len(props["firmware_hash"]) == 64 and len(props["table_hash"]) == 64
    classes = {c.get("classname") for c in suite.iter("testcase")}
    assert classes and not any(re.search(r"[\s()\[\]]", c or "") for c in classes), classes
    page = html.read_text()
    body = page[page.index("<body>") + 6 :]
    assert body.startswith('<p class="fail" id="bench">SIMULATED')  # the very first line


def test_a_simulated_board_is_simulated_through_any_path(hub_board: SimBoard) -> None:
    # A new user checked a simulated board through a labgrid place whose exporter gave a
    # host name other than localhost: the report said HARDWARE and the witness was
    # dropped. The board itself says it is a twin (hello's `twin`, from its ROM), and the
    # bench knows its board by the unique id the agent reports, not by the URL's host.
    from dbch.checks.targets import Target
    from dbch.checks.views import check_target
    from dbch.lab import _same_board

    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        hello = hub.hello()
        apply(hub, get_table("sec-2018-03-r1"), "north")
    assert hello.simulated and hello.twin_of == hub_board.board
    plain = Target("via-a-place", hub_board.port, "north")  # what a remote place gives
    assert not plain.simulated
    rep = check_target(plain, get_table("sec-2018-03-r1"), "north")
    assert rep.simulated  # SIMULATED in every report, from the board
    assert _same_board(hub_board.port, hub_board.uid)
    assert not _same_board(hub_board.port, bytes(8))
