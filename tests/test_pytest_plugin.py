"""The dbch pytest plugin, tested with pytester: its options, the feature marker, the
fixtures on a simulated board, evidence next to JUnit, and a board given by port."""

from __future__ import annotations

import json

import pytest
from dbch.sim.bench import SimBoard

INNER_SUITE = """
from dbch.pytest_plugin import apply_table, check_now

def test_apply_and_check(dbch_hub, dbch_target, dbch_table, dbch_evidence):
    apply_table(dbch_hub, dbch_table.table, dbch_table.region)
    report = dbch_evidence.add(check_now(dbch_hub, dbch_target, dbch_table))
    assert report.result == "pass", [r.reason for r in report.failures]
    witness = [r for r in report.records if r.view == "witness"]
    print("WITNESS", dbch_target.simulated, ",".join(sorted({r.result for r in witness})))
"""


def test_the_plugin_registers_its_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    for option in ("--dbch-port", "--dbch-board", "--dbch-sim", "--dbch-table", "--dbch-evidence"):
        result.stdout.fnmatch_lines([f"*{option}*"])
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["*dbch_requires(*features)*"])


def test_the_marker_skips_what_the_board_lacks_with_a_hint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.dbch_requires("watchdog", "unique_id")
        def test_has_it():
            pass

        @pytest.mark.dbch_requires("freq_readback")
        def test_lacks_it():
            pass
    """)
    result = pytester.runpytest_subprocess("--dbch-board", "NUCLEO_WL55", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["*board NUCLEO_WL55 lacks freq_readback; hint: run with --dbch-sim FEATHER_RP2040_RFM95*"]
    )


def test_port_and_sim_together_are_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--dbch-port", "/dev/null", "--dbch-sim", "X")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.unix_twin  # the inner run starts its own simulated board
def test_fixtures_on_a_simulated_board_write_evidence_next_to_junit(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(INNER_SUITE)
    result = pytester.runpytest_subprocess(
        "--junitxml=out/run.xml",
        "-s",
        "--dbch-table",
        "sec-2018-03-r1",
        "--dbch-region",
        "central",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*WITNESS True pass"])
    records = json.loads((pytester.path / "out" / "run.evidence.json").read_text())
    assert {r["test"] for r in records} == {
        "test_fixtures_on_a_simulated_board_write_evidence_next_to_junit.py::test_apply_and_check"
    }
    assert {r["table"] for r in records} == {"sec-2018-03-r1"}
    assert {r["region"] for r in records} == {"central"}
    assert {r["result"] for r in records} == {"pass"}
    assert (pytester.path / "out" / "run.xml").exists()


def test_a_board_given_by_port_is_used_as_it_is(
    pytester: pytest.Pytester, hub_board: SimBoard
) -> None:
    """--dbch-port: nothing is started or deployed; there is no witness for a port (as on
    real hardware), so witness records are n/a, not passes."""
    from helpers import ensure_agent

    ensure_agent(hub_board)
    pytester.makepyfile(INNER_SUITE)
    result = pytester.runpytest_subprocess(
        f"--dbch-port={hub_board.port}", "-s", "--dbch-evidence", "ev.json"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*WITNESS False n/a"])
    records = json.loads((pytester.path / "ev.json").read_text())
    assert any(r["view"] == "witness" and r["result"] == "n/a" for r in records)


def test_a_simulated_board_named_by_id_is_resolved_before_it_is_opened(
    pytester: pytest.Pytester, hub_board: SimBoard
) -> None:
    """--dbch-port=sim:ID names a running simulated board: the plugin resolves the name to
    its port before opening it (it used to open `sim:ID` itself and error in every test)."""
    from helpers import ensure_agent

    ensure_agent(hub_board)
    pytester.makepyfile(INNER_SUITE)
    result = pytester.runpytest_subprocess(f"--dbch-port=sim:{hub_board.id}", "-s")
    result.assert_outcomes(passed=1)


def test_a_note_says_which_board_and_whether_it_was_simulated(tmp_path) -> None:
    # The review: notes carried no `simulated`, `board` or `time`, so a simulated pass from
    # a suite could read as hardware.
    from dbch.checks.targets import Target
    from dbch.pytest_plugin import EvidenceCollector

    collector = EvidenceCollector(tmp_path / "evidence.json")
    collector.test = "t"
    collector.target = Target(name="sim1", port="sim:sim1", simulated=True)
    collector.note("firmware.hash", "a", "a", True, "same")
    collector.target = None
    collector.note("firmware.hash", "a", "b", False, "differs")
    first, second = collector.records
    assert (first["board"], first["simulated"], first["result"]) == ("sim1", True, "pass")
    assert first["time"] and first["tool"].startswith("dbch")
    assert (second["board"], second["simulated"]) == ("", None)  # unknown, said so
