"""One registry entry per radio chip (boards/chips.py), complete for every chip a board
names: its firmware driver and the modules it needs, its frequency-word function, its
register model, its pins, its known answers and its doc. The check names the missing part,
and an unknown chip is an error that lists the known ones."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest
from dbch.boards.chips import CHIPS, ChipSpec, chip
from dbch.boards.definitions import PIN_ROLES, all_boards
from dbch.errors import BoardDefinitionError

ROOT = Path(__file__).resolve().parents[1]
SUBGHZ = ROOT / "firmware" / "subghz"


def _defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}


def missing_parts(spec: ChipSpec) -> list[str]:
    """What an entry lacks, each part named."""
    out = []
    module, cls = spec.driver
    driver_file = SUBGHZ / f"{module.split('.')[-1]}.py"
    if not driver_file.is_file():
        out.append(f"driver module {module} (no {driver_file.relative_to(ROOT)})")
    elif cls not in _defined(driver_file):
        out.append(f"driver class {cls} in {module}")
    for m in spec.modules:
        if not (SUBGHZ / f"{m}.py").is_file():
            out.append(f"driver module subghz.{m}")
    words_file = SUBGHZ / f"{spec.modules[0]}.py" if spec.modules else None
    if words_file is None or not words_file.is_file():
        out.append("a module with the frequency-word function")
    elif spec.word_function not in _defined(words_file):
        out.append(f"word function {spec.word_function} in subghz.{spec.modules[0]}")
    mod, model = spec.model.split(":")
    try:
        cls_obj = getattr(importlib.import_module(f"dbch.sim.chips.{mod}"), model)
    except (ImportError, AttributeError):
        out.append(f"register model {spec.model}")
    else:
        for method in ("transfer", "set_pin", "get_pin", "power_cycle", "set_freq_word"):
            if not callable(getattr(cls_obj, method, None)):
                out.append(f"model method {model}.{method}")
    unknown = set(spec.pins) - set(PIN_ROLES)
    if unknown:
        out.append(f"pin roles {sorted(unknown)} (known: {', '.join(PIN_ROLES)})")
    if not spec.words:
        out.append("known answers: frequency words")
    if not spec.bus:
        out.append("known answers: bus transactions")
    doc = (ROOT / "docs" / "radio.md").read_text()
    if f"## {spec.doc}" not in doc:
        out.append(f"doc section '{spec.doc}' in docs/radio.md")
    return out


@pytest.mark.parametrize("name", sorted(CHIPS))
def test_every_chip_entry_is_complete(name: str) -> None:
    assert missing_parts(CHIPS[name]) == []


def test_every_chip_a_board_names_has_an_entry() -> None:
    for board in all_boards():
        assert board.radio.chip in CHIPS, board.id


def test_an_incomplete_entry_is_named_part_by_part() -> None:
    broken = dataclasses.replace(
        CHIPS["sx1276"],
        driver=("subghz.sx127x", "SX9999"),
        model="sx127x:NoSuchModel",
        word_function="no_word",
        pins=("nss", "antenna"),
        bus=(),
    )
    got = missing_parts(broken)
    assert "driver class SX9999 in subghz.sx127x" in got
    assert "register model sx127x:NoSuchModel" in got
    assert "word function no_word in subghz.sx127x" in got
    assert any(p.startswith("pin roles ['antenna']") for p in got)
    assert "known answers: bus transactions" in got


def test_an_unknown_chip_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(BoardDefinitionError, match=r"unknown radio chip \(known: cc1101, stm"):
        chip("sx9999")
    from dbch.sim.chips import model_for

    with pytest.raises(BoardDefinitionError, match="add its entry"):
        model_for("sx9999")  # no silent empty socket
