"""pytest plugin (entry point `pytest11`): regression suites that run on a simulated board
by default and on a real one when a port is given.

With labgrid's plugin given an environment (`--lg-env`), the board is labgrid's target
`main` through its DbchAgentDriver (dbch.lg.driver; docs/labs.md).

Options: --dbch-port (a real board, or any port), --dbch-board (its board definition when
its agent cannot say), --dbch-sim BOARD (simulate this board type; the default when no port
is given), --dbch-table / --dbch-region (the table the suite checks against) and
--dbch-evidence (where the evidence JSON goes; default: next to --junitxml).

Fixtures: `dbch_target` (the board under test: port, board definition, its witness if
simulated), `dbch_hub` (a connected AgentClient), `dbch_configured_hub` (the same, with the
suite's table region in force), `dbch_table` (table and region),
`dbch_evidence` (collects evidence records, written when the session ends).
Helpers: `apply_table(hub, table, region)` (an Applied: `.ok`, `.reply`, `.expected_hash`)
and `check_now(hub, target, table_choice)`.
Marker: `@pytest.mark.dbch_requires("watchdog", ...)` skips a test on a board whose
definition lacks a feature, with a hint naming boards that have it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dbch import lab  # noqa: F401  (registers the sim:ID port names)
from dbch.boards.definitions import DEFAULT_BOARD, BoardDef, all_boards, get_board
from dbch.checks.configure import apply_table, is_configured  # apply_table: for suites
from dbch.checks.targets import Target, ready_agent
from dbch.checks.views import CheckReport, Evidence, check_client, run_identity
from dbch.errors import TableError
from dbch.gbcs.tables import HOUR_S, REGIONS, TableVersion, get_table, in_force
from dbch.link.client import AgentClient
from dbch.link.ports import resolve_port

EVIDENCE_KEY = pytest.StashKey["EvidenceCollector"]()
BOARD_KEY = pytest.StashKey[BoardDef]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("dbch", "DBCH configuration agent")
    g.addoption(
        "--dbch-port",
        default=os.environ.get("DBCH_PORT"),
        metavar="PORT",
        help="run on the board at PORT (/dev/ttyACM0, rfc2217://...; default "
        "$DBCH_PORT); without it, on a simulated board",
    )
    g.addoption(
        "--dbch-board",
        metavar="ID",
        help="board definition of the board on --dbch-port (default: what its agent says)",
    )
    g.addoption(
        "--dbch-sim", metavar="ID", help=f"simulate this board type (default: {DEFAULT_BOARD})"
    )
    g.addoption(
        "--dbch-table",
        metavar="ID",
        help="table version the suite checks against (default: the newest in force)",
    )
    g.addoption(
        "--dbch-region", default="north", choices=REGIONS, help="CSP region (default: north)"
    )
    g.addoption(
        "--dbch-mode",
        default="conform",
        choices=("conform", "comply"),
        help="what a check asks: conform (default: the table's values) or comply (within "
        "its rules)",
    )
    g.addoption(
        "--dbch-evidence",
        metavar="FILE",
        help="evidence JSON (default: next to --junitxml as NAME.evidence.json, "
        "else build/dbch-evidence.json)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dbch_requires(*features): skip unless the board under test has these features "
        "(the `features` of its board definition)",
    )
    if config.getoption("dbch_port") and config.getoption("dbch_sim"):
        raise pytest.UsageError("--dbch-port and --dbch-sim exclude each other")
    config.stash[EVIDENCE_KEY] = EvidenceCollector(_evidence_path(config))


def _evidence_path(config: pytest.Config) -> Path:
    given = config.getoption("dbch_evidence")
    if given:
        return Path(given)
    junit = getattr(config.option, "xmlpath", None)
    if junit:
        return Path(junit).with_suffix(".evidence.json")
    return Path(config.rootpath) / "build" / "dbch-evidence.json"


def _labgrid_target(config: pytest.Config) -> Any:
    """Labgrid's target `main` when labgrid's plugin was given an environment (--lg-env or
    LG_ENV), else None: then the board comes from our own options."""
    try:
        from labgrid.pytestplugin.hooks import LABGRID_ENV_KEY
    except ImportError:
        return None
    env = config.stash.get(LABGRID_ENV_KEY, None)
    return None if env is None else env.get_target("main")


def _labgrid_agent(config: pytest.Config) -> Any:
    """The target's DbchAgentDriver, the board brought to "configured" first (or "agent"
    without a table) when the environment binds a DbchStrategy; None without labgrid."""
    target = _labgrid_target(config)
    if target is None:
        return None
    from labgrid.exceptions import NoDriverFoundError

    from dbch.lg import driver as lg_driver

    try:
        strategy = target.get_driver(lg_driver.DbchStrategy)
    except NoDriverFoundError:  # the environment binds no strategy: the board as it is
        strategy = None
    if strategy is not None:
        strategy.transition("configured" if strategy.table else "agent")
    agent = target.get_driver(lg_driver.DbchAgentDriver)
    agent.close()  # the suite's own connection (dbch_hub) is the one that talks
    return agent


def _board_under_test(config: pytest.Config) -> BoardDef:
    """The board definition, without starting anything where the options say it."""
    if BOARD_KEY not in config.stash:
        board_id = config.getoption("dbch_board") or config.getoption("dbch_sim")
        port = config.getoption("dbch_port")
        agent = _labgrid_agent(config)
        if agent is not None:
            port, board_id = agent.url, board_id or agent.board
        if not board_id and port:
            with AgentClient(resolve_port(port), on_console=None) as hub:
                board_id = hub.hello().board
        config.stash[BOARD_KEY] = get_board(board_id or DEFAULT_BOARD)
    return config.stash[BOARD_KEY]


def pytest_runtest_setup(item: pytest.Item) -> None:
    wanted = [f for m in item.iter_markers("dbch_requires") for f in m.args]
    if not wanted:
        return
    board = _board_under_test(item.config)
    missing = [f for f in wanted if f not in board.features]
    if missing:
        having = [b.id for b in all_boards() if set(wanted) <= b.features]
        hint = (
            f"run with --dbch-sim {having[0]} (or a real {', '.join(having)})"
            if having
            else "no board definition has it"
        )
        pytest.skip(f"board {board.id} lacks {', '.join(missing)}; hint: {hint}")


def pytest_unconfigure(config: pytest.Config) -> None:
    collector = config.stash.get(EVIDENCE_KEY, None)
    if collector is not None:
        collector.write()


# --- the board under test -------------------------------------------------------------
@pytest.fixture(scope="session")
def dbch_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    config = request.config
    agent = _labgrid_agent(config)
    if agent is not None:  # labgrid's target: a place, a remote exporter's port
        yield Target(agent.target.name, agent.url, board=_board_under_test(config).id)
        return
    port = config.getoption("dbch_port")
    if port:
        # Used as it is, as real hardware would be: no power, reset or witness.
        yield Target(port, resolve_port(port), board=_board_under_test(config).id)
        return
    from dbch.boards.deploy import deploy
    from dbch.sim.bench import Bench
    from dbch.sim.targets import sim_target

    board = _board_under_test(config)
    bench = Bench(tmp_path_factory.mktemp("dbch-sim"))  # private: never the user's boards
    try:
        (sim,) = bench.start(board=board.id, erase=True)
        deploy(sim.port, board.id)
        yield sim_target(sim)
    finally:
        bench.stop()


@pytest.fixture
def dbch_hub(dbch_target: Target) -> Iterator[AgentClient]:
    """A connection to the agent, ready to answer (a simulated board is reset first if its
    agent does not answer, e.g. after a test left it at the REPL)."""
    hub = ready_agent(dbch_target.port, dbch_target.reset)
    try:
        yield hub
    finally:
        hub.close()


@pytest.fixture
def dbch_configured_hub(dbch_hub: AgentClient, dbch_table: TableChoice) -> AgentClient:
    """`dbch_hub` with the suite's table region in force (applied only when it is not)."""
    if not is_configured(dbch_hub, dbch_table.table, dbch_table.region):
        applied = apply_table(dbch_hub, dbch_table.table, dbch_table.region)
        if not applied.ok:
            pytest.fail(
                f"{dbch_table.table.id} {dbch_table.region} did not apply: {applied.reply}"
            )
    return dbch_hub


