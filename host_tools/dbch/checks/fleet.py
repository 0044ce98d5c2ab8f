"""Many boards at once: a bench file of USB serial numbers, running one job per board
concurrently, and what each one gave.

A board whose port another run holds is reported as `busy`, never fought over: the
transport's exclusive lock makes the second opener fail at once.
"""

from __future__ import annotations

import queue
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbch.checks.targets import CommandPower, Target
from dbch.datafile import Fields
from dbch.errors import DataFileError, DbchError, DeviceError, PortBusyError
from dbch.gbcs.tables import REGIONS


@dataclass
class Outcome:
    target: Target
    result: str  # pass | fail | error | busy
    detail: str
    seconds: float
    data: Any = None  # the job's own result (a CheckReport, an apply reply)
    extra: dict[str, Any] = field(default_factory=dict)


# --- choosing boards ---------------------------------------------------------------------
MakeTarget = Callable[..., Target]


@dataclass(frozen=True)
class BenchEntry:
    """One board of a bench file, as written (serial numbers not yet looked up)."""

    name: str
    serial: str | None
    port: str | None
    region: str | None
    board: str | None
    power: CommandPower | None


def bench_entries(path: Path) -> list[BenchEntry]:
    """A bench file (TOML) lists boards by USB serial number (or by port, for remote ones):

    [[board]]
    name = "wl55-a"            # how reports call it
    serial = "0671FF383837"    # USB serial number (udevadm: ID_SERIAL_SHORT)
    region = "north"           # optional: this board's CSP region
    board = "NUCLEO_WL55"      # optional: its board definition (labgrid tags)

    power_off = "usbrelay R1_1=1"   # optional: commands that cut and restore
    power_on = "usbrelay R1_1=0"    # its power (the bench's Power protocol)

    [[board]]
    name = "remote-1"
    port = "rfc2217://benchhost:4001"
    """
    from dbch.boards.definitions import get_board

    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise DataFileError(str(path), "", f"cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise DataFileError(str(path), "", f"not valid TOML: {e}") from e
    top = Fields(data, str(path))
    top.only({"board"})
    out, names = [], set()
    for i, raw in enumerate(top.array("board")):
        b = Fields(raw, str(path), f"board[{i}]")
        b.only({"name", "serial", "port", "region", "board", "power_on", "power_off"})
        name = b.text("name")
        if name in names:
            b.fail("name", f"{name!r} is listed twice")
        names.add(name)
        if b.has("port") == b.has("serial"):
            b.fail("serial", "give exactly one of serial (a USB board) or port")
        board = b.text("board", None)
        if board is not None:
            try:
                get_board(board)
            except DbchError as e:
                b.fail("board", str(e))
        power = None
        if b.has("power_on") or b.has("power_off"):
            power = CommandPower(on=b.text("power_on"), off=b.text("power_off"))
        out.append(
            BenchEntry(
                name,
                b.text("serial", None),
                b.text("port", None),
                b.text("region", None, REGIONS),
                board,
                power,
            )
        )
    if not out:
        top.fail("board", "lists no boards")
    return out


def read_bench_file(
    path: Path,
    comports: Callable[[], list[Any]] | None = None,
    make_target: MakeTarget = Target,
) -> list[Target]:
    """The bench file's boards as targets (see bench_entries), each USB serial number looked
    up among the USB serial ports present now. `make_target(name, port, region=, power=)`
    builds each target (the caller's, to resolve names such as `sim:ID`)."""
    entries = bench_entries(path)
    if comports is None:
        from serial.tools.list_ports import comports as list_comports

        comports = list_comports
    present = {getattr(p, "serial_number", None): p.device for p in comports()}
    out = []
    for i, e in enumerate(entries):
        port = e.port
        if port is None:
            if e.serial not in present:
                seen = ", ".join(sorted(s for s in present if s)) or "none"
                raise DataFileError(
                    str(path),
                    f"board[{i}].serial",
                    f"no USB serial port with serial number {e.serial!r} is "
                    f"connected (present: {seen})",
                )
            port = present[e.serial]
        out.append(make_target(e.name, port, region=e.region, power=e.power))
    return out


# --- running a job on each -------------------------------------------------------------
class FleetInterrupted(Exception):
    """Ctrl-C during a fleet run: `finished` holds the outcomes of the boards that were
    done (in target order); the others were not run or were left in flight."""

    def __init__(self, finished: list[Outcome], total: int):
        super().__init__(f"interrupted: {len(finished)} of {total} boards done")
        self.finished = finished
        self.total = total


def run_each(
    targets: list[Target],
    job: Callable[[Target], tuple[str, str, Any]],
    jobs: int = 32,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run `job(target) -> (result, detail, data)` for every target, `jobs` at a time;
    `on_outcome` hears of each as it ends (progress). Outcomes come back in target order.
    Ctrl-C stops at once: FleetInterrupted with what finished; the workers are daemon
    threads, so a board in flight does not hold the process (its outcome is dropped)."""
    stopped = threading.Event()

    def one(t: Target) -> Outcome:
        start = time.monotonic()
        try:
            if t.unavailable is not None:
                raise t.unavailable
            result, detail, data = job(t)
        except PortBusyError as e:
            result, detail, data = "busy", str(e), None
        except DeviceError as e:
            result, detail, data = "fail", str(e), None
        except DbchError as e:
            result, detail, data = "error", str(e), None
        except OSError as e:
            result, detail, data = "error", f"{t.port}: {e}", None
        return Outcome(t, result, detail, time.monotonic() - start, data)

    todo: queue.SimpleQueue[tuple[int, Target]] = queue.SimpleQueue()
    for i, t in enumerate(targets):
        todo.put((i, t))
    # Appended by the workers and only read here (list.append is atomic): a Ctrl-C landing
    # anywhere in this thread cannot lose an outcome that was already recorded.
    finished: list[tuple[int, Outcome]] = []
    all_done = threading.Event()

    def worker() -> None:
        while not stopped.is_set():
            try:
                i, t = todo.get_nowait()
            except queue.Empty:
                return
            out = one(t)
            finished.append((i, out))  # first: a progress line means it is in the evidence
            if on_outcome is not None and not stopped.is_set():
                on_outcome(out)
            if len(finished) == len(targets):  # (after its progress line: then the summary)
                all_done.set()

    for _ in range(max(1, min(jobs, len(targets)))):
        threading.Thread(target=worker, daemon=True).start()
    try:
        while targets and not all_done.wait(0.2):  # (a timed wait: Ctrl-C lands at once)
            pass
    except KeyboardInterrupt:
        stopped.set()
        got = dict(finished)
        raise FleetInterrupted([got[i] for i in sorted(got)], len(targets)) from None
    got = dict(finished)
    return [got[i] for i in range(len(targets))]


def exit_code(outcomes: list[Outcome]) -> int:
    """1 when any board failed (it ran and did not conform / was refused); otherwise 2 when
    any could not be reached or was busy; 0 when every board passed."""
    results = {o.result for o in outcomes}
    if "fail" in results:
        return 1
    if results - {"pass"}:
        return 2
    return 0
