"""Everything the CLI prints goes through here: tables and key/value lists for people, JSON
for scripts, progress on stderr, and the board's own console lines."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from dbch import logsetup
from dbch.output import table, to_jsonable

if TYPE_CHECKING:
    from dbch.checks.fleet import Outcome


# Terminal control from a device: CSI and OSC sequences, other escapes, and C0/C1 controls
# but tab. A board's console text is shown, never obeyed by the user's terminal.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def device_text(raw: bytes) -> str:
    """A line the board printed, decoded and with terminal control sequences removed."""
    return _CONTROL.sub("", raw.decode("utf-8", "replace"))


def device_formatter() -> Any:
    """A logging formatter: `[device] text`, the text shown, never obeyed (device_text)."""
    import logging

    class DeviceFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return "[device] " + _CONTROL.sub("", record.getMessage())

    return DeviceFormatter()


_quiet = False


def setup(quiet: bool = False, verbose: int = 0) -> None:
    """What the board prints outside frames is shown on stderr as `[device] ...`.
    `quiet` (-q): no progress and no device lines, only results and errors; `verbose` (-v):
    the tools' own debug log too (each request and reply on the link, mpremote's steps).
    Without -v, `logging` is set up when the first line is logged (a query that logs
    nothing starts 5 ms sooner)."""
    global _quiet
    _quiet = quiet
    if verbose:
        _setup_logging(quiet, verbose)
    else:
        logsetup.on_first_log = lambda: _setup_logging(quiet, verbose)


def _setup_logging(quiet: bool, verbose: int) -> None:
    import logging

    log = logging.getLogger("dbch.device")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(device_formatter())
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.ERROR if quiet else logging.WARNING)
    tools = logging.getLogger("dbch")
    if verbose and not tools.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[debug] %(name)s: %(message)s"))
        tools.addHandler(handler)
        tools.setLevel(logging.DEBUG)


def print_json(value: Any) -> None:
    json.dump(to_jsonable(value), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def utc_now() -> str:
    """Now, as a stream's records carry it: ISO 8601 UTC with milliseconds."""
    import datetime as dt  # streams only: a query's start-up does without it

    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def print_json_line(value: Any, stream: Any = None) -> None:
    """One record of a stream: JSON on one line, flushed at once (JSON Lines); stdout
    unless told (fleet progress goes to stderr)."""
    out = stream or sys.stdout
    out.write(json.dumps(to_jsonable(value), separators=(",", ":")) + "\n")
    out.flush()


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    print(table(headers, rows))


def progress(msg: str) -> None:
    if _quiet:
        return
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class ProgressBar:
    """`[#####-----] 8/16 boards, 1 failed` on a terminal; one line per board otherwise."""

    def __init__(self, total: int, what: str, stream: Any = None, json_lines: bool = False):
        self.total, self.what = total, what
        self.stream = stream or sys.stderr
        self.json_lines = json_lines  # one JSON object per board, for scripts
        self.done = 0
        self.failed = 0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.lock = threading.Lock()

    def update(self, outcome: Outcome) -> None:
        with self.lock:
            self.done += 1
            self.failed += outcome.result != "pass"
            if self.json_lines:
                record = {
                    "utc": utc_now(),
                    "kind": "progress",
                    "done": self.done,
                    "total": self.total,
                    "board": outcome.target.name,
                    "result": outcome.result,
                    "detail": outcome.detail,
                    "seconds": round(outcome.seconds, 3),
                }
                print_json_line(record, self.stream)
                return
            if _quiet:
                return
            if self.tty:
                width = 30
                fill = width * self.done // max(1, self.total)
                self.stream.write(
                    f"\r[{'#' * fill}{'-' * (width - fill)}] {self.done}/"
                    f"{self.total} {self.what}, {self.failed} not passed "
                )
                if self.done == self.total:
                    self.stream.write("\n")
            else:
                self.stream.write(
                    f"[{self.done}/{self.total}] {outcome.target.name}: "
                    f"{outcome.result} {outcome.detail}\n"
                )
            self.stream.flush()


def error_text(e: Exception) -> str:
    """An error as one line. A board's invalid_config names the field by its key (the
    WL55's agent has no room for DUIS names): shown here with its DUIS element."""
    from dbch.errors import DeviceError
    from dbch.gbcs.subghz_config import FIELD_BY_KEY

    if isinstance(e, DeviceError) and e.code == "invalid_config" and e.field in FIELD_BY_KEY:
        spec = FIELD_BY_KEY[e.field]
        return f"device refused: invalid_config ({spec.duis}, {e.field}): {e.msg}"
    return str(e)


# What lifted a stored lock until the next reset (status()["lock"]["lifted_by"]).
_LIFTED_BY = {"signed": "a signed unlock", "button": "the unlock button held at reset"}


def lifted_text(lock: dict[str, Any]) -> str:
    """A stored lock that is not in force, in words: 'unlocked until the next reset (by a
    signed unlock); the lock is kept'."""
    by = _LIFTED_BY.get(lock.get("lifted_by") or "", lock.get("lifted_by") or "unknown")
    return f"unlocked until the next reset (by {by}); the lock is kept"
