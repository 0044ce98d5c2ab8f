"""Shared fixtures and hooks: a private simulated bench, deployed boards, a MicroPython
harness, the fault-run summary, and what each test needs (markers). Helpers tests import
live in tests/helpers.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbch import paths
from dbch.link.client import AgentClient
from dbch.sim.bench import Bench, SimBoard
from helpers import DCC, SMALL_BOARD, MicroPython, agent_on, start_deployed


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


@pytest.fixture
def hub(hub_board: SimBoard) -> Iterator[AgentClient]:
    with agent_on(hub_board) as client:
        yield client


# --- the DCC's public artefacts (never copied into the repository) ------------------------


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
        "boot_window_trials",
        "repls_reached_wl55",
        "repls_reached_stock",
        "unlocked_repls_reached",
        "host_reports_checked",
        "host_reports_differing",
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


# Under pytest-xdist each worker counts its own share and hands it to the controller in
# its workeroutput (xdist's channel for this), which adds them up: a soak on every core.
@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session) -> None:  # type: ignore[no-untyped-def]
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["soak_counts"] = dict(_SOAK.counts)


def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    counts = getattr(node, "workeroutput", {}).get("soak_counts")
    if counts:
        _SOAK.add(**counts)


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
