"""The GB Sub-GHz channel plan: pages 28-31, logical channels, centre frequencies, and the
32-bit channel mask word (docs/reference.md §1). Every other module asks this one.

Mask word: bits 27-31 hold the page, bits 0-26 a bitmap of that page's channels:
page 28 and 31 bit n = channel n; page 29 bits 0-7 = channels 27-34, bit 8 = channel 62
(bits 9-26 must be 0); page 30 bit n = channel 35 + n.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PAGES = (28, 29, 30, 31)
CHANNEL_SPACING_HZ = 200_000
LOWER_BAND_BASE_HZ = 863_250_000  # pages 28-30: one grid of channels 0-62
UPPER_BAND_BASE_HZ = 915_350_000  # page 31
# The 915 MHz band the 2018 decision masks; a carrier needs half its occupied bandwidth
# (about 100 kHz at 100 kbps GFSK) clear of it too (docs/reference.md §2).
MASKED_BAND_HZ = (915_000_000, 921_000_000)
OCCUPIED_HALF_BW_HZ = 100_000

# Logical channels per page, in bit order.
_CHANNELS: dict[int, tuple[int, ...]] = {
    28: tuple(range(0, 27)),
    29: (*range(27, 35), 62),
    30: tuple(range(35, 62)),
    31: tuple(range(0, 27)),
}
# Bits 9-26 of a page-29 word carry no channel and must be zero.
RESERVED_BITS = {29: 0x07FFFE00}
BITMAP_MASK = (1 << 27) - 1


class ChannelPlanError(ValueError):
    """A page, channel or mask word outside the plan (the message says which and why)."""


@dataclass(frozen=True, order=True)
class Channel:
    page: int
    number: int

    @property
    def freq_hz(self) -> int:
        return centre_hz(self.page, self.number)

    @property
    def bit(self) -> int:
        return bit_of(self.page, self.number)

    @property
    def masked_band(self) -> bool:
        return in_masked_band(self.freq_hz)

    def __str__(self) -> str:
        return f"p{self.page}/ch{self.number} ({mhz(self.freq_hz)} MHz)"


def channels(page: int) -> tuple[int, ...]:
    """The logical channel numbers of `page`, in bit order."""
    if page not in _CHANNELS:
        raise ChannelPlanError(f"page {page} is not a GB Sub-GHz page (28-31)")
    return _CHANNELS[page]


def all_channels() -> list[Channel]:
    return [Channel(p, c) for p in PAGES for c in channels(p)]


def check(page: int, channel: int) -> None:
    if channel not in channels(page):
        raise ChannelPlanError(f"channel {channel} is not on page {page}")


def centre_hz(page: int, channel: int) -> int:
    check(page, channel)
    base = UPPER_BAND_BASE_HZ if page == 31 else LOWER_BAND_BASE_HZ
    return base + CHANNEL_SPACING_HZ * channel


def bit_of(page: int, channel: int) -> int:
    check(page, channel)
    return channels(page).index(channel)


def in_masked_band(freq_hz: int, half_bw_hz: int = 0) -> bool:
    """Whether a carrier at `freq_hz` (with that half bandwidth) touches 915-921 MHz."""
    lo, hi = MASKED_BAND_HZ
    return freq_hz + half_bw_hz > lo and freq_hz - half_bw_hz < hi


def mask_word(page: int, chans: Iterable[int]) -> int:
    """The mask word enabling `chans` on `page`."""
    word = page << 27
    for c in chans:
        word |= 1 << bit_of(page, c)
    return word


def all_enabled(page: int) -> int:
    return mask_word(page, channels(page))


def none_enabled(page: int) -> int:
    return page << 27


def page_of(word: int) -> int:
    return (word >> 27) & 0x1F


def validate_word(word: int, expected_page: int | None = None) -> None:
    """Raise ChannelPlanError unless `word` is a valid mask word (for `expected_page`)."""
    if not isinstance(word, int) or isinstance(word, bool) or not 0 <= word <= 0xFFFFFFFF:
        raise ChannelPlanError("must be a 32-bit unsigned integer")
    page = page_of(word)
    if expected_page is not None and page != expected_page:
        raise ChannelPlanError(f"top bits give page {page}, expected {expected_page}")
    if page not in _CHANNELS:
        raise ChannelPlanError(f"top bits give page {page}, not a GB Sub-GHz page (28-31)")
    reserved = RESERVED_BITS.get(page, 0) & word
    if reserved:
        raise ChannelPlanError(f"reserved bits set: 0x{reserved:08X} (page {page} bits 9-26)")


def decode_word(word: int, expected_page: int | None = None) -> tuple[int, list[int]]:
    """(page, enabled channels) of a valid mask word."""
    validate_word(word, expected_page)
    page = page_of(word)
    return page, [c for i, c in enumerate(channels(page)) if word >> i & 1]


def operating_word(page: int, channel: int) -> int:
    """The one-bit mask word naming an operating channel (COSEM 0-0:94.44.10.2)."""
    return mask_word(page, [channel])


def decode_operating_word(word: int) -> Channel:
    page, chans = decode_word(word)
    if len(chans) != 1:
        raise ChannelPlanError(f"an operating channel word has one bit set, not {len(chans)}")
    return Channel(page, chans[0])


def parse_channels(spec: str | list[int], page: int) -> list[int]:
    """'0-26', '27-34,62', '' or a list of numbers -> sorted channel numbers on `page`."""
    if isinstance(spec, list):
        numbers = spec
    else:
        numbers = []
        for part in spec.replace(" ", "").split(","):
            if not part:
                continue
            if "-" in part:
                lo, hi = part.split("-", 1)
                numbers += range(int(lo), int(hi) + 1)
            else:
                numbers.append(int(part))
    for n in numbers:
        if not isinstance(n, int) or isinstance(n, bool):
            raise ChannelPlanError(f"{n!r} is not a channel number")
        check(page, n)
    return sorted(set(numbers))


def span_mhz(page: int, chans: Iterable[int]) -> str:
    """The carriers of `chans` on `page` in MHz: '915.35', or '915.35-916.95' for several."""
    cs = sorted(chans)
    lo, hi = mhz(centre_hz(page, cs[0])), mhz(centre_hz(page, cs[-1]))
    return lo if lo == hi else f"{lo}-{hi}"


def format_channels(chans: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    out: list[str] = []
    run: list[int] = []
    for c in sorted(chans):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(_run(run))
        run = [c]
    if run:
        out.append(_run(run))
    return ",".join(out) or "none"


def _run(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def mhz(freq_hz: int) -> str:
    return f"{freq_hz / 1e6:.2f}"


def parse_frequency(text: str) -> int:
    """'868.3MHz', '868300 kHz', '868300000' -> Hz (an integer). A bare number is read as
    MHz when it falls in a GB Sub-GHz band (863-876 or 915-921: '868.45'), as Hz when it is
    a carrier in Hz; anything else is refused with what it might have meant."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(MHz|kHz|Hz)?\s*", text, re.I)
    if not m:
        raise ChannelPlanError(f"{text!r} is not a frequency (e.g. 868.45MHz)")
    value, unit = float(m.group(1)), (m.group(2) or "").lower()
    if not unit:
        if 863 <= value <= 876 or 915 <= value <= 921:
            unit = "mhz"
        elif value >= 1e6:
            unit = "hz"
        else:
            raise ChannelPlanError(
                f"{text!r} has no unit and is no GB Sub-GHz carrier: did you mean {m.group(1)}MHz?"
            )
    return round(value * {"mhz": 1e6, "khz": 1e3, "hz": 1}[unit])
