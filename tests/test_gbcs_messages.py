"""Decoders for the DBCH use cases' GBCS messages (dbch.gbcs.messages, `dbch gbcs decode`)
against SmartDCC's public RTDS 4.5.0 vectors, read from ../shared/dcc/rtds (its README names
their source and commit; the `dcc` fixture skips where that folder is absent)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from dbch.gbcs import dlms, messages
from dbch.gbcs.alerts import alert_name

DBCH = str(Path(sys.executable).parent / "dbch")


@pytest.fixture
def rtds(dcc: Path) -> Path:
    return dcc / "rtds"


@pytest.fixture
def vector(rtds: Path) -> Callable[[str], bytes]:
    return lambda name: dlms.parse_hex((rtds / f"{name}_GBCS.HEX").read_text())


def test_dbch01_response_is_the_operating_channel(vector: Callable[[str], bytes]) -> None:
    got = messages.decode(vector("DBCH01_6.31_SUCCESS_RESPONSE"))
    assert got == {
        "use_case": "DBCH01",
        "result": "success",
        "word": "E0000001",
        "page": 28,
        "channel": 0,
        "freq_hz": 863_250_000,
        "masked_band": False,
    }


def test_dbch01_error_response_says_error_with_its_result(vector: Callable[[str], bytes]) -> None:
    got = messages.decode(vector("DBCH01_6.31_ERROR_RESPONSE"))
    assert got == {
        "use_case": "DBCH01",
        "result": "error",
        "data_access_results": [1],
        "data_access_result_names": ["hardware-fault"],
    }


def test_dbch02_response_is_the_channel_change_log(vector: Callable[[str], bytes]) -> None:
    got = messages.decode(vector("DBCH02_6.32_SUCCESS_RESPONSE"))
    assert got["use_case"] == "DBCH02" and got["result"] == "success"
    entries = got["entries"]
    assert len(entries) == 11
    assert {e["code"] for e in entries} == {0x8F26}
    assert {e["alert"] for e in entries} == {alert_name(0x8F26)}
    # The vector walks pages 28, 29, 30, 31 with one bit set each, the bit moving on.
    words = [int(e["word"], 16) for e in entries]
    assert [w >> 27 for w in words] == [28, 29, 30, 31] * 2 + [28, 29, 30]
    bits = [(w & 0x07FFFFFF).bit_length() - 1 for w in words]
    assert bits == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2]
    assert [e["rest"] for e in entries] == [f"0901{b:02X}" for b in bits]
    times = [e["time"] for e in entries]
    assert times == sorted(times) and times[0] == 0x1C277880
    # Channels of the masked band (page 31) are decoded and flagged, not refused.
    assert [e["masked_band"] for e in entries] == [p == 31 for p in [w >> 27 for w in words]]


def test_the_configuration_changed_alert_carries_what_dbch04_set(
    vector: Callable[[str], bytes],
) -> None:
    got = messages.decode(vector("DBCH04_6.28_NA_SUCCESS_ALERT_DBCH09"))
    assert got["alert_code"] == 0x8F2A and got["name"] == alert_name(0x8F2A)
    assert got["date_time"] == "2015-01-01T00:00:00"
    _, commanded = dlms.find(vector("DBCH04_6.28_SUCCESS_COMMAND"))
    assert got["configuration"] == commanded.as_dict()
    assert got["configuration"]["page31"] == 0xF8000006
    # GBCS allows page 31; the 2018 decision masks it: flagged as a problem.
    assert any("UpperBandSubGHzChannels0To26" in p for p in got["problems"])


def test_a_dlms_date_time_reads_as_iso() -> None:
    assert (
        messages.date_time(bytes.fromhex("07E80C1FFF173B3A00FFC4FF"))
        == "2024-12-31T23:59:58+01:00"
    )
    assert messages.date_time(bytes.fromhex("07E80601FF0C000000000000")) == "2024-06-01T12:00:00Z"
    assert messages.date_time(b"\x01\x02") == "0102"


@pytest.mark.parametrize(
    ("name", "code", "shown"),
    [
        ("DBCH01_6.31_SUCCESS_RESPONSE", 0, "operating channel p28/ch0 (863.25 MHz)"),
        ("DBCH02_6.32_SUCCESS_RESPONSE", 0, "915.95 MHz), masked band"),
        ("DBCH04_6.28_NA_SUCCESS_ALERT_DBCH09", 1, "alert 0x8F2A Sub GHz configuration changed"),
    ],
)
def test_gbcs_decode_shows_them(rtds: Path, name: str, code: int, shown: str) -> None:
    hex_text = (rtds / f"{name}_GBCS.HEX").read_text().strip()
    out = subprocess.run([DBCH, "gbcs", "decode", hex_text], capture_output=True, text=True)
    assert out.returncode == code, out.stderr  # 1: the alert's configuration enables page 31
    assert shown in out.stdout
    js = subprocess.run(
        [DBCH, "gbcs", "decode", hex_text, "--json"], capture_output=True, text=True
    )
    assert js.returncode == code and json.loads(js.stdout)


def test_a_truncated_message_is_one_line_and_exit_2(rtds: Path) -> None:
    hex_text = (rtds / "DBCH02_6.32_SUCCESS_RESPONSE_GBCS.HEX").read_text().strip()[:200]
    out = subprocess.run([DBCH, "gbcs", "decode", hex_text], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("name", ["DBCH01_6.31_ERROR_RESPONSE", "DBCH02_6.32_ERROR_RESPONSE"])
def test_error_responses_show_their_result_in_text_too(rtds: Path, name: str) -> None:
    # Text mode read keys only a success has (KeyError: 'masked_band', 'entries').
    hex_text = (rtds / f"{name}_GBCS.HEX").read_text().strip()
    out = subprocess.run([DBCH, "gbcs", "decode", hex_text], capture_output=True, text=True)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 1, out.stderr  # the hub refused: a result, not a failure to read
    assert f"{name[:6]} error response: data-access-result" in out.stdout
