"""`dbch record`: each board's status and new events into the kit's database, every interval,
unattended for weeks.

It survives what a kit meets: its own restart (`kill -9` mid-write: the poll's transaction is
lost whole and its events are read again, keyed so that none is stored twice), the host's
reboot (the time it was not running is recorded as an outage), board resets and power cuts
(seen from the board's uptime, with its reset cause), a pulled cable (the outage is recorded
and the board read again when it answers), and a log that rolled over between reads (the
missing sequence numbers are recorded as a gap, never filled in).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from dbch.errors import DbchError
from dbch.kit.db import KitDb, iso, seconds
from dbch.kit.timeline import LATENCY_S  # a poll's own time, real seconds
from dbch.link.client import AgentClient, Hello
from dbch.link.share import PortServer
from dbch.link.spec import CLOCK_SET_FROM_YEAR, board_time_utc
from dbch.output import to_jsonable

Progress = Callable[[dict[str, Any]], None]  # one record: {"event": ..., ...}
PRUNE_EVERY_S = 3600.0  # on the recorder's clock


class Clock(Protocol):
    """The time polls are stamped with and waited on: the host's, or a simulated bench's
    (which may run N times faster: `scale`)."""

    name: str
    scale: float

    def now(self) -> float: ...


class HostClock:
    name = "host"
    scale = 1.0

    def now(self) -> float:
        return time.time()


def wait(clock: Clock, stop: threading.Event, seconds_on_clock: float) -> bool:
    """Wait `seconds_on_clock` of the clock's time; True when asked to stop meanwhile."""
    return stop.wait(max(0.0, seconds_on_clock) / clock.scale)


