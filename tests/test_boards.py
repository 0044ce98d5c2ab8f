"""Board definitions are data checked against a schema; errors name file and field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from dbch import paths
from dbch.boards.definitions import (
    all_boards,
    board_module,
    get_board,
    load_board_file,
    parse_board,
)
from dbch.boards.mpy import compile_file
from dbch.errors import BoardDefinitionError

REQUIRED_BOARDS = {
    "HELTEC_WIFI_LORA32_V3": "sx1262",
    "PICO_WAVESHARE_SX1262": "sx1262",
    "FEATHER_RP2040_RFM95": "sx1276",
    "NUCLEO_WL55": "stm32wl5",
    "PICO_CC1101": "cc1101",
}


def test_every_board_definition_is_valid_and_named_after_its_folder() -> None:
    boards = {b.id: b for b in all_boards()}
    for board_id, chip in REQUIRED_BOARDS.items():
        assert boards[board_id].radio.chip == chip
        assert boards[board_id].path.parent.name == board_id


def test_sim_twin_heap_is_the_real_heap_doubled_unless_stated() -> None:
    # A unix twin (64-bit) gets twice the board's heap; the NUCLEO-WL55's own twin is its
    # 32-bit build in QEMU, whose heap is the board's (tests/test_firmware_image.py). Its
    # unix twin (no MicroPython source needed) also holds the agent's code, frozen in flash
    # on the board, in its heap: more than twice 53 KB, and more to boot on a full
    # filesystem (tests/test_resources.py; tests/test_radio.py runs it).
    for b in all_boards():
        frozen = "frozen_agent" in b.features
        assert b.sim.heap_kb == (152 if frozen else 2 * b.heap_kb), b.id
        assert b.sim.heap_kb >= 2 * b.heap_kb
        assert b.sim.twin == ("qemu" if b.id == "NUCLEO_WL55" else "unix")


def _wl55() -> dict:
    return json.loads((paths.boards_dir() / "NUCLEO_WL55" / "board.json").read_text())


def _pico() -> dict:
    return json.loads((paths.boards_dir() / "PICO_WAVESHARE_SX1262" / "board.json").read_text())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["radio"].pop("busy"), "boards/X/board.json: radio.busy: required for sx1262"),
        (lambda d: d["radio"].pop("dio1"), "radio.dio1: required for sx1262"),
        (lambda d: d["radio"].update(chip="sx9999"), "radio.chip: must be one of"),
        (lambda d: d.update(ram_kb="lots"), "ram_kb: must be an integer"),
        (lambda d: d.update(heap_kb=10_000), "heap_kb: must be at most 264"),
        (lambda d: d.pop("mcu"), "mcu: required"),
        (lambda d: d.update(colour="red"), "colour: unknown field"),
        (
            lambda d: d["filesystem"].update(block_size=1000),
            "filesystem.block_size: must be a power of two",
        ),
        (lambda d: d.update(features=["teleport"]), "features[0]: unknown feature 'teleport'"),
        (
            lambda d: d["radio"].update(tcxo_mv=True),
            "radio.tcxo_mv: must be an integer, not a boolean",
        ),
        (lambda d: d.update(id="X2"), "id: must match its folder name"),
        (lambda d: d.update(budget={"code_spare": "8K"}), "budget.code_spare: must be an integer"),
        (lambda d: d.update(budget={"ram": 1}), "budget.ram: unknown field"),
        (lambda d: d.update(machine=7), "machine: must be"),
    ],
)
def test_bad_board_files_name_file_and_field(mutate, message: str) -> None:
    data = copy.deepcopy(_pico())
    data["id"] = "X"
    mutate(data)
    with pytest.raises(BoardDefinitionError) as e:
        parse_board(data, "boards/X/board.json", "X")
    assert message in str(e.value)


def test_stm32wl_radio_has_no_external_pins() -> None:
    data = _wl55()
    data["radio"]["busy"] = 5
    with pytest.raises(
        BoardDefinitionError, match=r"radio\.busy: stm32wl5 has no such external pin"
    ):
        parse_board(data, "boards/NUCLEO_WL55/board.json", "NUCLEO_WL55")


def test_invalid_json_is_reported_with_line(tmp_path: Path) -> None:
    f = tmp_path / "Y" / "board.json"
    f.parent.mkdir()
    f.write_text('{"id": "Y",\n  oops}')
    with pytest.raises(BoardDefinitionError, match=r"board.json: not valid JSON \(line 2"):
        load_board_file(f)


def test_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(BoardDefinitionError, match=r"no such board.*NUCLEO_WL55"):
        get_board("NOPE")


def test_generated_board_module_compiles_for_the_device(tmp_path: Path) -> None:
    for b in all_boards():
        src = tmp_path / f"{b.id}.py"
        src.write_text(board_module(b))
        compile_file(src, tmp_path / f"{b.id}.mpy", "dbch_board.py")  # raises on error
        text = board_module(b)
        module, cls = b.radio.driver
        assert f"BOARD_ID = {b.id!r}" in text and "def radio():" in text
        assert f"from {module} import {cls}" in text and f"return {cls}(" in text
        # Every wired pin reaches the driver, except the IRQ lines: the drivers poll the
        # chips' IRQ status over SPI (docs/radio.md), the lines stay wired for later use.
        for role, pin in b.radio.pins.items():
            if role not in ("dio0", "dio1", "gdo2"):
                assert f"Pin({int(pin) if pin.isdigit() else repr(pin)}" in text, role
