"""A field kit's database: the standard library's SQLite, in WAL mode (a report reads while
the recorder writes), one transaction per poll of a board, the schema's version in SQLite's
own `user_version` with migrations from any older version.

Times are UTC, stored as ISO 8601 text (`2026-12-05T03:30:00.000Z`: sortable, readable in
the `sqlite3` shell). Events are keyed by the board's unique id, its log's generation and
its sequence number: a generation begins when the board's log was erased (its sequence went
back), so a new log is never taken for old events; a clear keeps the sequence going.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dbch.errors import DbchError

# Each entry takes the schema from the version before it to its own (index + 1).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY, started TEXT NOT NULL, last_alive TEXT NOT NULL,
        interval_s REAL NOT NULL, clock TEXT NOT NULL, clock_scale REAL NOT NULL,
        host TEXT NOT NULL);
    CREATE TABLE boards (
        uid TEXT PRIMARY KEY, board TEXT, simulated INTEGER NOT NULL, epoch_year INTEGER,
        fw_hash TEXT, port TEXT NOT NULL, first_seen TEXT NOT NULL);
    CREATE TABLE polls (
        uid TEXT NOT NULL, t TEXT NOT NULL, run INTEGER NOT NULL, uptime_ms INTEGER,
        reset_cause TEXT, duty_state TEXT, usage_ms INTEGER, limited_ms INTEGER,
        critical_ms INTEGER, regulated_ms INTEGER, config_hash TEXT, config_table TEXT,
        config_region TEXT, page INTEGER, channel INTEGER, freq_hz INTEGER,
        channel_allowed INTEGER, radio_state TEXT, PRIMARY KEY (uid, t));
    CREATE TABLE events (
        uid TEXT NOT NULL, gen INTEGER NOT NULL, seq INTEGER NOT NULL, t TEXT,
        recorded TEXT NOT NULL, kind TEXT NOT NULL, code INTEGER, fields TEXT NOT NULL,
        PRIMARY KEY (uid, gen, seq));
    CREATE TABLE cursors (
        uid TEXT PRIMARY KEY, gen INTEGER NOT NULL, last_seq INTEGER NOT NULL,
        last_kind TEXT, last_time INTEGER);
    CREATE TABLE gaps (
        uid TEXT NOT NULL, gen INTEGER NOT NULL, first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL, noticed TEXT NOT NULL, PRIMARY KEY (uid, gen, first_seq));
    CREATE TABLE resets (
        uid TEXT NOT NULL, t TEXT NOT NULL, cause TEXT, PRIMARY KEY (uid, t));
    CREATE TABLE outages (
        who TEXT NOT NULL, start TEXT NOT NULL, end TEXT, reason TEXT NOT NULL,
        PRIMARY KEY (who, start));
    CREATE INDEX events_t ON events (uid, recorded);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class KitDbError(DbchError):
    """The database cannot be used: damaged, not a kit database, or of a newer schema."""


def iso(t: float) -> str:
    """Seconds since 1970 (UTC) as the database stores them."""
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def shown_time(t: float) -> str:
    """A time for people: `2026-12-05 03:30:00Z`."""
    return iso(t)[:19].replace("T", " ") + "Z"


def seconds(text: str) -> float:
    """The database's time text back to seconds since 1970."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class KitDb:
    def __init__(self, path: Path, create: bool = True):
        self.path = path
        if not create and not path.exists():
            raise KitDbError(f"{path}: no such database (record one with `dbch record`)")
        try:
            self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise KitDbError(
                    f"{path}: schema version {version}, newer than this dbch reads "
                    f"({SCHEMA_VERSION}): update dbch (the database is left as it is)"
                )
            problem = self.conn.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise KitDbError(f"{path}: damaged ({problem}); the file is left as it is")
            if version == 0 and self._has_foreign_tables():
                raise KitDbError(f"{path}: an SQLite database, but not a kit database")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a cut loses no commit's order
            self._migrate(version)
        except sqlite3.DatabaseError as e:
            raise KitDbError(f"{path}: not a usable database ({e})") from None

    def _has_foreign_tables(self) -> bool:
        return self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0

    def _migrate(self, version: int) -> None:
        for v in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in MIGRATIONS[v].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {v + 1}")

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One unit of work: all of it is stored, or (a crash, a kill) none of it."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- the recorder's writes ----------------------------------------------------------
    def start_run(
        self, now: float, interval_s: float, clock: str, host: str, scale: float = 1.0
    ) -> int:
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO runs (started, last_alive, interval_s, clock, clock_scale, host) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (iso(now), iso(now), interval_s, clock, scale, host),
            )
            return int(cur.lastrowid or 0)

    def previous_run_alive(self, run: int) -> float | None:
        """When the run before `run` was last seen working (None: there was none)."""
        row = self.conn.execute(
            "SELECT last_alive FROM runs WHERE id < ? ORDER BY id DESC LIMIT 1", (run,)
        ).fetchone()
        return seconds(row[0]) if row else None

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def last_poll(self, uid: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM polls WHERE uid = ? ORDER BY t DESC LIMIT 1", (uid,)
        ).fetchone()

    def cursor(self, uid: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM cursors WHERE uid = ?", (uid,)).fetchone()

    def open_outage(self, who: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT * FROM outages WHERE who = ? AND end IS NULL", (who,)
        ).fetchone()

    def prune(self, before: float) -> int:
        """Delete what was recorded before `before`; the report marks that time pruned."""
        cut = iso(before)
        with self.transaction() as c:
            n = 0
            for sql in (
                "DELETE FROM polls WHERE t < ?",
                "DELETE FROM events WHERE recorded < ?",
                "DELETE FROM gaps WHERE noticed < ?",
                "DELETE FROM resets WHERE t < ?",
                "DELETE FROM outages WHERE end IS NOT NULL AND end < ?",
            ):
                n += c.execute(sql, (cut,)).rowcount
            old = self.meta("pruned_before")
            if old is None or old < cut:
                c.execute("INSERT OR REPLACE INTO meta VALUES ('pruned_before', ?)", (cut,))
        return n

    # --- the report's reads -------------------------------------------------------------
    def rows(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()
