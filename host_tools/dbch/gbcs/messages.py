"""GBCS messages of the DBCH use cases, every one decoded: commands, responses, error
responses and alerts (DBCH01-11), as SmartDCC's gbcs-parser reads them.

A message is (docs/reference.md §4; gbcs-parser `src/parser.ts`, the RTDS 4.5.0 vectors):

- optionally a MAC header: General Ciphering (0xDD, 7 octets), the ciphered service length,
  a 5-octet security header, then the grouping below, then a 12-octet MAC (kept, not
  verified: this tool holds no GBCS keys);
- a General Signing grouping header (0xDF 0x09): the CRA flag (1 command, 2 response, 3
  alert), the originator counter (8 octets), originator and recipient system titles (EUI-64
  each, length-prefixed), a date-time (an octet-string, usually absent), other information
  (the message code, then for commands and responses the supplementary remote party id and
  counter), the content, and a signature (length-prefixed; empty here);
- the content, a DLMS APDU: Access-Request (0xD9: Get, Set, Action or Get-with-selection
  per COSEM attribute, then the data), Access-Response (0xDA: the data, then one result per
  attribute) or Data-Notification (0x0F: an alert as (code, date-time, payload)).

`decode()` returns plain data (JSON-ready): the header, the use case and its name, the
request or the results, and what the payload means in DUIS names. A message that cannot be
read raises DlmsError naming the byte offset; one that reads but carries a problem (an
error result, a configuration DUIS or the SEC does not allow) lists it under `problems`.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from typing import Any

from dbch.gbcs import channel_plan as plan
from dbch.gbcs.alerts import alert_name
from dbch.gbcs.dlms import DlmsError
from dbch.gbcs.subghz_config import FIELDS, SubGhzConfig

GENERAL_CIPHERING, GENERAL_SIGNING = 0xDD, 0xDF
ACCESS_REQUEST, ACCESS_RESPONSE, DATA_NOTIFICATION = 0xD9, 0xDA, 0x0F
CRA_FLAGS = {1: "Command", 2: "Response", 3: "Alert"}  # as DUIS's CRAFlag spells them

# GBCS message codes of the DBCH use cases and their names (gbcs-parser `src/util.ts`).
USE_CASES: dict[int, tuple[str, str]] = {
    0x010A: ("DBCH01", "Read CHF Sub GHz Channel"),
    0x010B: ("DBCH02", "Read CHF Sub GHz Channel Log"),
    0x010C: ("DBCH03", "Read CHF Sub GHz Configuration"),
    0x010D: ("DBCH04", "Set CHF Sub GHz Configuration"),
    0x010E: ("DBCH05", "Request CHF Sub GHz Channel Scan"),
    0x0110: ("DBCH06", "Limited Duty Cycle Action Taken Sub GHz Alert"),
    0x0111: ("DBCH07", "Sub GHz Channel Changed Sub GHz Alert"),
    0x0112: ("DBCH08", "Sub GHz Channel Scan Request Assessment Outcome Sub GHz Alert"),
    0x0113: ("DBCH09", "Sub GHz Configuration Changed Sub GHz Alert"),
    0x0114: ("DBCH10", "Message Discarded Due to Duty Cycle Management Sub GHz Alert"),
    0x0115: ("DBCH11", "No More Sub GHz Device Capacity Sub GHz Alert"),
}
# The DUIS service reference of each use case that has a request (the DUIS templates).
SERVICE_REFERENCES = {
    "DBCH01": "6.31",
    "DBCH02": "6.32",
    "DBCH03": "6.30",
    "DBCH04": "6.28",
    "DBCH05": "6.29",
}
# COSEM objects the DBCH messages address (OBIS 0-0:94.44.10.x; gbcs-parser `src/dlms.ts`).
OBJECTS = {
    "0-0:94.44.10.0": "Sub GHz Configuration Settings",
    "0-0:94.44.10.1": "CHF Sub GHz Channel Scan",
    "0-0:94.44.10.2": "Operating Sub GHz Channel",
    "0-0:94.44.10.3": "CHF Sub GHz Channel Log",
}
ACCESS_KINDS = {1: "get", 2: "set", 3: "action", 4: "get-with-selection"}

# DLMS/COSEM Data-Access-Result (IEC 62056-5-3, the ASN.1 type of that name), the values a
# Get/Set-Response carries per attribute (docs/reference.md §4).
DATA_ACCESS_RESULTS = {
    0: "success",
    1: "hardware-fault",
    2: "temporary-failure",
    3: "read-write-denied",
    4: "object-undefined",
    9: "object-class-inconsistent",
    11: "object-unavailable",
    12: "type-unmatched",
    13: "scope-of-access-violated",
    14: "data-block-unavailable",
    15: "long-get-aborted",
    16: "no-long-get-in-progress",
    17: "long-set-aborted",
    18: "no-long-set-in-progress",
    19: "data-block-number-invalid",
    250: "other-reason",
}

# DUIS 5.4 enumerations the alerts carry as one octet (docs/reference.md §4). The schema
# gives names, not numbers: the octet is read as the index in the schema's order. For the
# scan trigger this is very likely right: the DBCH02 vector's log entries carry it after
# each channel word and its values run through exactly 0-7, the eight the schema lists;
# for the status code only 0 is seen (RTDS DBCH08), so the rest is unverified.
SCAN_TRIGGERS = (
    "RemotePartyCommand",
    "GSMERequest",
    "GSMEMissedItsCurfew",
    "GSMEMissingForTheLastDay",
    "CHDetectedMessageFailureProblems",
    "CHDetectedMessageRetryProblems",
    "SubGHzNon-GSMEDeviceRequest",
    "SMHANFormation",
)
SCAN_STATUS_CODES = (
    "ScanRequestAccepted",
    "HHTConnected",
    "DutyCycleUsageIsTooHigh",
    "JoiningIsCurrentlyPermitted",
    "GSMEOTADistributionUnderway",
    "TooManyScansToday",
    "TooManyCommandsToday",
    "TooManyScansThisWeek",
)

# A-XDR data tags (DLMS Green Book) the DBCH messages use.
NULL_DATA, ARRAY, STRUCTURE, BIT_STRING, DOUBLE_LONG_UNSIGNED = 0x00, 0x01, 0x02, 0x04, 0x06
OCTET_STRING, INTEGER, UNSIGNED, LONG_UNSIGNED = 0x09, 0x0F, 0x11, 0x12
COMPACT_ARRAY, ENUM = 0x13, 0x16
_FIXED = {
    DOUBLE_LONG_UNSIGNED: ">I",
    INTEGER: ">b",
    UNSIGNED: ">B",
    LONG_UNSIGNED: ">H",
    ENUM: ">B",
}


def data_access_result_name(code: int) -> str:
    return DATA_ACCESS_RESULTS.get(code, f"unknown ({code})")


def eui(octets: bytes) -> str:
    """An EUI-64 as DUIS writes it: 00-DB-12-34-56-78-90-A2."""
    return "-".join(f"{b:02X}" for b in octets)


def enum_name(names: tuple[str, ...], value: int) -> str:
    return names[value] if 0 <= value < len(names) else f"unknown ({value})"


class _Reader:
    """A-XDR reading over the whole message, so every error names its byte offset."""

    def __init__(self, data: bytes, at: int = 0, end: int | None = None):
        self.data, self.at = data, at
        self.end = len(data) if end is None else end

    def take(self, n: int, what: str) -> bytes:
        if self.at + n > self.end:
            raise DlmsError(f"truncated at byte {self.at} reading {what}")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def length(self, what: str) -> int:
        """An A-XDR length: one octet below 0x80, else 0x8N and N octets."""
        first = self.byte(what)
        if first < 0x80:
            return first
        return int.from_bytes(self.take(first & 0x7F, what), "big")

    def counted(self, what: str) -> bytes:
        return self.take(self.length(what), what)

    def sub(self, n: int, what: str) -> _Reader:
        """A reader over the next n octets (a length-prefixed part), skipped here."""
        start = self.at
        self.take(n, what)
        return _Reader(self.data, start, start + n)

    def data_item(self, tag: int | None = None) -> Any:
        """One A-XDR value (its tag read here unless given: compact-array contents)."""
        at = self.at
        tag = self.byte("a data tag") if tag is None else tag
        if tag == NULL_DATA:  # what an error response carries instead of data
            return None
        if tag in _FIXED:
            fmt = _FIXED[tag]
            return struct.unpack(fmt, self.take(struct.calcsize(fmt), f"tag {tag:02X}"))[0]
        if tag == OCTET_STRING:
            return self.counted("an octet-string")
        if tag == BIT_STRING:
            bits = self.length("a bit-string")
            return int.from_bytes(self.take((bits + 7) // 8, "a bit-string"), "big")
        if tag in (ARRAY, STRUCTURE):
            return [self.data_item() for _ in range(self.length("an array"))]
        if tag == COMPACT_ARRAY:
            return self._compact_array()
        raise DlmsError(f"byte {at}: A-XDR tag {tag:02X} is not one the DBCH messages use")

    def _compact_array(self) -> list[Any]:
        """compact-array: a type description (here: a structure of simple types), then the
        contents as those types without their tags, all of them length-prefixed."""
        if self.byte("a compact-array type") != STRUCTURE:
            raise DlmsError(f"byte {self.at - 1}: compact-array of other than structures")
        types = [self.byte("a compact-array element type") for _ in range(self.byte("count"))]
        end = self.length("compact-array contents") + self.at
        rows = []
        while self.at < end:
            rows.append([self.data_item(t) for t in types])
        if self.at != end:
            raise DlmsError(f"byte {self.at}: compact-array contents overrun their length")
        return rows

    def done(self, what: str) -> None:
        if self.at != self.end:
            raise DlmsError(f"byte {self.at}: {self.end - self.at} octets left over after {what}")


# --- the envelope ---------------------------------------------------------------------------
@dataclass
class Envelope:
    header: dict[str, Any]  # as JSON: CRA flag, counters, system titles, message code ...
    message_code: int
    cra_flag: int
    content: _Reader  # the DLMS APDU


def envelope(payload: bytes) -> Envelope:
    """The MAC header (if any) and the General Signing grouping header of a message."""
    r = _Reader(payload)
    header: dict[str, Any] = {}
    mac_end = None
    if payload[:1] == bytes((GENERAL_CIPHERING,)):
        r.take(7, "the General Ciphering header")
        service = r.sub(r.length("the ciphered service length"), "the ciphered service")
        if service.end - service.at < 5 + 12:
            raise DlmsError(f"byte {service.at}: the ciphered service is too short")
        header["mac_header"] = True
        header["security_header"] = service.take(5, "the security header").hex().upper()
        mac_end = service.end
        r = _Reader(payload, service.at, service.end - 12)
        header["mac"] = payload[mac_end - 12 : mac_end].hex().upper()
        header["mac_verified"] = False  # no GBCS keys here: not a real check
    elif payload[:1] != bytes((GENERAL_SIGNING,)):
        raise DlmsError(
            f"byte 0: {payload[:1].hex().upper() or 'nothing'} is neither General Ciphering "
            "(DD) nor General Signing (DF)"
        )
    if r.take(2, "the General Signing header") != b"\xdf\x09":
        raise DlmsError(f"byte {r.at - 2}: expected the General Signing header DF 09")
    cra = r.byte("the CRA flag")
    if cra not in CRA_FLAGS:
        raise DlmsError(f"byte {r.at - 1}: CRA flag {cra} is not 1, 2 or 3")
    header["cra_flag"] = CRA_FLAGS[cra]
    header["originator_counter"] = int.from_bytes(r.take(8, "the originator counter"), "big")
    for who in ("originator", "recipient"):
        title = r.counted(f"the {who} system title")
        header[who] = eui(title)
    dt = r.counted("the date-time")
    header["date_time"] = date_time(dt) if dt else None
    other = r.sub(r.length("the other information"), "the other information")
    code = int.from_bytes(other.take(2, "the message code"), "big")
    header["message_code"] = f"{code:04X}"
    if other.end - other.at >= 8:
        header["supplementary_remote_party_id"] = eui(other.take(8, "a remote party id"))
    if other.end - other.at >= 8:
        header["supplementary_remote_party_counter"] = int.from_bytes(
            other.take(8, "a remote party counter"), "big"
        )
    content = r.sub(r.length("the content length"), "the content")
    if r.at < r.end:
        header["signature"] = r.counted("the signature").hex().upper() or None
    r.done("the signature")
    if mac_end is not None and mac_end != len(payload):
        raise DlmsError(f"byte {mac_end}: {len(payload) - mac_end} octets after the MAC")
    return Envelope(header, code, cra, content)


# --- the APDUs --------------------------------------------------------------------------------
def _obis(octets: bytes) -> str:
    a, b, c, d, e, f = octets
    return f"{a}-{b}:{c}.{d}.{e}" + ("" if f == 255 else f".{f}")


def _plain(item: Any) -> Any:
    """Data as JSON holds it: octets as hex text (an OBIS name as 0-0:94.44.100.255)."""
    if isinstance(item, bytes):
        return _obis(item) if len(item) == 6 else item.hex().upper()
    if isinstance(item, list):
        return [_plain(x) for x in item]
    return item


def _attribute(r: _Reader) -> dict[str, Any]:
    class_id = int.from_bytes(r.take(2, "a COSEM class id"), "big")
    obis = _obis(r.take(6, "a COSEM instance id"))
    return {
        "class_id": class_id,
        "object": obis,
        "object_name": OBJECTS.get(obis, "unknown"),
        "attribute": r.byte("a COSEM attribute id"),
    }


def _apdu_header(r: _Reader, tag: int) -> None:
    """The APDU tag, its long-invoke-id-and-priority, and its date-time (absent: 00)."""
    if r.byte("the APDU tag") != tag:
        raise DlmsError(f"byte {r.at - 1}: APDU tag is not {tag:02X}")
    r.take(4, "the long-invoke-id-and-priority")
    r.counted("the APDU date-time")


def _access_kind(r: _Reader, what: str) -> int:
    """A Get/Set/Action/Get-with-selection choice, refused by byte when it is none."""
    kind = r.byte(what)
    if kind not in ACCESS_KINDS:
        raise DlmsError(f"byte {r.at - 1}: {what} {kind} is not one GBCS uses")
    return kind


def access_request(r: _Reader) -> dict[str, Any]:
    _apdu_header(r, ACCESS_REQUEST)
    requests = []
    for _ in range(r.length("the access request list")):
        kind = _access_kind(r, "access request kind")
        item = {"access": ACCESS_KINDS[kind], **_attribute(r)}
        if kind == 4:  # selective access: a selector, then its parameters
            item["selector"] = r.byte("an access selector")
            item["selection"] = _plain(r.data_item())
        requests.append(item)
    data = [_plain(r.data_item()) for _ in range(r.length("the data list"))]
    r.done("the access request")
    return {"apdu": "access-request", "requests": requests, "data": data}


def access_response(r: _Reader) -> dict[str, Any]:
    _apdu_header(r, ACCESS_RESPONSE)
    if r.byte("the access request specification") != 0:
        raise DlmsError(f"byte {r.at - 1}: an access-response repeating its request")
    data = [r.data_item() for _ in range(r.length("the data list"))]
    results = []
    for _ in range(r.length("the result list")):
        kind = _access_kind(r, "response kind")
        code = r.byte("a data-access-result")
        results.append(
            {"access": ACCESS_KINDS[kind], "result": code, "name": data_access_result_name(code)}
        )
    r.done("the access response")
    ok = bool(results) and all(x["result"] == 0 for x in results)
    return {
        "apdu": "access-response",
        "result": "success" if ok else "error",
        "results": results,
        "data": data,
    }


def data_notification(r: _Reader) -> dict[str, Any]:
    _apdu_header(r, DATA_NOTIFICATION)
    at = r.at
    body = r.data_item()
    r.done("the data notification")
    if not isinstance(body, list) or len(body) < 2 or not isinstance(body[0], int):
        raise DlmsError(f"byte {at}: the notification is not (alert code, date-time, ...)")
    return {
        "apdu": "data-notification",
        "alert_code": body[0],
        "alert_name": alert_name(body[0]),
        "date_time": date_time(body[1]) if isinstance(body[1], bytes) else None,
        "body": body[2:],
    }


# --- what each use case's data means ---------------------------------------------------------
def channel(word: int) -> dict[str, Any]:
    """An operating-channel word as people read it (page 31 flagged: masked since 2018)."""
    ch = plan.decode_operating_word(word)
    return {
        "word": f"{word:08X}",
        "page": ch.page,
        "channel": ch.number,
        "freq_hz": ch.freq_hz,
        "masked_band": ch.masked_band,
    }


def configuration(item: Any, out: dict[str, Any], key: str = "configuration") -> None:
    """A 15-field Sub GHz configuration (a DLMS structure) and its problems."""
    if not isinstance(item, list) or len(item) != len(FIELDS):
        raise DlmsError(f"{key}: not a structure of {len(FIELDS)} fields")
    cfg = SubGhzConfig.from_values(item)
    out[key] = cfg.as_dict()
    out["problems"] = out.get("problems", []) + cfg.problems()


def log_entries(rows: Any) -> list[dict[str, Any]]:
    """DBCH02: (time, alert code, octets) rows, the octets a channel word and the trigger
    encoded as in the 0x8F26 alert (09 01 NN: an octet-string of one octet)."""
    if not isinstance(rows, list):
        raise DlmsError("DBCH02: the response holds no log")
    entries = []
    for row in rows:
        if len(row) != 3 or not isinstance(row[2], bytes) or len(row[2]) < 4:
            raise DlmsError(f"DBCH02: a log entry of unexpected shape: {row!r}")
        time, code, entry = row
        item: dict[str, Any] = {
            "time": time,
            "time_utc": gbcs_time(time),
            "code": code,
            "alert": alert_name(code),
            **channel(int.from_bytes(entry[:4], "big")),
        }
        rest = entry[4:]
        if len(rest) == 3 and rest[:2] == b"\x09\x01":
            item["ScanTrigger"] = enum_name(SCAN_TRIGGERS, rest[2])
        else:
            item["rest"] = rest.hex().upper()
        entries.append(item)
    return entries


def _one_octet(item: Any, what: str) -> int:
    if not isinstance(item, bytes) or len(item) != 1:
        raise DlmsError(f"{what}: expected one octet, found {item!r}")
    return item[0]


def alert_payload(code: int, body: list[Any], out: dict[str, Any]) -> None:
    """The alert's payload in DUIS names (DUIS 5.4, complexType DualBandCHAlert)."""
    if not body:
        return
    item = body[0]
    if code == 0x8F20 and isinstance(item, bytes) and len(item) == 8:
        out["payload"] = {"LimitedDutyCycleActionTaken": {"DeviceIDToSuspend": eui(item)}}
    elif code == 0x8F26 and isinstance(item, list) and len(item) == 2:
        out["payload"] = {
            "SubGHzChannelChanged": {
                "OperatingSubGHzChannel": channel(item[0]),
                "ScanTrigger": enum_name(SCAN_TRIGGERS, _one_octet(item[1], "ScanTrigger")),
            }
        }
    elif code == 0x8F28 and isinstance(item, list) and len(item) == 2:
        out["payload"] = {
            "SubGHzChannelScanRequestAssessmentOutcome": {
                "StatusCode": enum_name(SCAN_STATUS_CODES, _one_octet(item[0], "StatusCode")),
                "ScanTrigger": enum_name(SCAN_TRIGGERS, _one_octet(item[1], "ScanTrigger")),
            }
        }
    elif code == 0x8F2A:
        configuration(item, out)
    elif code == 0x8F2C and isinstance(item, bytes) and len(item) == 25:
        # The discarded message's request id (originator, target, counter) and CRA flag,
        # in GBCS order: originator (8), target (8), CRA flag (1), counter (8).
        counter = int.from_bytes(item[17:], "big")
        out["payload"] = {
            "MessageDiscardedDueToDutyCycleManagement": {
                "RequestID": f"{eui(item[:8])}:{eui(item[8:16])}:{counter}",
                "CRAFlag": CRA_FLAGS.get(item[16], f"unknown ({item[16]})"),
            }
        }
    elif code == 0x8F2D and isinstance(item, bytes) and len(item) == 8:
        out["payload"] = {"NoMoreSubGHzDeviceCapacity": {"DeviceID": eui(item)}}
    else:
        out["payload"] = {"unread": [x.hex().upper() if isinstance(x, bytes) else x for x in body]}


