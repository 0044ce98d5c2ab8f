"""GBCS messages of the DBCH use cases, decoded: DBCH01 (the operating channel), DBCH02 (the
channel change log), DBCH03 / DBCH04 (the Sub GHz configuration) and alerts that carry a
DLMS payload (e.g. 0x8F2A with the configuration now in force, DBCH09).

A signed GBCS message (GBCS 4.x; the RTDS vectors of SmartDCC's gbcs-parser, test data
named in tests/test_gbcs_messages.py) wraps its DLMS APDU in a General Signing block (tag
0xDF): transaction id, originator and recipient system titles, date-time, other
information (whose first two octets are the GBCS message code) and the content, each
length-prefixed. The content is a DLMS Access-Response (0xDA) for DBCH01-03 and a
Data-Notification (0x0F) for an alert. Only the A-XDR types these messages use are read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from dbch.gbcs import channel_plan as plan
from dbch.gbcs.alerts import alert_name
from dbch.gbcs.dlms import DlmsError

GENERAL_SIGNING = 0xDF
ACCESS_RESPONSE = 0xDA
DATA_NOTIFICATION = 0x0F
# GBCS message codes (GBCS, the DBCH use cases), as in the "other information" field.
USE_CASES = {0x010A: "DBCH01", 0x010B: "DBCH02", 0x010C: "DBCH03", 0x010D: "DBCH04"}

# A-XDR data tags (DLMS Green Book) the DBCH messages use.
NULL_DATA, ARRAY, STRUCTURE, BIT_STRING, DOUBLE_LONG_UNSIGNED = 0x00, 0x01, 0x02, 0x04, 0x06
OCTET_STRING, UNSIGNED, LONG_UNSIGNED, COMPACT_ARRAY, ENUM = 0x09, 0x11, 0x12, 0x13, 0x16
_FIXED = {DOUBLE_LONG_UNSIGNED: ">I", UNSIGNED: ">B", LONG_UNSIGNED: ">H", ENUM: ">B"}


class _Reader:
    def __init__(self, data: bytes, at: int = 0):
        self.data, self.at = data, at

    def take(self, n: int, what: str) -> bytes:
        if self.at + n > len(self.data):
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


@dataclass
class GbcsMessage:
    message_code: int | None  # the GBCS message code (other information's first octets)
    apdu: int  # the DLMS APDU's tag: 0xDA access-response, 0x0F data-notification
    data: list[Any]  # the APDU's data (the access-response's list, or the notification body)
    results: list[int] = field(default_factory=list)  # access-response results: 0 success

    @property
    def use_case(self) -> str | None:
        return USE_CASES.get(self.message_code or -1)


def parse(payload: bytes) -> GbcsMessage:
    """The DLMS APDU of a signed GBCS message (its General Signing block found in the
    payload), or of a bare APDU."""
    at = payload.find(bytes((GENERAL_SIGNING,)))
    message_code = None
    if at >= 0 and payload[at + 1 : at + 2] == b"\x09":  # transaction id: 9 octets
        r = _Reader(payload, at + 1)
        r.counted("transaction id")
        r.counted("originator system title")
        r.counted("recipient system title")
        r.counted("date-time")
        other = r.counted("other information")
        message_code = int.from_bytes(other[:2], "big") if len(other) >= 2 else None
        content = r.counted("content")
    else:
        content = payload
    return _apdu(content, message_code)


def _apdu(content: bytes, message_code: int | None) -> GbcsMessage:
    r = _Reader(content)
    tag = r.byte("the APDU tag")
    r.take(4, "long-invoke-id-and-priority")
    if r.byte("date-time") not in (0,):
        r.at -= 1
        r.counted("date-time")
    if tag == DATA_NOTIFICATION:
        return GbcsMessage(message_code, tag, [r.data_item()])
    if tag != ACCESS_RESPONSE:
        raise DlmsError(f"APDU tag {tag:02X}: not an access-response (DA) or notification (0F)")
    if r.byte("access-request-specification") != 0:
        raise DlmsError("an access-response repeating its request is not read here")
    data = [r.data_item() for _ in range(r.length("the data list"))]
    results = []
    for _ in range(r.length("the result list")):
        r.byte("a response kind")
        results.append(r.byte("a result"))
    return GbcsMessage(message_code, tag, data, results)


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


# DLMS/COSEM Data-Access-Result (IEC 62056-5-3, the ASN.1 type of that name), the values a
# Get/Set-Response carries per attribute; as listed in public decoders, e.g.
# https://github.com/cjhdev/dlms_trouble/blob/master/lib/dlms_trouble/data_access_result.rb
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


def data_access_result_name(code: int) -> str:
    return DATA_ACCESS_RESULTS.get(code, f"unknown ({code})")


def _error(msg: GbcsMessage) -> dict[str, Any] | None:
    """An error response (a non-zero data-access-result, null data), as its use case and
    the results (numbers, and their names); None for a success."""
    if _result(msg) == "success":
        return None
    return {
        "use_case": msg.use_case,
        "result": "error",
        "data_access_results": msg.results,
        "data_access_result_names": [data_access_result_name(r) for r in msg.results],
    }


def dbch01(msg: GbcsMessage) -> dict[str, Any]:
    """DBCH01 Read CHF Sub GHz Channel: the operating channel (a 32-bit channel word)."""
    failed = _error(msg)
    if failed is not None:
        return failed
    if not msg.data or not isinstance(msg.data[0], int):
        raise DlmsError("DBCH01: the response holds no channel word")
    return {"use_case": "DBCH01", "result": "success", **channel(msg.data[0])}


def dbch02(msg: GbcsMessage) -> dict[str, Any]:
    """DBCH02 Read CHF Sub GHz Channel Log: a compact array of (time, alert code, entry),
    the entry a channel word followed by further octets (kept as hex: in the RTDS vector
    they are 09 01 NN, NN the index of the word's set bit; no text we have read says what
    they are). The time is kept as the number sent: no text we have read gives its epoch."""
    failed = _error(msg)
    if failed is not None:
        return failed
    if not msg.data or not isinstance(msg.data[0], list):
        raise DlmsError("DBCH02: the response holds no log")
    entries = []
    for row in msg.data[0]:
        if len(row) != 3 or not isinstance(row[2], bytes) or len(row[2]) < 4:
            raise DlmsError(f"DBCH02: a log entry of unexpected shape: {row!r}")
        time, code, entry = row
        entries.append(
            {
                "time": time,  # seconds; the epoch is not given by any text we have seen
                "code": code,
                "alert": alert_name(code),
                **channel(int.from_bytes(entry[:4], "big")),
                "rest": entry[4:].hex().upper(),
            }
        )
    return {"use_case": "DBCH02", "result": "success", "entries": entries}


def alert(msg: GbcsMessage, payload: bytes) -> dict[str, Any]:
    """An alert as a Data-Notification: structure (alert code, date-time, payload); a
    payload that is the 15-field Sub GHz configuration (0x8F2A, configuration changed) is
    decoded with its types checked (dlms.find) and its problems listed."""
    from dbch.gbcs import dlms

    body = msg.data[0] if msg.data else None
    if not isinstance(body, list) or len(body) < 2 or not isinstance(body[0], int):
        raise DlmsError("alert: the notification body is not (code, date-time, ...)")
    out: dict[str, Any] = {"alert_code": body[0], "name": alert_name(body[0])}
    if isinstance(body[1], bytes):
        out["date_time"] = date_time(body[1])
    if len(body) > 2 and isinstance(body[2], list) and len(body[2]) == len(dlms.FIELDS):
        _, cfg = dlms.find(payload)
        out["configuration"] = cfg.as_dict()
        out["problems"] = cfg.problems()
    elif len(body) > 2:
        out["payload"] = body[2:]
    return out


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


def _result(msg: GbcsMessage) -> str:
    return "success" if msg.results and all(r == 0 for r in msg.results) else "error"


def decode(payload: bytes) -> dict[str, Any]:
    """A DBCH01 or DBCH02 response, or an alert, decoded; DlmsError if it is none of them."""
    msg = parse(payload)
    if msg.apdu == DATA_NOTIFICATION:
        return alert(msg, payload)
    if msg.use_case == "DBCH01":
        return dbch01(msg)
    if msg.use_case == "DBCH02":
        return dbch02(msg)
    raise DlmsError(f"message code {msg.message_code!r}: not DBCH01, DBCH02 or an alert")
