"""The channel plan: frequencies, mask words, page 29's channel 62, the masked band."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dbch.gbcs import channel_plan as plan

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"


def in_micropython(code: str) -> Any:
    """Run `code` in the real MicroPython VM with firmware/ on its path; the JSON it prints."""
    micropython = str(Path(sys.executable).parent / "micropython")
    head = f"import sys, json\nsys.path.insert(0, {str(FIRMWARE)!r})\n"
    done = subprocess.run(
        [micropython, "-c", head + code], capture_output=True, text=True, check=True, timeout=30
    )
    return json.loads(done.stdout)


def test_every_channel_frequency_follows_the_formulas() -> None:
    chans = plan.all_channels()
    assert len(chans) == 27 + 9 + 27 + 27
    for c in chans:
        if c.page == 31:
            assert c.freq_hz == 915_350_000 + 200_000 * c.number
        else:
            assert c.freq_hz == 863_250_000 + 200_000 * c.number
    # The known carriers of docs/reference.md §5
    assert plan.centre_hz(28, 0) == 863_250_000
    assert plan.centre_hz(28, 26) == 868_450_000
    assert plan.centre_hz(29, 34) == 870_050_000
    assert plan.centre_hz(29, 62) == 875_650_000
    assert plan.centre_hz(30, 35) == 870_250_000
    assert plan.centre_hz(30, 61) == 875_450_000
    assert plan.centre_hz(31, 0) == 915_350_000
    assert plan.centre_hz(31, 26) == 920_550_000


def test_only_page_31_lies_in_the_masked_band() -> None:
    for c in plan.all_channels():
        assert c.masked_band == (c.page == 31)
        assert plan.in_masked_band(c.freq_hz, plan.OCCUPIED_HALF_BW_HZ) == (c.page == 31)
    assert plan.in_masked_band(915_000_000 - 50_000, plan.OCCUPIED_HALF_BW_HZ)  # edge spill
    assert not plan.in_masked_band(914_800_000, plan.OCCUPIED_HALF_BW_HZ)


@pytest.mark.parametrize(
    ("page", "chans", "word"),
    [
        (28, range(27), 0xE7FFFFFF),
        (29, [*range(27, 35), 62], 0xE80001FF),
        (30, range(35, 62), 0xF7FFFFFF),
        (31, range(27), 0xFFFFFFFF),
        (31, [], 0xF8000000),
        (28, [0], 0xE0000001),
        (29, [62], 0xE8000100),
        (29, [27], 0xE8000001),
        (30, [35], 0xF0000001),
        (30, [61], 0xF4000000),
    ],
)
def test_mask_words_encode_and_decode(page: int, chans, word: int) -> None:
    assert plan.mask_word(page, chans) == word
    assert plan.decode_word(word) == (page, sorted(chans))


def test_operating_channel_word_has_one_bit() -> None:
    assert plan.operating_word(28, 0) == 0xE0000001
    assert plan.decode_operating_word(0xE8000100) == plan.Channel(29, 62)
    with pytest.raises(plan.ChannelPlanError, match="one bit set, not 2"):
        plan.decode_operating_word(0xE0000003)


@pytest.mark.parametrize(
    ("word", "page", "message"),
    [
        (0xE8000006, 31, "top bits give page 29, expected 31"),
        (0x00000001, None, "top bits give page 0, not a GB Sub-GHz page"),
        (0xE8000200, 29, "reserved bits set: 0x00000200"),
        (0x1_0000_0000, None, "32-bit"),
        (-1, None, "32-bit"),
    ],
)
def test_invalid_mask_words_are_refused(word: int, page: int | None, message: str) -> None:
    with pytest.raises(plan.ChannelPlanError, match=message):
        plan.validate_word(word, page)


def test_channels_outside_the_plan_are_refused() -> None:
    for page, ch in ((28, 27), (29, 26), (29, 35), (29, 61), (30, 34), (30, 62), (31, 27)):
        with pytest.raises(plan.ChannelPlanError):
            plan.centre_hz(page, ch)
    with pytest.raises(plan.ChannelPlanError, match="page 27"):
        plan.channels(27)


def test_channel_lists_parse_and_format() -> None:
    assert plan.parse_channels("27-34,62", 29) == [*range(27, 35), 62]
    assert plan.parse_channels("", 31) == []
    assert plan.format_channels([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


def test_the_agents_carrier_lookup_finds_every_channel_of_the_host_plan() -> None:
    # The transmit gate finds a carrier's channel by arithmetic (channel_mask.nearest, in
    # the real MicroPython VM): for every channel of the host's plan, at the centre and at
    # the tolerance's edges, and nothing just outside it.
    from dbch.checks.views import FREQ_TOL_HZ

    cases = [(c.page, c.number, c.freq_hz) for c in plan.all_channels()]
    got = in_micropython(
        "from dbchagent.channel_mask import nearest\n"
        f"tol = {FREQ_TOL_HZ}\nout = []\n"
        f"for page, ch, f in {cases!r}:\n"
        "    out.append([nearest(f + d, tol) for d in (-tol, 0, tol, -tol - 1, tol + 1)])\n"
        "print(json.dumps(out))\n"
    )
    for (page, ch, _), found in zip(cases, got, strict=True):
        index = 64 + ch if page == 31 else ch
        assert found == [index, index, index, -1, -1], (page, ch, found)


def test_the_agents_allowed_channels_are_exactly_the_masks_channels() -> None:
    # Config.allows (the agent, in the real MicroPython VM) answers from the flags the
    # transmit gate reads: for masks enabling a few channels of each page, every (page,
    # channel) asked, in range or not, is allowed exactly when the host's plan says its
    # page's mask enables it.
    enabled = {28: [0, 5, 26], 29: [27, 34, 62], 30: [35, 40, 61], 31: [0, 3]}
    words = [plan.mask_word(p, enabled[p]) for p in (28, 29, 30, 31)]
    got = in_micropython(
        "from dbchagent.config import Config\n"
        f"cfg = Config(b'', {words!r} + [0] * 11, [0, 0, 0, 0, 0, 0])\n"
        "print(json.dumps([[p, c] for p in range(27, 33) for c in range(-2, 96)"
        " if cfg.allows(p, c)]))\n"
    )
    assert sorted(map(tuple, got)) == sorted((p, c) for p, cs in enabled.items() for c in cs)
