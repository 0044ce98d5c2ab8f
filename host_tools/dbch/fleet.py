"""Many boards at once: which boards (ports, a bench file of USB serial numbers, or N
simulated boards), running one job per board concurrently, and what each one gave.

A board whose port another run holds is reported as `busy`, never fought over: the
transport's exclusive lock makes the second opener fail at once.
"""

from __future__ import annotations

import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .datafile import Fields
from .errors import DataFileError, DbchError, DeviceError, PortBusyError
from .tables import REGIONS


@dataclass(frozen=True)
class Target:
    """One board of a fleet: a name for reports, the port to open, optionally the simulated
    board behind it (for the witness) and a region of its own (from a bench file)."""

    name: str
    port: str
    sim_id: str | None = None
    region: str | None = None


@dataclass
class Outcome:
    target: Target
    result: str  # pass | fail | error | busy
    detail: str
    seconds: float
    data: Any = None  # the job's own result (a CheckReport, an apply reply)
    extra: dict[str, Any] = field(default_factory=dict)


# --- choosing boards ---------------------------------------------------------------------
def targets_from_ports(ports: Iterable[str]) -> list[Target]:
    from .ports import resolve_port

    out = []
    for p in ports:
        p = p.strip()
        if p:
            sim = p[4:] if p.startswith("sim:") else None
            out.append(Target(sim or p, resolve_port(p), sim))
    return out


def read_bench_file(path: Path, comports: Callable[[], list[Any]] | None = None) -> list[Target]:
    """A bench file (TOML) lists boards by USB serial number (or by port, for remote ones):

        [[board]]
        name = "wl55-a"            # how reports call it
        serial = "0671FF383837"    # USB serial number (udevadm: ID_SERIAL_SHORT)
        region = "north"           # optional: this board's CSP region

        [[board]]
        name = "remote-1"
        port = "rfc2217://benchhost:4001"

    Serial numbers are looked up among the USB serial ports present now."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise DataFileError(str(path), "", f"cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise DataFileError(str(path), "", f"not valid TOML: {e}") from e
    top = Fields(data, str(path))
    top.only({"board"})
    if comports is None:
        from serial.tools.list_ports import comports as list_comports

        comports = list_comports
    present = {getattr(p, "serial_number", None): p.device for p in comports()}
    out, names = [], set()
    for i, raw in enumerate(top.array("board")):
        b = Fields(raw, str(path), f"board[{i}]")
        b.only({"name", "serial", "port", "region"})
        name = b.text("name")
        if name in names:
            b.fail("name", f"{name!r} is listed twice")
        names.add(name)
        region = b.text("region", None, REGIONS)
        if b.has("port") == b.has("serial"):
            b.fail("serial", "give exactly one of serial (a USB board) or port")
        if b.has("port"):
            port = b.text("port")
        else:
            serial = b.text("serial")
            if serial not in present:
                seen = ", ".join(sorted(s for s in present if s)) or "none"
                b.fail(
                    "serial",
                    f"no USB serial port with serial number {serial!r} is "
                    f"connected (present: {seen})",
                )
            port = present[serial]
        sim = port[4:] if port.startswith("sim:") else None
        if sim:
            from .ports import resolve_port

            port = resolve_port(port)
        out.append(Target(name, port, sim, region))
    if not out:
        top.fail("board", "lists no boards")
    return out


def simulated_targets(
    count: int, board: str | None = None, progress: Callable[[str], None] | None = None
) -> list[Target]:
    """The first `count` simulated boards of the bench, starting (and deploying the agent
    to) as many more as needed. They stay running for the next command."""
    from .boards import DEFAULT_BOARD
    from .deploy import deploy
    from .sim.bench import Bench

    bench = Bench()
    running = bench.boards()
    if board:
        running = [b for b in running if b.board == board]
    missing = count - len(running)
    if missing > 0:
        kind = board or DEFAULT_BOARD
        if progress:
            progress(f"starting {missing} simulated {kind} board(s) and deploying the agent")
        new = bench.start(board=kind, count=missing, erase=True)
        with ThreadPoolExecutor(max_workers=min(8, len(new))) as pool:
            for f in as_completed([pool.submit(deploy, b.port, kind) for b in new]):
                f.result()
        running += new
    return [Target(b.id, b.port, b.id) for b in running[:count]]


# --- running a job on each -------------------------------------------------------------
class ProgressBar:
    """`[#####-----] 8/16 boards, 1 failed` on a terminal; one line per board otherwise."""

    def __init__(self, total: int, what: str, stream: Any = None):
        self.total, self.what = total, what
        self.stream = stream or sys.stderr
        self.done = 0
        self.failed = 0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.lock = threading.Lock()

    def update(self, outcome: Outcome) -> None:
        with self.lock:
            self.done += 1
            self.failed += outcome.result != "pass"
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


def run_each(
    targets: list[Target],
    job: Callable[[Target], tuple[str, str, Any]],
    jobs: int = 32,
    bar: ProgressBar | None = None,
) -> list[Outcome]:
    """Run `job(target) -> (result, detail, data)` for every target, `jobs` at a time.
    Outcomes come back in target order."""

    def one(t: Target) -> Outcome:
        start = time.monotonic()
        try:
            result, detail, data = job(t)
        except PortBusyError as e:
            result, detail, data = "busy", str(e), None
        except DeviceError as e:
            result, detail, data = "fail", str(e), None
        except DbchError as e:
            result, detail, data = "error", str(e), None
        except OSError as e:
            result, detail, data = "error", f"{t.port}: {e}", None
        out = Outcome(t, result, detail, time.monotonic() - start, data)
        if bar is not None:
            bar.update(out)
        return out

    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(targets)))) as pool:
        return list(pool.map(one, targets))


def exit_code(outcomes: list[Outcome]) -> int:
    """1 when any board failed (it ran and did not conform / was refused); otherwise 2 when
    any could not be reached or was busy; 0 when every board passed."""
    results = {o.result for o in outcomes}
    if "fail" in results:
        return 1
    if results - {"pass"}:
        return 2
    return 0
