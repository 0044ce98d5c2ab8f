"""make bench's printed report: the WL55 twin's figures against the last run."""

from __future__ import annotations

from dbch.perf.common import Figure, Results, format_results


def _spread_lines(values: dict[str, float], previous: dict[str, float]) -> dict[str, str]:
    res = Results(previous=previous)
    for k, v in values.items():
        res.add(Figure(k, v, "ms", "what"))
    text = format_results(res).split("(spread, target under 5 %):\n", 1)[1]
    return {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}


def test_a_twin_figure_that_moved_5_percent_or_more_is_marked_one_that_did_not_is_not() -> None:
    lines = _spread_lines(
        {"wl55_twin_boot_ready_ms": 300.0, "wl55_twin_apply_e2e_ms": 106.0, "link_ms": 9.0},
        {"wl55_twin_boot_ready_ms": 294.0, "wl55_twin_apply_e2e_ms": 100.0, "link_ms": 5.0},
    )
    assert "(last 294, +2.0 %)" in lines["wl55_twin_boot_ready_ms"]
    assert not lines["wl55_twin_boot_ready_ms"].endswith("MOVED")
    assert lines["wl55_twin_apply_e2e_ms"].endswith("+6.0 %)  MOVED")
    assert "link_ms" not in lines  # only the twin's pinned-rate figures are compared


def test_without_a_last_run_there_is_no_spread_section() -> None:
    res = Results()
    res.add(Figure("wl55_twin_boot_ready_ms", 300.0, "ms", "what"))
    assert "spread" not in format_results(res)
