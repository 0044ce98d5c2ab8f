"""Every DBCH GBCS message decoded (dbch.gbcs.messages, `dbch gbcs decode`), held against
SmartDCC's public RTDS 4.5.0 vectors read from ../shared/dcc/rtds (its README names their
source and commit; the `dcc` fixture skips where that folder is absent). The expected
values below are written by hand from the vectors as SmartDCC's gbcs-parser reads them
(its `src/parser.ts` and `src/dlms.ts`: the MAC header, the General Signing header, the
DLMS APDUs) and from the DUIS 5.4 schema's names for the alert payloads."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from dbch.gbcs import dlms, messages
from dbch.gbcs.alerts import alert_name

DBCH = str(Path(sys.executable).parent / "dbch")
HUB = "00-DB-12-34-56-78-90-A2"  # the CHF the vectors address
SUPPLIER = "90-B3-D5-1F-30-00-00-02"  # the remote party's system title
REMOTE = "90-B3-D5-1F-30-01-00-00"  # the supplementary remote party id
OPERATING = "0-0:94.44.10.2"
SETTINGS = "0-0:94.44.10.0"
SCAN = "0-0:94.44.10.1"
LOG = "0-0:94.44.10.3"

# name -> (use case, CRA flag, originator counter, APDU, what it addresses or its result)
VECTORS: dict[str, tuple[str, str, int, str, object]] = {
    "DBCH01_6.31_SUCCESS_COMMAND": (
        "DBCH01",
        "Command",
        1300,
        "access-request",
        ("get", OPERATING),
    ),
    "DBCH01_6.31_SUCCESS_RESPONSE": ("DBCH01", "Response", 1300, "access-response", ("get", 0)),
    "DBCH01_6.31_ERROR_COMMAND": ("DBCH01", "Command", 1302, "access-request", ("get", OPERATING)),
    "DBCH01_6.31_ERROR_RESPONSE": ("DBCH01", "Response", 1302, "access-response", ("get", 1)),
    "DBCH02_6.32_SUCCESS_COMMAND": (
        "DBCH02",
        "Command",
        1301,
        "access-request",
        ("get-with-selection", LOG),
    ),
    "DBCH02_6.32_SUCCESS_RESPONSE": ("DBCH02", "Response", 1301, "access-response", ("get", 0)),
    "DBCH02_6.32_ERROR_COMMAND": (
        "DBCH02",
        "Command",
        1302,
        "access-request",
        ("get-with-selection", LOG),
    ),
    "DBCH02_6.32_ERROR_RESPONSE": ("DBCH02", "Response", 1302, "access-response", ("get", 1)),
    "DBCH03_6.30_SUCCESS_COMMAND": (
        "DBCH03",
        "Command",
        1300,
        "access-request",
        ("get", SETTINGS),
    ),
    "DBCH03_6.30_SUCCESS_RESPONSE": ("DBCH03", "Response", 1300, "access-response", ("get", 0)),
    "DBCH03_6.30_ERROR_COMMAND": ("DBCH03", "Command", 1302, "access-request", ("get", SETTINGS)),
    "DBCH03_6.30_ERROR_RESPONSE": ("DBCH03", "Response", 1302, "access-response", ("get", 1)),
    "DBCH04_6.28_SUCCESS_COMMAND": (
        "DBCH04",
        "Command",
        1300,
        "access-request",
        ("set", SETTINGS),
    ),
    "DBCH04_6.28_SUCCESS_RESPONSE": ("DBCH04", "Response", 1300, "access-response", ("set", 0)),
    "DBCH04_6.28_ERROR_COMMAND": ("DBCH04", "Command", 1301, "access-request", ("set", SETTINGS)),
    "DBCH04_6.28_ERROR_RESPONSE": ("DBCH04", "Response", 1301, "access-response", ("set", 1)),
    "DBCH05_6.29_SUCCESS_COMMAND": ("DBCH05", "Command", 1300, "access-request", ("set", SCAN)),
    "DBCH05_6.29_SUCCESS_RESPONSE": ("DBCH05", "Response", 1300, "access-response", ("set", 0)),
    "DBCH05_6.29_ERROR_COMMAND": ("DBCH05", "Command", 1302, "access-request", ("set", SCAN)),
    "DBCH05_6.29_ERROR_RESPONSE": ("DBCH05", "Response", 1302, "access-response", ("set", 1)),
    "DBCH04_6.28_NA_SUCCESS_ALERT_DBCH09": ("DBCH09", "Alert", 4000, "data-notification", 0x8F2A),
    "DBCH06_NA_8F20_ALERT": ("DBCH06", "Alert", 4000, "data-notification", 0x8F20),
    "DBCH07_NA_8F26_ALERT": ("DBCH07", "Alert", 4000, "data-notification", 0x8F26),
    "DBCH08_NA_8F28_ALERT": ("DBCH08", "Alert", 4000, "data-notification", 0x8F28),
    "DBCH10_NA_8F2C_ALERT": ("DBCH10", "Alert", 4000, "data-notification", 0x8F2C),
    "DBCH11_NA_8F2D_ALERT": ("DBCH11", "Alert", 4000, "data-notification", 0x8F2D),
}
# GBCS message codes (gbcs-parser `src/util.ts`): 0x010F between them is CCS06, not DBCH.
MESSAGE_CODES = {
    **{f"DBCH0{n}": 0x0109 + n for n in range(1, 6)},
    **{f"DBCH{n:02d}": 0x010A + n for n in range(6, 12)},
}


@pytest.fixture
def rtds(dcc: Path) -> Path:
    return dcc / "rtds"


@pytest.fixture
def vector(rtds: Path) -> Callable[[str], bytes]:
    return lambda name: dlms.parse_hex((rtds / f"{name}_GBCS.HEX").read_text())


def test_the_26_vectors_are_all_here(rtds: Path) -> None:
    assert sorted(p.name[:-9] for p in rtds.glob("*_GBCS.HEX")) == sorted(VECTORS)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_every_vector_decodes_with_its_use_case_header_and_apdu(
    vector: Callable[[str], bytes], name: str
) -> None:
    use_case, cra, counter, apdu, what = VECTORS[name]
    got = messages.decode(vector(name))
    h = got["header"]
    assert (got["use_case"], h["cra_flag"], h["originator_counter"], got["apdu"]) == (
        use_case,
        cra,
        counter,
        apdu,
    )
    assert h["message_code"] == f"{MESSAGE_CODES[use_case]:04X}"
    assert got["name"] == messages.USE_CASES[MESSAGE_CODES[use_case]][1]
    assert h["mac_header"] and len(h["mac"]) == 24 and h["mac_verified"] is False
    # commands go from the supplier to the hub; responses and alerts come back
    if cra == "Command":
        assert (h["originator"], h["recipient"]) == (SUPPLIER, HUB)
    else:
        assert (h["originator"], h["recipient"]) == (HUB, SUPPLIER)
    if cra != "Alert":  # commands and responses carry the remote party and its counter
        assert h["supplementary_remote_party_id"] == REMOTE
        assert h["supplementary_remote_party_counter"] == counter - 300
        assert got["service_reference"] == messages.SERVICE_REFERENCES[use_case]
    if apdu == "access-request":
        access, obj = what  # type: ignore[misc]
        (req,) = got["requests"]
        assert (req["access"], req["object"], req["attribute"]) == (access, obj, 2)
        assert req["object_name"] == messages.OBJECTS[obj]
    elif apdu == "access-response":
        access, result = what  # type: ignore[misc]
        (res,) = got["results"]
        assert (res["access"], res["result"]) == (access, result)
        assert got["result"] == ("success" if result == 0 else "error")
        if result:
            assert res["name"] == "hardware-fault"
            assert got["problems"] == [f"{access} refused: data-access-result 1 (hardware-fault)"]
    else:
        assert got["alert_code"] == what and got["alert_name"] == alert_name(what)  # type: ignore[arg-type]
        assert got["date_time"] == "2015-01-01T00:00:00"


def test_dbch01_response_is_the_operating_channel(vector: Callable[[str], bytes]) -> None:
    got = messages.decode(vector("DBCH01_6.31_SUCCESS_RESPONSE"))
    assert got["channel"] == {
        "word": "E0000001",
        "page": 28,
        "channel": 0,
        "freq_hz": 863_250_000,
        "masked_band": False,
    }


def test_dbch02_command_asks_for_a_period_of_the_log(vector: Callable[[str], bytes]) -> None:
    got = messages.decode(vector("DBCH02_6.32_SUCCESS_COMMAND"))
    (req,) = got["requests"]
    assert req["selector"] == 1  # range descriptor
    assert req["selection"][0] == [1, "0-0:94.44.100", 2, 0]  # restricting object
    # seconds from 2000-01-01Z: exactly the DUIS DBCH02 template's ReadLogPeriod
    assert got["log_period"] == {
        "from": 0x1C277880,
        "to": 0x1C367790,
        "from_utc": "2014-12-20T00:00:00Z",
        "to_utc": "2014-12-31T09:00:00Z",
    }


def test_dbch02_response_is_the_channel_change_log_with_its_triggers(
    vector: Callable[[str], bytes],
) -> None:
    entries = messages.decode(vector("DBCH02_6.32_SUCCESS_RESPONSE"))["entries"]
    assert len(entries) == 11
    assert {e["code"] for e in entries} == {0x8F26}
    # The vector walks pages 28, 29, 30, 31 with one bit set each, the bit moving on; the
    # octet after each word runs 0-7, read as the DUIS ScanTrigger in the schema's order.
    assert [e["page"] for e in entries] == [28, 29, 30, 31] * 2 + [28, 29, 30]
    assert [e["ScanTrigger"] for e in entries] == [
        *messages.SCAN_TRIGGERS,
        "RemotePartyCommand",
        "GSMERequest",
        "GSMEMissedItsCurfew",
    ]
    times = [e["time"] for e in entries]
    assert times == sorted(times) and times[0] == 0x1C277880
    assert entries[0]["time_utc"] == "2014-12-20T00:00:00Z"
    assert [e["masked_band"] for e in entries] == [e["page"] == 31 for e in entries]


def test_dbch03_response_and_dbch04_command_carry_configurations(
    vector: Callable[[str], bytes],
) -> None:
    read = messages.decode(vector("DBCH03_6.30_SUCCESS_RESPONSE"))
    assert read["configuration"]["page31"] == 0xF8000003
    assert read["configuration"]["normal_limited_threshold"] == 125  # 1.25 %
    # A hub's own answer DUIS could not carry: both problems named, in DUIS terms.
    assert any(p.startswith("1.25 % is too precise for NormalLimited") for p in read["problems"])
    assert any(p.startswith("UpperBandSubGHzChannels0To26") for p in read["problems"])
    command = messages.decode(vector("DBCH04_6.28_SUCCESS_COMMAND"))
    alert = messages.decode(vector("DBCH04_6.28_NA_SUCCESS_ALERT_DBCH09"))
    # The configuration the DBCH04 command sets is the one its 0x8F2A alert reports.
    assert command["configuration"] == alert["configuration"]
    assert command["configuration"]["limited_critical_threshold"] == 220
    assert any("UpperBandSubGHzChannels0To26" in p for p in alert["problems"])


def test_dbch05_command_requests_a_scan(vector: Callable[[str], bytes]) -> None:
    assert messages.decode(vector("DBCH05_6.29_SUCCESS_COMMAND"))["scan_request"] == 0


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        (
            "DBCH06_NA_8F20_ALERT",
            {"LimitedDutyCycleActionTaken": {"DeviceIDToSuspend": "00-DB-12-34-56-78-90-A1"}},
        ),
        (
            "DBCH07_NA_8F26_ALERT",
            {
                "SubGHzChannelChanged": {
                    "OperatingSubGHzChannel": {
                        "word": "E0000001",
                        "page": 28,
                        "channel": 0,
                        "freq_hz": 863_250_000,
                        "masked_band": False,
                    },
                    "ScanTrigger": "RemotePartyCommand",
                }
            },
        ),
        (
            "DBCH08_NA_8F28_ALERT",
            {
                "SubGHzChannelScanRequestAssessmentOutcome": {
                    "StatusCode": "ScanRequestAccepted",
                    "ScanTrigger": "RemotePartyCommand",
                }
            },
        ),
        (
            "DBCH10_NA_8F2C_ALERT",
            {
                "MessageDiscardedDueToDutyCycleManagement": {
                    "RequestID": f"{REMOTE}:00-DB-12-34-56-78-90-A0:1000",
                    "CRAFlag": "Command",
                }
            },
        ),
        (
            "DBCH11_NA_8F2D_ALERT",
            {"NoMoreSubGHzDeviceCapacity": {"DeviceID": "00-DB-12-34-56-78-90-A1"}},
        ),
    ],
)
def test_alert_payloads_read_in_duis_names(
    vector: Callable[[str], bytes], name: str, payload: dict
) -> None:
    assert messages.decode(vector(name))["payload"] == payload


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_gbcs_decode_shows_every_vector_in_text_and_json(rtds: Path, name: str) -> None:
    f = rtds / f"{name}_GBCS.HEX"
    expected = 1 if messages.problems(messages.decode(dlms.parse_hex(f.read_text()))) else 0
    for extra in ([], ["--json"]):
        out = subprocess.run(
            [DBCH, "gbcs", "decode", str(f), *extra], capture_output=True, text=True
        )
        assert out.returncode == expected, out.stderr
        assert "Traceback" not in out.stderr
        if extra:
            assert json.loads(out.stdout)["use_case"] == VECTORS[name][0]
        else:
            assert out.stdout.startswith(VECTORS[name][0])


def test_input_is_hex_a_file_or_stdin(rtds: Path, tmp_path: Path) -> None:
    f = rtds / "DBCH07_NA_8F26_ALERT_GBCS.HEX"
    text = f.read_text().strip()
    binary = tmp_path / "alert.bin"
    binary.write_bytes(bytes.fromhex(text))
    outs = [
        subprocess.run([DBCH, "gbcs", "decode", arg, "--json"], capture_output=True, text=True)
        for arg in (text, str(f), str(binary))
    ]
    outs.append(
        subprocess.run(
            [DBCH, "gbcs", "decode", "-", "--json"], input=text, capture_output=True, text=True
        )
    )
    assert all(o.returncode == 0 for o in outs), [o.stderr for o in outs]
    assert len({o.stdout for o in outs}) == 1


def test_truncated_or_garbage_input_is_one_line_naming_the_byte_and_exit_2(rtds: Path) -> None:
    text = (rtds / "DBCH02_6.32_SUCCESS_RESPONSE_GBCS.HEX").read_text().strip()
    for arg, says in (
        (text[:200], "truncated at byte"),
        (text[:-2], "truncated at byte"),
        ("DF09" + "00" * 30, "CRA flag 0 is not 1, 2 or 3"),
        ("DD00000000000010" + "AB" * 16, "byte "),
        (text + "00", "octets after the MAC"),
    ):
        out = subprocess.run([DBCH, "gbcs", "decode", arg], capture_output=True, text=True)
        assert out.returncode == 2, (arg[:40], out)
        assert out.stderr.count("\n") == 1 and says in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_a_dlms_date_time_reads_as_iso() -> None:
    assert (
        messages.date_time(bytes.fromhex("07E80C1FFF173B3A00FFC4FF"))
        == "2024-12-31T23:59:58+01:00"
    )
    assert messages.date_time(bytes.fromhex("07E80601FF0C000000000000")) == "2024-06-01T12:00:00Z"
    assert messages.date_time(b"\x01\x02") == "0102"


# --- composing: the inverse of decoding --------------------------------------------------------
def test_a_composed_response_is_the_rtds_vector_but_for_its_mac(
    vector: Callable[[str], bytes],
) -> None:
    from dbch.gbcs import compose

    real = vector("DBCH01_6.31_SUCCESS_RESPONSE")
    content = compose.access_response(1300, "get", compose.bit_string32(0xE0000001), 0)
    ours = compose.signed("response", 1300, HUB, SUPPLIER, 0x010A, content, REMOTE, 1000)
    assert ours[:-12] == real[:-12]  # every octet but the MAC (zeros here: no GBCS keys)
    assert ours[-12:] == bytes(12)
    alert = vector("DBCH07_NA_8F26_ALERT")
    when = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    note = compose.data_notification(
        4000, 0x8F26, when, compose.channel_changed(0xE0000001, "RemotePartyCommand")
    )
    ours = compose.signed("alert", 4000, HUB, SUPPLIER, 0x0111, note)
    # the same but the date-time's weekday and clock status octets (the vector leaves
    # them unspecified: FF, 00 00 80 00 FF) and the MAC
    assert messages.decode(ours)["payload"] == messages.decode(alert)["payload"]
    assert len(ours) == len(alert)


@pytest.mark.parametrize(
    ("code", "make", "expected"),
    [
        (0x8F20, lambda c: c.octet_string(c.eui_octets(HUB)), {"DeviceIDToSuspend": HUB}),
        (
            0x8F28,
            lambda c: c.scan_assessment("TooManyScansToday", "GSMERequest"),
            {"StatusCode": "TooManyScansToday", "ScanTrigger": "GSMERequest"},
        ),
    ],
)
def test_composed_alerts_decode_to_the_same_fields(code: int, make, expected: dict) -> None:
    from dbch.gbcs import compose

    when = dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)
    note = compose.data_notification(7, code, when, make(compose))
    got = messages.decode(
        compose.signed("alert", 7, HUB, SUPPLIER, compose.ALERT_MESSAGE_CODES[code], note)
    )
    assert got["date_time"] == "2026-12-04T12:00:00Z"
    assert next(iter(got["payload"].values())) == expected
