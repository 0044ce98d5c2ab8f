"""The HTML evidence report, opened in headless Chromium: the DOM Chromium builds holds the
channel-plan chart, and the screenshot shows it (allowed-channel green, masked-band red,
operating-channel blue and emission orange pixels are all on screen).

`make test` installs Chromium (scripts/setup-debian.sh) and sets DBCH_REQUIRE_SYSTEM=1, so there
a missing browser is a failure; a bare `pytest` elsewhere skips."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from dbch.checks.evidence import write_html
from dbch.checks.views import run_check
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.tables import get_table
from test_checks import emission, readings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


@pytest.fixture
def chromium(tmp_path: Path):
    if CHROMIUM is None:
        if os.environ.get("DBCH_REQUIRE_SYSTEM") == "1":
            pytest.fail("chromium is not installed (make test installs Debian's package)")
        pytest.skip("chromium is not installed: `make test` installs it")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def report_file(tmp_path: Path) -> Path:
    table = get_table("sec-2018-03-r1")
    cfg, st = readings(table)
    seen = [emission(float(i), 863_250_000) for i in range(5)] + [emission(9.0, 865_050_000)]
    path = tmp_path / "report.html"
    write_html(path, [run_check(table, "north", cfg, st, seen, "sim1 (PICO, uid 01)")])
    return path


def test_chromium_builds_the_chart(chromium, tmp_path: Path) -> None:
    dom = chromium("--dump-dom", report_file(tmp_path).as_uri()).stdout
    assert '<svg id="channel-plan"' in dom
    assert dom.count('class="channel ') == len(plan.all_channels())
    assert dom.count('class="channel allowed"') == 62  # pages 28-30 in the 2018 table
    assert dom.count('class="channel masked-channel"') == 27  # page 31, all masked
    assert 'id="operating"' in dom and dom.count('class="emission"') == 2
    assert '<rect class="masked"' in dom


def test_the_screenshot_shows_the_chart(chromium, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    chromium("--window-size=1000,700", f"--screenshot={shot}", report_file(tmp_path).as_uri())
    pixels = set(png_pixels(shot.read_bytes()))
    for name, rgb in [
        ("allowed channel", (0x34, 0xA8, 0x53)),
        ("masked channel", (0xC5, 0x22, 0x1F)),
        ("masked band", (0xF8, 0xD7, 0xD5)),
        ("operating channel", (0x1A, 0x73, 0xE8)),
        ("emission", (0xF2, 0x99, 0x00)),
    ]:
        assert any(near(p, rgb) for p in pixels), f"no {name} pixels on screen"


def near(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return all(abs(x - y) <= 6 for x, y in zip(a, b, strict=True))


def png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (n,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6) and body[12] == 0
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, out = zlib.decompress(idat), width * channels, []
    prev = bytearray(stride)
    for y in range(height):
        f, row = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = row[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                row[i] = (row[i] + a) & 0xFF
            elif f == 2:
                row[i] = (row[i] + b) & 0xFF
            elif f == 3:
                row[i] = (row[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out += [tuple(row[i : i + 3]) for i in range(0, stride, channels)]
        prev = row
    return out
