"""What a board says it is: the board definition and "simulated" from the board's own
answer over its raw REPL (boards/identity.py), never from the bench."""

from __future__ import annotations

from dbch.boards.definitions import all_boards
from dbch.boards.identity import identify, unknown_board_help

PICO = "Raspberry Pi Pico with RP2040"


def test_a_board_with_its_module_is_what_the_module_says() -> None:
    i = identify({"board": "PICO_CC1101", "machine": PICO}, all_boards())
    assert (i.board, i.simulated) == ("PICO_CC1101", False)


def test_a_blank_twin_names_the_board_it_stands_in_for_and_is_simulated() -> None:
    i = identify(
        {"board": None, "twin_of": "NUCLEO_WL55", "machine": "linux [GCC] version"}, all_boards()
    )
    assert (i.board, i.simulated) == ("NUCLEO_WL55", True)
    # with the agent's board module on it too, a twin is still a twin
    i = identify({"board": "NUCLEO_WL55", "twin_of": "NUCLEO_WL55"}, all_boards())
    assert i.simulated


def test_a_blank_real_board_is_known_by_its_images_machine_string() -> None:
    i = identify(
        {"board": None, "twin_of": None, "machine": "NUCLEO-WL55 with STM32WL55JCI7"}, all_boards()
    )
    assert (i.board, i.simulated) == ("NUCLEO_WL55", False)


def test_a_machine_string_several_boards_share_asks_for_the_board_and_names_them() -> None:
    i = identify({"board": None, "machine": PICO}, all_boards())
    assert i.board is None and not i.simulated
    assert i.candidates == ("PICO_CC1101", "PICO_WAVESHARE_SX1262")
    msg = unknown_board_help("/dev/ttyACM0", i)
    assert "PICO_CC1101, PICO_WAVESHARE_SX1262" in msg and "--board" in msg and "\n" not in msg


def test_an_unknown_machine_string_is_one_line_saying_what_the_board_said() -> None:
    i = identify({"board": None, "machine": "Some Other Board with STM32F4"}, all_boards())
    assert i.board is None and i.candidates == ()
    assert "'Some Other Board with STM32F4'" in unknown_board_help("COM3", i)


def test_every_board_says_which_micropython_image_string_it_answers() -> None:
    for b in all_boards():
        assert " with " in b.machine, b.id
        assert any("_machine" in s for s in b.sources), b.id
