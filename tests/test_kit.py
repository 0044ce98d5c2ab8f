"""Field kits: `dbch record` unattended and `dbch report`'s timeline and verdict, on a
simulated board whose bench clock runs fast (`make soak`: a day at 100x, under a quarter of
an hour), and the database's own failures (damaged, newer, not ours) without a board."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbch.kit.db import seconds
from dbch.kit.timeline import COVER_INTERVALS, LATENCY_S
from dbch.link.client import AgentClient
from dbch.sim.bench import Bench, SimBoard
from dbch.sim.layout import read_json, write_json
from helpers import HUB_BOARD, apply, table_variant

DBCH = str(Path(sys.executable).parent / "dbch")
# The bench clock runs SCALE times faster than real time. Crossing Critical needs 57.6 s of
# airtime within one bench hour, and the board's CPU sets how fast airtime comes: the twin
# and its chip model, every SPI transaction a round trip to the supervisor, take about 4 ms
# a frame, so the crossing takes 19 s of real time on an idle machine (measured, at 80x and
# at 150x alike). The bench hour must stay several times longer than that on a loaded
# machine: at 40x it is 90 s (at 80x, 45 s, a loaded CI missed it; at 250x, 14.4 s).
# `make test` records one bench hour (every action of the day happens in it); `make soak`
# a whole day at 100x, alone (14.4 minutes).
SCALE = int(os.environ.get("DBCH_KIT_SCALE", "40"))
HOURS = float(os.environ.get("DBCH_KIT_HOURS", "1"))
INTERVAL_S = 30  # bench seconds between polls: 0.75 s of real time at 40x


def bench_s(real_s: float) -> float:
    """The bench seconds that pass in `real_s` seconds of real time."""
    return real_s * SCALE


# Stretches of the day (an other configuration, no power, the cable pulled, the recorder
# killed) last this long: seconds of real time, so each spans many polls at any scale.
SHORT_S = bench_s(4.8)
LONG_S = bench_s(7.2)
# How far (bench seconds) a recorded time may be from the action that caused it: a poll
# comes every INTERVAL_S, later on a loaded machine, and a failed poll waits its timeouts
# (2 s of real time, twice).
NEAR_S = max(bench_s(1.2), 2 * INTERVAL_S)
FAILED_POLL_S = bench_s(2 * 2.0) + NEAR_S
# A poll vouches for the board's state this long at most (kit/timeline.py): an unseen
# stretch begins up to this long after the last poll before it.
REACH_S = COVER_INTERVALS * INTERVAL_S + LATENCY_S * SCALE
DUTY = {
    "normal_limited_threshold": "normal_limited_threshold = 150",  # 54 s an hour
    "limited_critical_threshold": "limited_critical_threshold = 160",  # 57.6 s an hour
}
OWN_FRAMES = 20


RUNNING: list[subprocess.Popen[str]] = []


def stop_recorders() -> None:
    # A recorder left running keeps reopening its port's path, and a pty path is reused:
    # it would hold another test's board (another worker's, as soon as this board stops).
    while RUNNING:
        proc = RUNNING.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(autouse=True)
def _no_recorder_outlives_its_test() -> Iterator[None]:
    yield
    stop_recorders()


class Recording:
    """`dbch record` as a process, its JSON Lines read as they come."""

    def __init__(self, board: SimBoard, db: Path, *extra: str):
        env = {**os.environ, "DBCH_SIM_HOME": str(board.bench.home)}
        self.proc = subprocess.Popen(
            [
                DBCH,
                "record",
                "--port",
                board.port,
                "--db",
                str(db),
                "--interval",
                f"{INTERVAL_S}s",
                "--json",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        RUNNING.append(self.proc)
        self.records: list[dict[str, Any]] = []
        self.text: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.records.append(json.loads(line))
            except ValueError:
                self.text.append(line)  # never expected: the test says so below

    def count(self, event: str) -> int:
        return sum(r["event"] == event for r in list(self.records))

    def wait_for(self, event: str, n: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.count(event) < n:
            assert self.proc.poll() is None, (self.proc.returncode, self.text[-5:])
            assert time.monotonic() < deadline, f"no {event} in {timeout} s: {self.records[-5:]}"
            time.sleep(0.02)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.fixture
def kit_board(tmp_path_factory) -> Iterator[SimBoard]:
    from dbch.boards.deploy import deploy

    bench = Bench(tmp_path_factory.mktemp("kit"))
    (b,) = bench.start(board=HUB_BOARD, erase=True, clock_scale=SCALE)
    deploy(b.port, HUB_BOARD)
    yield b
    stop_recorders()  # before the board's port goes (an autouse fixture ends after this)
    bench.stop()


def until(bench: Bench, t: float) -> None:
    """Wait for the bench clock to reach `t`."""
    while bench.now() < t:
        time.sleep(min(0.2, max(0.01, (t - bench.now()) / SCALE)))


def hub_via(port: str, rec: Recording) -> AgentClient:
    """A client of the board while the recorder holds its port: served through it."""
    from dbch.link.share import RelayLink

    rec.wait_for("poll")
    hub = AgentClient(port, on_console=None, timeout=4.0)
    assert isinstance(hub.link, RelayLink)  # the port is the recorder's: asked through it
    return hub


def cross_limited_and_critical(hub: AgentClient) -> None:
    # Client traffic up to Limited (where the hub suspends it), then the hub's own frames
    # to Critical, within the hour the usage counts. If the hour rolls first (a loaded
    # machine), the usage falls back and the burst is tried again.
    freq = hub.get_channel()["freq_hz"]
    duty: dict[str, Any] = {}
    began = time.monotonic()
    for _ in range(6):
        hub.traffic(6000, 125, 0)
        assert hub.wait_event("traffic_done", 120) is not None
        duty = hub.status()["duty"]
        while duty["state"] == "limited":
            # the gap to Critical is 3.6 s of airtime, 300 frames: the state is asked after
            # every OWN_FRAMES of them (0.24 s past Critical at most; Regulated is 100 s)
            for _ in range(OWN_FRAMES):
                hub.test_tx(freq, 125)
            duty = hub.status()["duty"]
        if duty["state"] in ("critical", "regulated"):
            return
    pytest.fail(
        f"Critical not reached in six bursts ({time.monotonic() - began:.0f} s): "
        f"{duty['usage_ms']} ms of airtime in the last bench hour ({3600 / SCALE:g} s of "
        f"real time at {SCALE}x), {duty['critical_ms']} needed: the board's CPU is slower "
        "than this clock allows (DBCH_KIT_SCALE lower)"
    )


@pytest.mark.unix_twin
@pytest.mark.slow
def test_a_recorded_day_gives_the_timeline_and_verdict_of_what_happened(
    kit_board: SimBoard, tmp_path: Path
) -> None:
    bench, b = kit_board.bench, kit_board
    table = table_variant(tmp_path, "kit", **DUTY)
    other = table_variant(
        tmp_path, "kit-other", max_channel_changes_per_week="max_channel_changes_per_week = 3"
    )
    with AgentClient(b.port, on_console=None) as hub:
        apply(hub, table)
    db = tmp_path / "kit.sqlite"
    start = bench.now()
    rec = Recording(b, db)
    did: dict[str, float] = {}
    with hub_via(b.port, rec) as hub:
        cross_limited_and_critical(hub)
        did["critical"] = bench.now()
        # a channel change: the operating channel jammed, a scan moves away from it
        cfg_path = bench.folder.config
        cfg = read_json(cfg_path)
        jam = {"freq_hz": hub.get_channel()["freq_hz"], "power_dbm": -60}
        write_json(cfg_path, {**cfg, "interferers": [jam]})
        try:
            assert hub.scan()["outcome"] == "changed"
        finally:
            write_json(cfg_path, cfg)
        did["scan"] = bench.now()
        # a stretch under another configuration: not conform to the table
        apply(hub, other)
        did["other"] = bench.now()
        until(bench, did["other"] + SHORT_S)
        apply(hub, table)
        did["back"] = bench.now()
        rec.wait_for("poll", rec.count("poll") + 2)  # seen back before the reset
    b.reset()
    did["reset"] = bench.now()
    rec.wait_for("poll", rec.count("poll") + 2)
    b.power_off()
    did["power_off"] = bench.now()
    until(bench, did["power_off"] + SHORT_S)  # without power
    b.power_on()
    did["power_on"] = bench.now()
    rec.wait_for("poll", rec.count("poll") + 3)
    # the cable pulled for a while: the board runs on, the recorder sees nothing
    b.set_faults(link_down=True)
    did["unplugged"] = bench.now()
    rec.wait_for("outage_start")
    until(bench, did["unplugged"] + LONG_S)
    b.set_faults()
    did["plugged"] = bench.now()
    rec.wait_for("outage_end")
    polls = rec.count("poll")
    rec.wait_for("poll", polls + 3)
    rec.proc.kill()  # kill -9: mid-poll, as likely as not
    rec.proc.wait()
    did["killed"] = bench.now()
    until(bench, did["killed"] + LONG_S)  # unrecorded
    rec = Recording(b, db)
    rec.wait_for("poll")
    did["restarted"] = bench.now()
    with hub_via(b.port, rec) as hub:
        hub.scan()  # events after the restart: recorded once, with the rest
        until(bench, start + HOURS * 3600)
    # The board logs on by itself (duty states as the hour slides): what it logs after the
    # recorder's last poll is not in the record (a loaded run drew two such events). What
    # it has logged by now must all be, once each, after two more polls.
    with hub_via(b.port, rec) as hub:
        logged = [e[0] for e in hub.all_events()]
    polls = rec.count("poll")
    rec.wait_for("poll", polls + 2)
    assert rec.stop() == 0  # SIGTERM: a clean stop
    assert rec.text == [] and rec.records[-1]["event"] == "stopped"
    assert rec.count("not_shared") == 0  # the killed run's socket was taken over

    out = subprocess.run(
        [
            DBCH,
            "report",
            "--db",
            str(db),
            "--json",
            "--table",
            str(tmp_path / "kit.toml"),
            "--region",
            "north",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1, out.stderr  # not conform: the time under `other`
    (tl,) = json.loads(out.stdout)["boards"]
    assert tl["verdict"] == "not conform"
    when = {k: v - start for k, v in did.items()}  # bench seconds into the record

    def at(text: str) -> float:
        return seconds(text) - start

    def near(t: float, lo: float, hi: float) -> bool:
        return lo - NEAR_S <= t <= hi + NEAR_S

    # The time under the other configuration, and nothing else, does not conform
    bad = [i for i in tl["intervals"] if i["what"] == "not conform"]
    assert len(bad) == 1, bad
    assert near(at(bad[0]["start"]), when["other"], when["other"])
    assert near(at(bad[0]["end"]), when["back"], when["back"])
    assert "kit-other" in bad[0]["why"] and "not kit north" in bad[0]["why"]
    # Time not seen: the half hour the recorder was killed, said so; the power cut (and
    # perhaps the reset) as outages; nothing anywhere else
    unseen = [i for i in tl["intervals"] if i["what"] == "not observed"]
    killed = [i for i in unseen if "recorder was not running" in i["why"]]
    assert len(killed) == 1
    assert near(at(killed[0]["start"]), when["killed"] - REACH_S, when["killed"] + REACH_S)
    assert near(at(killed[0]["end"]), when["restarted"], when["restarted"])
    windows = [
        (when["killed"], when["restarted"]),
        (when["unplugged"], when["plugged"] + FAILED_POLL_S),
        (when["reset"], when["reset"] + FAILED_POLL_S),
        (when["power_off"], when["power_on"] + FAILED_POLL_S),
    ]
    for i in unseen:
        assert any(
            near(at(i["start"]), lo, hi + REACH_S) and near(at(i["end"]), lo, hi + REACH_S)
            for lo, hi in windows
        ), (at(i["start"]), at(i["end"]), i["why"], when)
    assert any(near(at(i["start"]), when["power_off"], when["power_on"] + REACH_S) for i in unseen)
    pulled = [  # the outage, with its own error
        i
        for i in unseen
        if "no reply" in i["why"] and near(at(i["start"]), when["unplugged"], when["plugged"])
    ]
    assert pulled, (unseen, when)
    assert near(at(pulled[-1]["end"]), when["plugged"], when["plugged"] + FAILED_POLL_S)
    assert any(o["reason"] and "no reply" in o["reason"] for o in tl["outages"])
    # Resets and power cuts, with their causes, where they happened
    resets = tl["resets"]
    assert any(
        r["cause"] == "hard" and near(at(r["time"]), when["reset"], when["reset"]) for r in resets
    ), resets
    assert any(
        r["power_cut"] and near(at(r["time"]), when["power_off"], when["power_on"]) for r in resets
    ), resets
    # The channel change with its DUIS ScanTrigger; Limited and Critical entered
    scans = [c for c in tl["channel_changes"] if c["reason"] == "scan"]
    assert scans and all(c["ScanTrigger"] == "RemotePartyCommand" for c in scans)
    assert any(near(at(c["time"]), when["critical"], when["scan"]) for c in scans)
    codes = {a["code"] for a in tl["alerts"]}
    assert {"0x8F20", "0x8F22", "0x8F26"} <= codes
    # the hours: polled peaks (Limited lasted, so polls saw it), states from polls and
    # alerts (a short Critical between two polls shows too)
    assert max(h["peak_ms"] for h in tl["hours"]) >= 54_000
    assert any(h["state"] in ("critical", "regulated") for h in tl["hours"])
    assert len(tl["hours"]) >= HOURS
    # Every event the board had logged is in the database exactly once; no gap, one log
    with sqlite3.connect(db) as conn:
        stored = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")]
        gens = {r[0] for r in conn.execute("SELECT gen FROM events")}
    assert stored[: len(logged)] == logged and stored == list(range(1, len(stored) + 1))
    assert gens == {1}
    assert tl["gaps"] == [] and tl["events"] == len(stored)

    # The same timeline for people: HTML with its chart (matplotlib's SVG) and the banner
    page = tmp_path / "kit.html"
    out = subprocess.run(
        [
            DBCH,
            "report",
            "--db",
            str(db),
            "--html",
            str(page),
            "--table",
            str(tmp_path / "kit.toml"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1, out.stderr
    text = page.read_text()
    assert "SIMULATED" in text and "<svg" in text and "Matplotlib" in text
    assert "not conform" in text and "recorder was not running" in text
    # and printed: A4, the banner and "page N of M" on every page
    pdf = tmp_path / "kit.pdf"
    out = dbch("report", "--db", str(db), "--pdf", str(pdf), "--table", str(tmp_path / "kit.toml"))
    assert out.returncode == 1, out.stderr
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout)[1])  # type: ignore[index]
    assert "(A4)" in info.stdout
    for n in range(1, pages + 1):
        one = subprocess.run(
            ["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "SIMULATED" in one and f"page {n} of {pages}" in one, (n, one[:300])


# --- the database's own failures: one line, exit 2, the file left as it was ------------------
def dbch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DBCH, *args], capture_output=True, text=True, timeout=60)


def one_line_exit_2(out: subprocess.CompletedProcess[str], says: str) -> None:
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in out.stderr, lines


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff\x01" * 2000), "not a usable"),
        (lambda p: p.write_bytes(b"\x00" * 100 + b"not a database" * 50), "not a usable"),
        (
            lambda p: sqlite3.connect(p).execute("PRAGMA user_version = 99").connection.commit(),
            "schema version 99, newer",
        ),
        (
            lambda p: sqlite3.connect(p).execute("CREATE TABLE x (a)").connection.commit(),
            "not a kit database",
        ),
    ],
    ids=["damaged", "not-sqlite", "newer", "foreign"],
)
def test_a_database_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path, make: Callable[[Path], object], says: str
) -> None:
    db = tmp_path / "kit.sqlite"
    make(db)
    before = db.read_bytes()
    one_line_exit_2(dbch("report", "--db", str(db)), says)
    one_line_exit_2(dbch("record", "--port", "/dev/null", "--db", str(db)), says)
    assert db.read_bytes() == before


def test_report_on_a_missing_database_says_so() -> None:
    one_line_exit_2(dbch("report", "--db", "/nonexistent/kit.sqlite"), "no such database")


def test_an_old_schema_is_migrated_and_a_new_one_is_current(tmp_path: Path) -> None:
    from dbch.kit.db import SCHEMA_VERSION, KitDb

    db = tmp_path / "kit.sqlite"
    db.touch()  # version 0: an empty file
    KitDb(db).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"polls", "events", "gaps", "resets", "outages", "cursors"} <= tables


def test_a_recorder_without_its_board_records_the_outage_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    # A pulled cable from the start: the recorder keeps trying, says so as JSON Lines with
    # their UTC time, and exits 0 on SIGTERM; the report shows the time as not observed.
    db = tmp_path / "kit.sqlite"
    proc = subprocess.Popen(
        [
            DBCH,
            "record",
            "--port",
            str(tmp_path / "ttyGONE"),
            "--db",
            str(db),
            "--interval",
            "0.2s",
            "--json",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    RUNNING.append(proc)
    assert proc.stderr is not None
    lines = [json.loads(proc.stderr.readline()) for _ in range(2)]
    assert [r["event"] for r in lines] == ["recording", "outage_start"]
    assert all(r["time"].endswith("+00:00") for r in lines)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert json.loads(proc.stderr.read().splitlines()[-1])["event"] == "stopped"
    with sqlite3.connect(db) as conn:
        ((who, reason, end),) = conn.execute("SELECT who, reason, end FROM outages").fetchall()
    assert who.startswith("port:") and "ttyGONE" in reason and end is not None


def test_pruned_time_is_marked_pruned(tmp_path: Path) -> None:
    from dbch.kit.db import KitDb, iso
    from dbch.kit.timeline import timeline

    db = KitDb(tmp_path / "kit.sqlite")
    t0 = 1_800_000_000.0
    run = db.start_run(t0, 60, "host", "test")  # scale 1: a poll vouches for 182 s
    with db.transaction() as c:
        c.execute("INSERT INTO boards VALUES ('ab', 'B', 1, 1970, NULL, 'p', ?)", (iso(t0),))
        for k in range(120):  # two hours of polls, a minute apart
            c.execute(
                "INSERT INTO polls (uid, t, run, uptime_ms, usage_ms, config_hash) "
                "VALUES ('ab', ?, ?, ?, 0, NULL)",
                (iso(t0 + 60 * k), run, 60_000 * k),
            )
    assert db.prune(t0 + 3600) == 60
    (tl,) = timeline(db, since_s=3 * 3600, now=t0 + 7200)
    pruned = [i for i in tl.intervals if i.what == "pruned"]
    assert pruned and pruned[0].end == pytest.approx(t0 + 3600)
    assert tl.polls == 60 and tl.verdict == "not conform"  # no configuration at all


def test_the_kit_systemd_unit_verifies(tmp_path: Path) -> None:
    # docs/kit.md's unit, with this checkout's dbch: systemd's own checker finds nothing
    unit = (Path(__file__).parents[1] / "docs" / "kit" / "dbch-record.service").read_text()
    here = tmp_path / "dbch-record.service"
    here.write_text(unit.replace("/opt/dbch/.venv/bin/dbch", DBCH))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(here)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr


# --- the event log's generations and gaps ------------------------------------------------
ERASE_LOGS = (  # what a fresh filesystem gives: no event or audit log at all
    "import os\n"
    "for f in os.listdir('data'):\n"
    "    if f.split('.')[0] in ('events', 'audit'): os.remove('data/' + f)\n"
)


def record_a_little(b: SimBoard, db: Path) -> list[dict[str, Any]]:
    """`dbch record` until it has polled twice; its JSON Lines."""
    rec = Recording(b, db, "--interval", "0.2s")
    rec.wait_for("poll", 2)
    assert rec.stop() == 0
    return rec.records


@pytest.mark.unix_twin
def test_a_cleared_log_leaves_a_gap_and_an_erased_one_starts_a_generation(
    bench: Bench, tmp_path: Path
) -> None:
    from dbch.gbcs.tables import get_table
    from helpers import mpremote, start_deployed

    b = start_deployed(bench)
    db = tmp_path / "kit.sqlite"
    try:
        with AgentClient(b.port, on_console=None) as hub:
            hub.wait_ready()
            apply(hub, get_table("sec-2018-03-r1"))
        record_a_little(b, db)
        # Events the recorder never saw, then a clear (the sequence goes on): a gap
        with AgentClient(b.port, on_console=None) as hub:
            hub.scan()
            hub.scan()
            unseen = [e[0] for e in hub.all_events()]
            hub.events_clear()
            after_clear = [e[0] for e in hub.all_events()]
        records = record_a_little(b, db)
        assert any(r["event"] == "gap" for r in records)
        with sqlite3.connect(db) as conn:
            gaps = conn.execute("SELECT gen, first_seq, last_seq FROM gaps").fetchall()
            stored = {r[0] for r in conn.execute("SELECT seq FROM events WHERE gen = 1")}
        assert len(gaps) == 1 and gaps[0][0] == 1
        lost = set(range(gaps[0][1], gaps[0][2] + 1))
        assert lost and lost.isdisjoint(stored) and lost <= set(unseen) - set(after_clear)
        assert set(after_clear) <= stored  # what the board still had is kept
        # The logs erased (a fresh filesystem): the sequence starts again, a new generation
        mpremote(b.port, "exec", ERASE_LOGS, resume=False)
        b.reset()
        with AgentClient(b.port, on_console=None) as hub:
            hub.wait_ready()
            hub.scan()
            fresh = [e[0] for e in hub.all_events()]
        assert min(fresh) == 1
        records = record_a_little(b, db)
        assert [r["generation"] for r in records if r["event"] == "new_log"] == [2]
        with sqlite3.connect(db) as conn:
            gen2 = [
                r[0] for r in conn.execute("SELECT seq FROM events WHERE gen = 2 ORDER BY seq")
            ]
            gen1 = conn.execute("SELECT count(*) FROM events WHERE gen = 1").fetchone()[0]
        assert gen2 == fresh and gen1 == len(stored)  # nothing old overwritten or doubled
    finally:
        b.stop()


def test_each_way_of_not_conforming_is_an_interval_with_its_reason(tmp_path: Path) -> None:
    # Fabricated polls, a minute apart, each state for ten minutes: the report names each
    # stretch, and the time between two runs of the recorder as not observed.
    from dbch.checks.configure import prepare_table
    from dbch.kit.db import KitDb, iso
    from dbch.kit.timeline import timeline, verdict

    good = prepare_table("sec-2018-03-r1", "north").hash
    db = KitDb(tmp_path / "kit.sqlite")
    t0 = 1_800_000_000.0
    run = db.start_run(t0, 60, "host", "test")
    states = [  # (config hash, channel enabled, usage ms, cap ms)
        (good, 1, 1000, 100_000),
        (None, None, 0, None),
        (good, 0, 1000, 100_000),
        (good, 1, 120_000, 100_000),
        ("ab" * 32, 1, 1000, 100_000),
        (good, 1, 1000, 100_000),
    ]
    with db.transaction() as c:
        c.execute("INSERT INTO boards VALUES ('ab', 'B', 0, 1970, NULL, 'p', ?)", (iso(t0),))
        k = 0
        for i, (h, allowed, used, cap) in enumerate(states):
            for _ in range(10):
                t = t0 + 60 * k + (3600 if i == len(states) - 1 else 0)  # a gap before the last
                c.execute(
                    "INSERT INTO polls (uid, t, run, uptime_ms, usage_ms, regulated_ms, "
                    "config_hash, config_table, config_region, page, channel, "
                    "channel_allowed) VALUES ('ab', ?, ?, ?, ?, ?, ?, ?, 'north', 28, 3, ?)",
                    (
                        iso(t),
                        run,
                        60_000 * k,
                        used,
                        cap,
                        h,
                        "sec-2018-03-r1" if h else None,
                        allowed,
                    ),
                )
                k += 1
    (tl,) = timeline(db)
    whys = [(i.what, i.why) for i in tl.intervals]
    assert whys[0] == ("not conform", "no configuration in force")
    assert whys[1] == ("not conform", "operating channel page 28 channel 3 not enabled")
    assert whys[2] == ("not conform", "duty cycle 120000 ms above the regulated cap 100000 ms")
    assert whys[3][0] == "not conform" and whys[3][1].startswith("configuration abababababab")
    assert whys[4] == ("not observed", "no poll covers this time")
    assert len(whys) == 5 and tl.verdict == "not conform" and verdict([tl]) == "not conform"
    assert tl.intervals[0].start == pytest.approx(t0 + 600)  # where the state changed
    assert tl.intervals[0].end == pytest.approx(t0 + 1200)