def _meaning(use_case: str | None, out: dict[str, Any]) -> None:
    """What the data of a request or response says, by use case."""
    data = out.pop("data", [])
    if out["apdu"] == "access-request":
        if use_case == "DBCH04" and data:
            configuration(data[0], out)
        elif use_case == "DBCH02" and out["requests"]:
            # range selection: (restricting object, from, to, columns); times as sent
            sel = out["requests"][0].get("selection")
            if isinstance(sel, list) and len(sel) >= 3:
                out["log_period"] = {
                    "from": sel[1],
                    "to": sel[2],
                    "from_utc": gbcs_time(sel[1]),
                    "to_utc": gbcs_time(sel[2]),
                }
        elif use_case == "DBCH05" and data:
            out["scan_request"] = data[0]
        return
    if out["result"] != "success":
        out["problems"] = [
            f"{x['access']} refused: data-access-result {x['result']} ({x['name']})"
            for x in out["results"]
            if x["result"] != 0
        ]
        return
    if use_case == "DBCH01" and data and isinstance(data[0], int):
        out["channel"] = channel(data[0])
    elif use_case == "DBCH02" and data:
        out["entries"] = log_entries(data[0])
    elif use_case == "DBCH03" and data:
        configuration(data[0], out)


def decode(payload: bytes) -> dict[str, Any]:
    """A DBCH message, decoded (see the module's doc); DlmsError naming the byte offset when
    it cannot be read."""
    env = envelope(payload)
    use_case, name = USE_CASES.get(env.message_code, (None, "not a DBCH use case"))
    out: dict[str, Any] = {"header": env.header, "use_case": use_case, "name": name}
    if use_case in SERVICE_REFERENCES:
        out["service_reference"] = SERVICE_REFERENCES[use_case]
    tag = env.content.data[env.content.at] if env.content.at < env.content.end else None
    if tag == ACCESS_REQUEST:
        out.update(access_request(env.content))
    elif tag == ACCESS_RESPONSE:
        out.update(access_response(env.content))
    elif tag == DATA_NOTIFICATION:
        note = data_notification(env.content)
        body = note.pop("body")
        out.update(note)
        alert_payload(note["alert_code"], body, out)
        return out
    else:
        shown = f"{tag:02X}" if tag is not None else "nothing"
        raise DlmsError(
            f"byte {env.content.at}: content {shown} is not an Access-Request (D9), "
            "Access-Response (DA) or Data-Notification (0F)"
        )
    try:
        _meaning(use_case, out)
    except plan.ChannelPlanError as e:
        raise DlmsError(f"{use_case}: {e}") from None
    return out