@dataclass(frozen=True)
class TableChoice:
    table: TableVersion
    region: str
    mode: str = "conform"  # conform or comply (gbcs/compare.py)


@pytest.fixture(scope="session")
def dbch_table(request: pytest.FixtureRequest) -> TableChoice:
    ref = request.config.getoption("dbch_table")
    if ref:
        table = get_table(ref)
    else:
        try:
            table = in_force()
        except TableError as e:
            raise pytest.UsageError(f"{e}: give --dbch-table") from None
    return TableChoice(
        table, request.config.getoption("dbch_region"), request.config.getoption("dbch_mode")
    )


# --- evidence ----------------------------------------------------------------------------
class EvidenceCollector:
    """Evidence records gathered during the run, each tagged with the test that made it;
    written as one JSON file when the session ends."""

    def __init__(self, path: Path):
        self.path = path
        self.records: list[dict[str, Any]] = []
        self.test = ""
        self.target: Target | None = None  # the test's board, when it uses one

    def add(self, report: CheckReport) -> CheckReport:
        for r in report.records:
            self.records.append({"test": self.test, **r.as_dict()})
        return report

    def note(
        self,
        check: str,
        value: Any,
        limit: Any,
        ok: bool,
        reason: str,
        unit: str = "",
        rule: str = "equal",
        target: Target | None = None,
    ) -> None:
        """A record for a check made in the test itself (not through `dbch check`): the same
        Evidence a check writes, saying which board and whether it was simulated (unknown
        without `target`: a simulated pass must never read as hardware)."""
        tool, host, operator, command = run_identity()
        target = target or self.target
        record = Evidence(
            check=check,
            view="test",
            field=check,
            value=value,
            limit=limit,
            unit=unit,
            rule=rule,
            result="pass" if ok else "fail",
            reason=reason,
            board=target.name if target else "",
            simulated=target.simulated if target else None,
            time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            tool=tool,
            host=host,
            operator=operator,
            command=command,
        )
        self.records.append({"test": self.test, **record.as_dict()})

    def write(self) -> None:
        if not self.records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.records, indent=1, default=str) + "\n")


@pytest.fixture
def dbch_evidence(request: pytest.FixtureRequest) -> EvidenceCollector:
    collector = request.config.stash[EVIDENCE_KEY]
    collector.test = request.node.nodeid
    # the board a test's own checks are about, when it has one (never started for this)
    used = "dbch_target" in request.fixturenames
    collector.target = request.getfixturevalue("dbch_target") if used else None
    return collector


def check_now(hub: AgentClient, target: Target, choice: TableChoice) -> CheckReport:
    """`dbch check` from inside a test: the three views (witness where there is one)."""
    return check_client(
        hub,
        choice.table,
        choice.region,
        target.emissions(HOUR_S),
        target.name,
        choice.mode,
        target.simulated,
    )
