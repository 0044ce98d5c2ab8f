"""Shared fixtures: a private simulated bench, deployed boards, a MicroPython harness."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbch import paths
from dbch.boards.deploy import deploy
from dbch.errors import DbchError
from dbch.gbcs.subghz_config import agent_record, content_hash
from dbch.gbcs.tables import TableVersion, get_table, load_table_file
from dbch.link.client import AgentClient
from dbch.sim.bench import Bench, SimBoard

ROOT = Path(__file__).resolve().parents[1]
MICROPYTHON = str(Path(sys.executable).parent / "micropython")
MPREMOTE = str(Path(sys.executable).parent / "mpremote")


def mpremote(port: str, *args: str, resume: bool = True, timeout: float = 30) -> str:
    """Run the mpremote command on a board (with `resume`: no soft reset first); its output."""
    cmd = [MPREMOTE, "connect", port, *(["resume"] if resume else []), *args]
    out = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="session")
def sim_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A bench of our own, so tests never touch the user's simulated boards. Exported as
    DBCH_SIM_HOME so `dbch` subprocesses see the same boards."""
    home = tmp_path_factory.mktemp("sim")
    old = os.environ.get("DBCH_SIM_HOME")
    os.environ["DBCH_SIM_HOME"] = str(home)
    os.environ["DBCH_KEYS"] = str(home / "keys")  # bench keys of the test boards
    yield home
    Bench(home).stop()
    if old is None:
        os.environ.pop("DBCH_SIM_HOME", None)
    else:
        os.environ["DBCH_SIM_HOME"] = old


@pytest.fixture(scope="session")
def bench(sim_home: Path) -> Bench:
    return Bench(sim_home)


# The board most tests run on, and the smallest one (its 112 KB twin holds code and data).
HUB_BOARD = "PICO_WAVESHARE_SX1262"
SMALL_BOARD = "NUCLEO_WL55"


def start_deployed(bench: Bench, board: str = HUB_BOARD, **kw: object) -> SimBoard:
    (b,) = bench.start(board=board, erase=True, **kw)  # type: ignore[arg-type]
    deploy(b.port, board)
    return b


@pytest.fixture(scope="module")
def hub_board(bench: Bench) -> Iterator[SimBoard]:
    """A simulated Pico + SX1262 twin with the agent deployed."""
    b = start_deployed(bench)
    yield b
    b.stop()


@pytest.fixture(scope="module")
def small_board(bench: Bench) -> Iterator[SimBoard]:
    """The smallest board: the NUCLEO-WL55's 32-bit twin (its own MicroPython build and
    heap in QEMU, the agent frozen) with the board module deployed."""
    b = start_deployed(bench, SMALL_BOARD)
    yield b
    b.stop()


def ensure_agent(board: SimBoard) -> None:
    """Leave the board with its agent running (a test before may have stopped it with
    mpremote's Ctrl-C): reset it when the agent does not answer."""
    with AgentClient(board.port, on_console=None) as client:
        try:
            client.wait_ready(2.0)
            return
        except DbchError:
            pass
    board.reset()
    with AgentClient(board.port, on_console=None) as client:
        client.wait_ready()


@contextlib.contextmanager
def agent_on(board: SimBoard) -> Iterator[AgentClient]:
    """A connection to the board's agent, started again first if a test stopped it."""
    ensure_agent(board)
    with AgentClient(board.port, on_console=None) as client:
        yield client


@pytest.fixture
def hub(hub_board: SimBoard) -> Iterator[AgentClient]:
    with agent_on(hub_board) as client:
        yield client


# --- the DCC's public artefacts (never copied into the repository) ------------------------
DCC = Path(os.environ.get("DBCH_DCC_DIR") or ROOT.parent / "shared" / "dcc")


@pytest.fixture(scope="session")
def dcc() -> Path:
    """The DCC's public artefacts beside the project (../shared/dcc: RTDS vectors, DUIS
    templates and schema; its README names each source and commit). Tests that read them
    skip, saying so, where the folder is absent."""
    if not (DCC / "rtds").is_dir():
        pytest.skip(
            f"{DCC} is absent: the DCC's public artefacts (RTDS vectors, DUIS templates, the "
            "DUIS schema) are read from there and never copied into this repository"
        )
    return DCC


# --- tables on boards -------------------------------------------------------------------
SHIPPED = Path(__file__).parents[1] / "tables" / "sec-2018-03-r1.toml"


def table_variant(tmp_path: Path, name: str, **edits: str) -> TableVersion:
    """sec-2018-03-r1 (in force) with lines replaced (field -> new TOML line), a new id."""
    text = SHIPPED.read_text().replace('id = "sec-2018-03-r1"', f'id = "{name}"')
    for key, line in edits.items():
        lines = [ln for ln in text.splitlines() if ln.startswith(key + " =")]
        assert lines, key
        text = text.replace(lines[0], line)
    f = tmp_path / f"{name}.toml"
    f.write_text(text)
    return load_table_file(f)


