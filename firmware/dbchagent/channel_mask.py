# The GB Sub-GHz channel plan on the device (docs/reference.md §1; the host's twin is
# host_tools/dbch/channel_plan.py, and tests hold the two to the same answers).
# Mask word: page in bits 27-31, bitmap in bits 0-26: page 28/31 bit n = channel n;
# page 29 bits 0-7 = channels 27-34, bit 8 = channel 62, bits 9-26 reserved (zero);
# page 30 bit n = channel 35 + n.
from micropython import const

_LOWER_BASE = const(863250000)
_UPPER_BASE = const(915350000)
_SPACING = const(200000)
BITMAP = const(0x07FFFFFF)
P29_RESERVED = const(0x07FFFE00)
PAGES = (28, 29, 30, 31)


def channels(page):
    if page == 28 or page == 31:
        return range(27)
    if page == 29:
        return (27, 28, 29, 30, 31, 32, 33, 34, 62)
    if page == 30:
        return range(35, 62)
    raise ValueError("page")


def bit_of(page, ch):
    if page == 29:
        return 8 if ch == 62 else ch - 27
    return ch - 35 if page == 30 else ch


def centre_hz(page, ch):
    return (_UPPER_BASE if page == 31 else _LOWER_BASE) + _SPACING * ch


def nearest(freq_hz, tolerance_hz):
    # The channel whose centre is within tolerance of freq_hz, by arithmetic (the transmit
    # gate asks for every frame): 0..62 in the lower band (pages 28-30, channel numbers),
    # 64 + channel in the upper band (page 31), -1 for none.
    if freq_hz > _UPPER_BASE - _SPACING:
        base = _UPPER_BASE
        top = 26
        off = 64
    else:
        base = _LOWER_BASE
        top = 62
        off = 0
    ch = (freq_hz - base + _SPACING // 2) // _SPACING
    if ch < 0 or ch > top:
        return -1
    d = freq_hz - base - _SPACING * ch
    return off + ch if -tolerance_hz <= d <= tolerance_hz else -1


def page_of(index):
    # the page of a channel as nearest() numbers it; -1 for none
    if index < 0:
        return -1
    if index >= 64:
        return 31
    if index <= 26:
        return 28
    return 30 if 35 <= index <= 61 else 29


def enabled(word):
    # [(page, channel), ...] of a mask word
    page = word >> 27
    return [(page, c) for c in channels(page) if word >> bit_of(page, c) & 1]


def check_word(word, page):
    # None if `word` is a valid mask word for `page`, else the reason
    if type(word) is not int or not 0 <= word <= 0xFFFFFFFF:
        return "must be a 32-bit unsigned integer"
    if word >> 27 != page:
        return "top bits give page %d, expected %d" % (word >> 27, page)
    if page == 29 and word & P29_RESERVED:
        return "reserved bits set: 0x%08X" % (word & P29_RESERVED)
    return None


def operating_word(page, ch):
    return page << 27 | 1 << bit_of(page, ch)