def gbcs_time(seconds: Any) -> str | None:
    """A log time as ISO 8601 UTC, counted from 2000-01-01T00:00:00Z: the RTDS DBCH02
    command asks for 0x1C277880-0x1C367790, the DUIS template's 2014-12-20T00:00Z to
    2014-12-31T09:00Z in that epoch (docs/tables.md)."""
    if not isinstance(seconds, int):
        return None
    when = dt.datetime(2000, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    return when.isoformat().replace("+00:00", "Z")


def problems(decoded: dict[str, Any]) -> list[str]:
    return list(decoded.get("problems", []))


def date_time(octets: bytes) -> str:
    """A DLMS date-time (12 octets: year, month, day, weekday, hour, minute, second,
    hundredths, deviation, clock status) as ISO 8601; fields not specified (0xFF, or
    deviation 0x8000) are left out. Other lengths are shown as hex."""
    if len(octets) != 12:
        return octets.hex().upper()
    year, month, day, _wd, hour, minute, second, _hs, dev, _st = struct.unpack(
        ">HBBBBBBBhB", octets
    )
    text = f"{year:04d}-{month:02d}-{day:02d}"
    if hour != 0xFF:
        text += f"T{hour:02d}:{minute:02d}:{second:02d}"
        if dev != -0x8000:  # minutes local time is behind UTC
            text += (
                "Z"
                if dev == 0
                else f"{'-' if dev > 0 else '+'}{abs(dev) // 60:02d}:{abs(dev) % 60:02d}"
            )
    return text