class BoardRecorder:
    """One port: a connection when the board answers, an outage while it does not."""

    def __init__(self, spec: str, url: str, db: KitDb, clock: Clock, run: int, say: Progress):
        self.spec = spec
        self.url = url
        self.db = db
        self.clock = clock
        self.run = run
        self.say = say
        self.hub: AgentClient | None = None
        self.server: PortServer | None = None
        self.hello: Hello | None = None
        self.uid: str | None = None
        self.checked_run = False  # the time before this run was accounted for
        # the record at the cursor compared with the board's (once a connection: a log is
        # erased only by a reflash, which needs the port)
        self.checked_log = False

    @property
    def who(self) -> str:
        return self.uid or f"port:{self.spec}"

    def poll(self) -> None:
        now = self.clock.now()
        try:
            if self.hub is None:
                self._connect(now)
            assert self.hub is not None and self.hello is not None
            status = self.hub.status()
            cursor, gap_first, entries = self._new_events(status)
            now = self.clock.now()
            self._store(now, status, cursor, gap_first, entries)
        except DbchError as e:
            self._lost(now, str(e))

    # --- connecting -----------------------------------------------------------------------
    def _connect(self, now: float) -> None:
        hub = AgentClient(self.url, on_console=None, timeout=3.0, retries=1)
        try:
            hello = hub.hello()
        except BaseException:
            hub.close()
            raise
        self.hub, self.hello = hub, hello
        self.checked_log = False
        self._share(hub)
        uid = hello.uid.hex()
        if self.uid is not None and uid != self.uid:
            self.say({"event": "board_changed", "port": self.spec, "was": self.uid, "now": uid})
            self.checked_run = False
        self.uid = uid
        with self.db.transaction() as c:
            c.execute(
                "INSERT INTO boards (uid, board, simulated, epoch_year, fw_hash, port, "
                "first_seen) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET "
                "board = excluded.board, simulated = excluded.simulated, epoch_year = "
                "excluded.epoch_year, fw_hash = excluded.fw_hash, port = excluded.port",
                (
                    uid,
                    hello.twin_of or hello.board,
                    int(hello.simulated),
                    hello.epoch_year,
                    hello.fw_hash,
                    self.spec,
                    iso(now),
                ),
            )
            for who in (uid, f"port:{self.spec}"):
                if self.db.open_outage(who) is not None:
                    c.execute(
                        "UPDATE outages SET end = ? WHERE who = ? AND end IS NULL", (iso(now), who)
                    )
                    self.say({"event": "outage_end", "board": who, "port": self.spec})
            if not self.checked_run:
                self._since_last_run(c, uid, now)
        self.say({"event": "connected", "board": uid, "port": self.spec, "kind": hello.board})

    def _share(self, hub: AgentClient) -> None:
        # While it holds the port, other dbch commands of this user go through it
        # (`dbch status --port P` during a recording of weeks): link/share.py.
        try:
            self.server = PortServer(hub.link, self.url, on_refused=self._refused)
        except DbchError as e:
            self.say({"event": "not_shared", "port": self.spec, "reason": str(e)})

    def _refused(self, uid: int) -> None:
        self.say({"event": "share_refused", "port": self.spec, "uid": uid})

    def _since_last_run(self, c: Any, uid: str, now: float) -> None:
        # The time between this board's last poll in an earlier run and now was not
        # recorded (the recorder or its host was down): an outage saying so.
        self.checked_run = True
        last = self.db.last_poll(uid)
        if last is None or last["run"] == self.run:
            return
        alive = self.db.previous_run_alive(self.run)
        start = max(seconds(last["t"]), alive or 0.0)
        c.execute(
            "INSERT OR IGNORE INTO outages VALUES (?, ?, ?, ?)",
            (uid, iso(start), iso(now), "not recorded: the recorder was not running"),
        )

    def _lost(self, now: float, why: str) -> None:
        self.close()
        who = self.who
        if self.db.open_outage(who) is None:
            last = self.db.last_poll(self.uid) if self.uid else None
            start = seconds(last["t"]) if last is not None and last["run"] == self.run else now
            with self.db.transaction() as c:
                c.execute(
                    "INSERT OR IGNORE INTO outages VALUES (?, ?, NULL, ?)",
                    (who, iso(start), why),
                )
            self.say({"event": "outage_start", "board": who, "port": self.spec, "reason": why})

    # --- events -------------------------------------------------------------------------
    def _new_events(
        self, status: dict[str, Any]
    ) -> tuple[tuple[int, int], int | None, list[list[Any]]]:
        """(generation, last sequence read before), where a gap begins (if one), the new
        entries. A log whose sequence went back, or (checked after each connection) whose
        last read record is another record now, was erased: a new generation, read from
        its start."""
        assert self.hub is not None and self.uid is not None
        cur = self.db.cursor(self.uid)
        board_last = int((status.get("events") or {}).get("last_seq") or 0)
        if cur is None:
            gen, after, first_read = 1, 0, True
        else:
            gen, after, first_read = cur["gen"], cur["last_seq"], False
            erased = board_last < after or (
                not self.checked_log and not self._same_record(after, cur)
            )
            if erased:
                gen, after = gen + 1, 0
                self.say({"event": "new_log", "board": self.uid, "generation": gen})
        self.checked_log = True
        entries = self.hub.all_events(after) if board_last > after else []
        gap = None
        if entries and not first_read and entries[0][0] > after + 1:
            gap = after + 1
        return (gen, after), gap, entries

    def _same_record(self, seq: int, cur: Any) -> bool:
        if seq == 0 or cur["last_kind"] is None:
            return True
        assert self.hub is not None
        page = self.hub.events(seq - 1, 1)["entries"]
        if not page or page[0][0] != seq:
            return True  # rolled out of the log since: a gap, not a new log
        return kind_text(page[0][2]) == cur["last_kind"] and page[0][1] == cur["last_time"]

    # --- one poll's transaction ---------------------------------------------------------
    def _store(
        self,
        now: float,
        st: dict[str, Any],
        cursor: tuple[int, int],
        gap_first: int | None,
        entries: list[list[Any]],
    ) -> None:
        assert self.uid is not None and self.hello is not None
        uid, t = self.uid, iso(now)
        last = self.db.last_poll(uid)
        duty = st.get("duty") or {}
        cfg = st.get("config") or {}
        ch = st.get("channel") or {}
        uptime = int(st.get("uptime_ms") or 0)
        gen, after = cursor
        with self.db.transaction() as c:
            if last is not None and self._was_reset(last, now, uptime):
                when = iso(min(now, max(seconds(last["t"]), now - uptime / 1000)))
                c.execute(
                    "INSERT OR IGNORE INTO resets VALUES (?, ?, ?)",
                    (uid, when, st.get("reset_cause")),
                )
                self.say({"event": "reset", "board": uid, "cause": st.get("reset_cause")})
            c.execute(
                "INSERT OR REPLACE INTO polls VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    uid,
                    t,
                    self.run,
                    uptime,
                    st.get("reset_cause"),
                    duty.get("state"),
                    duty.get("usage_ms"),
                    duty.get("limited_ms"),
                    duty.get("critical_ms"),
                    duty.get("regulated_ms"),
                    cfg.get("hash"),
                    cfg.get("table"),
                    cfg.get("region"),
                    ch.get("page"),
                    ch.get("channel"),
                    ch.get("freq_hz"),
                    None if ch.get("allowed") is None else int(bool(ch.get("allowed"))),
                    (st.get("radio") or {}).get("state"),
                ),
            )
            expected = gap_first
            for seq, btime, kind, fields in entries:
                if expected is not None and seq > expected:
                    c.execute(
                        "INSERT OR IGNORE INTO gaps VALUES (?, ?, ?, ?, ?)",
                        (uid, gen, expected, seq - 1, t),
                    )
                    self.say(
                        {"event": "gap", "board": uid, "first_seq": expected, "last_seq": seq - 1}
                    )
                expected = seq + 1
                c.execute(
                    "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        uid,
                        gen,
                        seq,
                        self._event_time(btime),
                        t,
                        kind_text(kind),
                        kind if isinstance(kind, int) else None,
                        json.dumps(to_jsonable(fields), sort_keys=True),
                    ),
                )
            if entries:
                seq, btime, kind = entries[-1][0], entries[-1][1], entries[-1][2]
                c.execute(
                    "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?, ?, ?)",
                    (uid, gen, seq, kind_text(kind), btime),
                )
            elif after == 0:
                c.execute(
                    "INSERT OR REPLACE INTO cursors VALUES (?, ?, 0, NULL, NULL)", (uid, gen)
                )
            c.execute("UPDATE runs SET last_alive = ? WHERE id = ?", (t, self.run))
        self.say(
            {
                "event": "poll",
                "board": uid,
                "duty": duty.get("state"),
                "usage_ms": duty.get("usage_ms"),
                "channel": ch.get("channel"),
                "page": ch.get("page"),
                "new_events": len(entries),
            }
        )

    def _was_reset(self, last: Any, now: float, uptime_ms: int) -> bool:
        # Up for less than it was at the last poll, or for less than the time since it
        # (with a poll's latency on this clock allowed): the board started again meanwhile.
        if last["uptime_ms"] is None:
            return False
        since = now - seconds(last["t"])
        slack = LATENCY_S * self.clock.scale
        return uptime_ms < last["uptime_ms"] or uptime_ms / 1000 + slack < since

    def _event_time(self, btime: Any) -> str | None:
        assert self.hello is not None
        when = board_time_utc(btime, self.hello.epoch_year)
        if when is None or when.year < CLOCK_SET_FROM_YEAR:
            return None  # the board's clock was never set: the poll's time places it
        return iso(when.timestamp())

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.hub is not None:
            self.hub.close()
            self.hub = None


