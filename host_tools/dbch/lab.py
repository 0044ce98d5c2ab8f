"""Where boards come from: ports, bench files and simulated boards, made into targets.

This is the one module that puts the layers together for front ends (the CLI and the
pytest plugin): it registers the `sim:ID` and `labgrid:PLACE` port schemes with the link
and gives simulated boards their bench protocols, so neither the link nor the checks
import the simulator or labgrid.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbch.link import ports

if TYPE_CHECKING:
    from dbch.checks.targets import Power, Target

# The simulator is imported when a simulated board is named, not before: every `dbch`
# command passes through here and most of them never touch a simulated board.


def _sim_port(board_id: str) -> str:
    from dbch.sim.bench import Bench

    return Bench().board(board_id).port


def _labgrid_port(place: str) -> str:
    from dbch.lg.places import places

    return places().hold(place).url


ports.register_scheme("sim", _sim_port)
ports.register_scheme("labgrid", _labgrid_port)


def release_places() -> None:
    """Release the labgrid places this command acquired (a no-op when it named none)."""
    import sys

    if "dbch.lg.places" in sys.modules:
        from dbch.lg.places import release_all

        release_all()


def target_for_port(
    spec: str,
    name: str | None = None,
    region: str | None = None,
    power: Power | None = None,
    witness_id: str | None = None,
) -> Target:
    """The target behind what a user typed. A simulated board (by `sim:ID`, its pty, or
    `witness_id` for a URL that serves one) comes with its bench protocols."""
    from dbch.checks.targets import Target
    from dbch.sim.bench import Bench
    from dbch.sim.targets import sim_target

    if ports.scheme_of(spec) == "labgrid":
        return target_for_place(spec.partition(":")[2], name)
    port = ports.resolve_port(spec)
    bench = Bench()
    sim = bench.board(witness_id) if witness_id else bench.board_at(spec)
    if sim is not None:
        return sim_target(sim, name, region, port=port)
    return Target(name or spec, port, region, power=power)


def _fleet_number(board_id: str) -> int:
    """fleet7 -> 7; 0 for a board that is not a fleet's."""
    rest = board_id.removeprefix("fleet")
    return int(rest) if rest != board_id and rest.isdigit() else 0


def target_for_place(place: str, name: str | None = None) -> Target:
    """A labgrid place, acquired (unless this user holds it). Its tags give the board's
    region and type; a simulated board exported from this host keeps its bench protocols."""
    from dbch.checks.targets import Target
    from dbch.lg.places import places
    from dbch.sim.bench import Bench
    from dbch.sim.targets import sim_target

    held = places().hold(place)
    region = held.tags.get("region")
    sim = Bench().board_at(held.path) if held.path else None
    if sim is not None and _same_board(held.url, sim.uid):
        return sim_target(sim, name or place, region, port=held.url)
    return Target(name or place, held.url, region, board=held.tags.get("board"))


def _same_board(url: str, uid: bytes | None) -> bool:
    """Whether the board behind a place's URL is the simulated board of this bench with
    `uid` (its agent's hello says), whatever host name the exporter advertises (an exporter
    on this machine may call it `vm`): then its witness and power come along."""
    from dbch.errors import DbchError
    from dbch.link.client import AgentClient

    try:
        with AgentClient(url, timeout=1.0, retries=1, on_console=None) as hub:
            return uid is not None and hub.hello().uid == uid
    except DbchError:  # no agent yet (a fresh board): the bench cannot vouch for it
        return False


def targets_from_ports(specs: Iterable[str]) -> list[Target]:
    out = []
    for s in specs:
        s = s.strip()
        if not s:
            continue
        if ports.scheme_of(s) == "labgrid":
            out += targets_from_places([s.partition(":")[2]])
        else:
            out.append(target_for_port(s, name=s[4:] if s.startswith("sim:") else s))
    return out


def targets_from_places(selectors: Iterable[str]) -> list[Target]:
    """Labgrid places by name, or every place whose tags match `KEY=VALUE` (all such
    selectors together: `dbch=1,board=NUCLEO_WL55`). A place that cannot be acquired (held
    by someone else, its exporter offline) is still a target: the run reports it."""
    from dbch.checks.targets import Target
    from dbch.errors import DbchError
    from dbch.lg.places import places

    names, tags = [], {}
    for sel in (s.strip() for s in selectors):
        if "=" in sel:
            key, _, value = sel.partition("=")
            tags[key.strip()] = value.strip()
        elif sel:
            names.append(sel)
    if tags:
        matched = places().tagged(tags)
        if not matched:
            shown = ",".join(f"{k}={v}" for k, v in tags.items())
            raise DbchError(f"labgrid: no place is tagged {shown}")
        names += [n for n in matched if n not in names]
    held = places().hold_many(names)  # acquired together: half a second each otherwise
    out = []
    for n in names:
        if isinstance(held[n], DbchError):
            out.append(Target(n, f"labgrid:{n}", unavailable=held[n]))
        else:
            out.append(target_for_place(n))  # held already: no second acquisition
    return out


def targets_from_bench_file(path: Path) -> list[Target]:
    from dbch.checks.fleet import read_bench_file

    def make(name: str, port: str, region: str | None = None, power: Any = None) -> Target:
        return target_for_port(port, name=name, region=region, power=power)

    return read_bench_file(path, make_target=make)


def simulated_targets(
    count: int, board: str | None = None, progress: Callable[[str], None] | None = None
) -> tuple[list[Target], int]:
    """The bench's first `count` fleet boards (ids fleet1, fleet2, ...: boards a user
    started for something else are never taken), starting (and deploying the agent to) as
    many more as needed, and how many it started. They stay running for the next command."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from dbch.boards.definitions import DEFAULT_BOARD
    from dbch.boards.deploy import deploy
    from dbch.sim.bench import Bench
    from dbch.sim.targets import sim_target

    bench = Bench()
    kind = board or DEFAULT_BOARD
    running = sorted(  # the fleet's own, of this board type only
        (b for b in bench.boards() if _fleet_number(b.id) and b.board == kind),
        key=lambda b: _fleet_number(b.id),
    )
    missing = max(0, count - len(running))
    if missing:
        if progress:
            progress(f"starting {missing} simulated {kind} board(s) and deploying the agent")
        taken = {b.id for b in bench.boards()}
        free = (i for i in (f"fleet{n}" for n in itertools.count(1)) if i not in taken)
        new = bench.start(board=kind, ids=list(itertools.islice(free, missing)), erase=True)
        with ThreadPoolExecutor(max_workers=min(8, len(new))) as pool:
            for f in as_completed([pool.submit(deploy, b.port, kind) for b in new]):
                f.result()
        running += new
    return [sim_target(b) for b in running[:count]], missing


class BenchClock:
    """The simulated bench's clock (`dbch sim start --clock-scale N` runs it N times
    faster): what its boards and the air log live by, so a recorder of them stamps and
    waits by it too."""

    name = "bench"

    def __init__(self) -> None:
        from dbch.sim.bench import Bench

        self.bench = Bench()
        self.scale = float(self.bench.config().get("clock_scale", 1))

    def now(self) -> float:
        return self.bench.now()


def clock_for(urls: Iterable[str]) -> Any:
    """The bench clock when every port is a simulated board of this host's bench, else the
    host's (a kit of real boards, or a mix)."""
    from dbch.kit.recorder import HostClock
    from dbch.sim.bench import Bench

    bench = Bench()
    if all(bench.board_at(u) is not None for u in urls):
        return BenchClock()
    return HostClock()