def apply(hub: AgentClient, table: TableVersion, region: str = "north") -> dict:
    record = agent_record(table.region(region).config(), table.regulatory)
    result = hub.apply_config(record, table.id, region)
    assert result["hash"] == content_hash(record)
    return result


def two_records() -> list[bytes]:
    """Two valid, different configuration records: the 2018 table for north, and the same
    with at most 4 channel changes a week (the shipped tables' regions share their values)."""
    from dbch.gbcs.subghz_config import SubGhzConfig

    t = get_table("sec-2018-03-r1")
    values = t.region("north").config().values()
    first = agent_record(SubGhzConfig.from_values(values), t.regulatory)
    values[6] = 4  # max_channel_changes_per_week
    return [first, agent_record(SubGhzConfig.from_values(values), t.regulatory)]


class MicroPython:
    """A MicroPython unix VM running tests/mp_harness.py with firmware/ on its path: firmware
    modules exercised in the real VM, one request line in, one answer line out."""

    def __init__(self, heap: str = "256K"):
        self.proc = subprocess.Popen(
            [MICROPYTHON, "-X", f"heapsize={heap}", str(ROOT / "tests" / "mp_harness.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "DBCH_FIRMWARE": str(paths.firmware_dir())},
        )

    def ask(self, line: str) -> tuple[str, str]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().decode().rstrip("\n")
        if not answer:
            raise RuntimeError(f"MicroPython harness died on {line[:80]!r}")
        status, _, rest = answer.partition(" ")
        return status, rest

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="session")
def mp() -> Iterator[MicroPython]:
    vm = MicroPython()
    yield vm
    vm.close()


# --- the fault-run summary (issue: reliability) -----------------------------------------
class SoakCounts:
    """Counts the fault tests add up: printed at the end of the run (and written to
    build/fault-summary.json), bounded in `make test`, long in `make soak`."""

    KEYS = (
        "frames_fuzzed",
        "power_cuts_survived",
        "link_faults_injected",
        "operations_completed",
        "operations_lost",
        "operations_doubled",
        "replays_rejected",
        "emissions_in_915_921",
        "flood_seconds",
        "watchdog_resets_under_flood",
    )

    def __init__(self) -> None:
        self.counts = dict.fromkeys(self.KEYS, 0)

    def add(self, **counts: int) -> None:
        for k, v in counts.items():
            assert k in self.counts, k
            self.counts[k] += v


_SOAK = SoakCounts()


@pytest.fixture(scope="session")
def soak_counts() -> SoakCounts:
    return _SOAK


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not any(_SOAK.counts.values()):
        return
    import json

    terminalreporter.section("fault runs")
    for k, v in _SOAK.counts.items():
        label = k.replace("_", " ").replace("915 921", "915-921 MHz")
        terminalreporter.write_line(f"{label:>28}: {v}")
    out = paths.build_dir() / "fault-summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_SOAK.counts, indent=1) + "\n")


# --- tests that need MicroPython's source (a board build or a QEMU twin) ------------------
# Marked by hand (`micropython_source`), or found by what they use: the WL55's twin
# fixture, or a parameter that picks the qemu twin. Without a source (CI has none) they
# skip with the advice `dbch firmware build` gives; `make test-boards` runs just them.
_NEEDS_SOURCE_FIXTURES = {"small_board"}
_NEEDS_SOURCE_PARAMS = {"qemu", "small_board"}


def needs_micropython_source(item: pytest.Item) -> bool:
    if item.get_closest_marker("micropython_source"):
        return True
    if _NEEDS_SOURCE_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(
        isinstance(v, str) and v in _NEEDS_SOURCE_PARAMS for v in callspec.params.values()
    )


def own_twin_or_unix(board: str) -> str | None:
    """The board's own twin (None) where MicroPython's source can build it, else the unix
    twin: for tests about the agent or a driver rather than about the board's build."""
    from dbch.boards.definitions import get_board
    from dbch.boards.mpsource import missing_reason

    if get_board(board).sim.twin == "qemu" and missing_reason():
        return "unix"
    return None


# A test that starts a simulated board: found by the fixtures every bench comes from, or
# marked by hand (`unix_twin`) where a test makes its own. `make check` leaves these out.
_BOARD_FIXTURES = {"sim_home", "fleet_env", "fast_bench", "duty_board"}


def needs_a_board(item: pytest.Item) -> bool:
    if item.get_closest_marker("unix_twin") or needs_micropython_source(item):
        return True
    if _BOARD_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)  # a board fixture chosen by a parameter
    return callspec is not None and "hub_board" in callspec.params.values()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from dbch.boards.mpsource import missing_reason

    for item in items:
        if needs_a_board(item):
            item.add_marker(pytest.mark.unix_twin)
    needing = [item for item in items if needs_micropython_source(item)]
    reason = missing_reason() if needing else None
    for item in needing:
        item.add_marker(pytest.mark.micropython_source)
        item.add_marker(pytest.mark.qemu_twin)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
