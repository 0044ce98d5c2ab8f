"""Safety layers that the layers behind them hide, each tested on its own (the mutant list:
tests/mutants/mutants.toml, `make mutants`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from helpers import MicroPython

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("freq", [915_000_000, 915_350_000, 920_950_000, 914_950_000])
def test_the_gate_refuses_a_masked_carrier_on_its_own(mp: MicroPython, freq: int) -> None:
    # The driver refuses a masked carrier before the gate is asked, so no outcome test sees
    # the gate's own check go: asked alone, it must still say masked_band.
    status, out = mp.ask(f"gate_last {freq}")
    assert (status, out) == ("ok", "masked_band")


def test_every_mutant_on_the_list_still_finds_its_code_and_compiles() -> None:
    # A mutant whose `find` no longer matches would test nothing: the list follows the code.
    mutants = tomllib.loads((ROOT / "tests" / "mutants" / "mutants.toml").read_text())["mutant"]
    assert len({m["name"] for m in mutants}) == len(mutants)
    for m in mutants:
        source = (ROOT / m["file"]).read_text()
        assert source.count(m["find"]) == 1, m["name"]
        # and the mutant still compiles: one that does not is "killed" by the build, not
        # by its tests (the gate's two checks moved a level in and their mutants did so)
        compile(source.replace(m["find"], m["replace"]), m["file"], "exec")
        for t in m["tests"]:
            assert (ROOT / t.split("::")[0]).exists(), (m["name"], t)
            if "::" in t:
                assert f"def {t.split('::')[1]}(" in (ROOT / t.split("::")[0]).read_text(), t