def kind_text(kind: Any) -> str:
    """An event's kind as stored: an alert's GBCS code in hex (0x8F26), else its name."""
    return f"0x{kind:04X}" if isinstance(kind, int) else str(kind)


class Recorder:
    """Every port, every interval, until `stop` is set (SIGTERM, Ctrl-C)."""

    def __init__(
        self,
        ports: list[tuple[str, str]],  # (as given, resolved URL)
        db: KitDb,
        interval_s: float,
        clock: Clock,
        keep_s: float | None = None,
        say: Progress | None = None,
    ):
        self.db = db
        self.interval_s = interval_s
        self.clock = clock
        self.keep_s = keep_s
        self.say = say or (lambda _r: None)
        self.run = db.start_run(
            clock.now(), interval_s, clock.name, socket.gethostname(), clock.scale
        )
        self.boards = [BoardRecorder(s, u, db, clock, self.run, self.say) for s, u in ports]

    def record(self, stop: threading.Event) -> int:
        """Polls until `stop`; the number of poll rounds."""
        rounds = 0
        next_prune = self.clock.now()
        self.say(
            {
                "event": "recording",
                "boards": [b.spec for b in self.boards],
                "interval_s": self.interval_s,
                "db": str(self.db.path),
            }
        )
        try:
            while not stop.is_set():
                started = self.clock.now()
                for b in self.boards:
                    if stop.is_set():
                        break
                    b.poll()
                rounds += 1
                if self.keep_s is not None and started >= next_prune:
                    n = self.db.prune(started - self.keep_s)
                    if n:
                        self.say(
                            {"event": "pruned", "rows": n, "before": iso(started - self.keep_s)}
                        )
                    next_prune = started + PRUNE_EVERY_S
                if wait(self.clock, stop, started + self.interval_s - self.clock.now()):
                    break
        finally:
            self._stopped()
        return rounds

    def _stopped(self) -> None:
        now = iso(self.clock.now())
        with self.db.transaction() as c:
            c.execute("UPDATE outages SET end = ? WHERE end IS NULL", (now,))
            c.execute("UPDATE runs SET last_alive = ? WHERE id = ?", (now, self.run))
        for b in self.boards:
            b.close()
        self.say({"event": "stopped"})
