"""GBCS messages built: the response a hub sends to a DBCH command and the alerts it raises,
in the form `messages.decode` reads (tested as its inverse, and against the RTDS vectors'
layout: docs/reference.md §4).

What is not real: the MAC header's 12-octet MAC is zeros (this tool holds no GBCS keys, so
no receiver can verify it) and the signature is empty, as in the RTDS responses. Times in
the channel log are seconds since 2000-01-01T00:00:00Z: the RTDS DBCH02 command asks for
0x1C277880-0x1C367790, exactly the DUIS template's 2014-12-20T00:00Z-2014-12-31T09:00Z in
that epoch.
"""

from __future__ import annotations

import datetime as dt
import struct

from dbch.gbcs import dlms
from dbch.gbcs.messages import (
    ACCESS_KINDS,
    ACCESS_RESPONSE,
    CRA_FLAGS,
    DATA_NOTIFICATION,
    GENERAL_CIPHERING,
    SCAN_STATUS_CODES,
    SCAN_TRIGGERS,
)
from dbch.gbcs.subghz_config import SubGhzConfig

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # GBCS log times count from here
# the inverse of the decoder's tables: one definition of each code
ACCESS = {name: code for code, name in ACCESS_KINDS.items()}
CRA = {name.lower(): code for code, name in CRA_FLAGS.items()}
# The GBCS message code of each DBCH alert (gbcs-parser `src/util.ts`).
ALERT_MESSAGE_CODES = {
    0x8F20: 0x0110,
    0x8F26: 0x0111,
    0x8F28: 0x0112,
    0x8F2A: 0x0113,
    0x8F2C: 0x0114,
    0x8F2D: 0x0115,
}


def length(n: int) -> bytes:
    """An A-XDR length: one octet below 0x80, else 0x8N and N octets."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def octet_string(data: bytes) -> bytes:
    return b"\x09" + length(len(data)) + data


def bit_string32(word: int) -> bytes:
    return b"\x04\x20" + word.to_bytes(4, "big")


def structure(*items: bytes) -> bytes:
    return b"\x02" + length(len(items)) + b"".join(items)


def eui_octets(text: str) -> bytes:
    return bytes.fromhex(text.replace("-", ""))


def log_time(when: dt.datetime) -> int:
    return int((when - EPOCH).total_seconds())


def dlms_date_time(when: dt.datetime) -> bytes:
    """A DLMS date-time in UTC (deviation 0, clock status unspecified)."""
    w = when.astimezone(dt.UTC)
    return struct.pack(
        ">HBBBBBBBhB", w.year, w.month, w.day, w.isoweekday(), w.hour, w.minute, w.second,
        0, 0, 0,
    )  # fmt: skip


# --- APDUs -------------------------------------------------------------------------------------
def _invoke(counter: int) -> bytes:
    """long-invoke-id-and-priority as the RTDS messages carry it: 0x20 then the counter."""
    return (0x20000000 | (counter & 0xFFFFFF)).to_bytes(4, "big")


def access_response(counter: int, access: str, data: bytes | None, result: int) -> bytes:
    """One attribute's Access-Response: its data (null when refused or for a set) and its
    data-access-result."""
    return (
        bytes((ACCESS_RESPONSE,))
        + _invoke(counter)
        + b"\x00\x00"  # no date-time; the request not repeated
        + b"\x01"
        + (data if data is not None else b"\x00")
        + b"\x01"
        + bytes((ACCESS[access], result))
    )


def data_notification(counter: int, code: int, when: dt.datetime, payload: bytes | None) -> bytes:
    body = [b"\x12" + code.to_bytes(2, "big"), octet_string(dlms_date_time(when))]
    if payload is not None:
        body.append(payload)
    return bytes((DATA_NOTIFICATION,)) + _invoke(counter) + b"\x00" + structure(*body)


# --- what the DBCH use cases carry --------------------------------------------------------------
def configuration(cfg: SubGhzConfig) -> bytes:
    return dlms.encode(cfg)


def channel_log(entries: list[tuple[int, int, int, str]]) -> bytes:
    """DBCH02's log: a compact array of (time, alert code, channel word and trigger), the
    entry encoded as in the 0x8F26 alert: the word, then the trigger as 09 01 NN."""
    rows = b"".join(
        struct.pack(">IH", t, code)
        + length(7)
        + word.to_bytes(4, "big")
        + b"\x09\x01"
        + bytes((SCAN_TRIGGERS.index(trigger),))
        for t, code, word, trigger in entries
    )
    return b"\x13\x02\x03\x06\x12\x09" + length(len(rows)) + rows


def channel_changed(word: int, trigger: str) -> bytes:
    return structure(bit_string32(word), octet_string(bytes((SCAN_TRIGGERS.index(trigger),))))


def scan_assessment(status: str, trigger: str) -> bytes:
    return structure(
        octet_string(bytes((SCAN_STATUS_CODES.index(status),))),
        octet_string(bytes((SCAN_TRIGGERS.index(trigger),))),
    )


# --- the envelope -------------------------------------------------------------------------------
def signed(
    cra: str,
    counter: int,
    originator: str,
    recipient: str,
    message_code: int,
    content: bytes,
    remote_party: str | None = None,
    remote_counter: int | None = None,
) -> bytes:
    """A GBCS message: MAC header (General Ciphering, zero MAC), General Signing grouping
    header (no date-time, empty signature) around `content`."""
    other = message_code.to_bytes(2, "big")
    if remote_party is not None:
        other += eui_octets(remote_party) + (remote_counter or 0).to_bytes(8, "big")
    grouping = (
        b"\xdf\x09"
        + bytes((CRA[cra],))
        + counter.to_bytes(8, "big")
        + b"\x08"
        + eui_octets(originator)
        + b"\x08"
        + eui_octets(recipient)
        + b"\x00"  # no date-time
        + length(len(other))
        + other
        + length(len(content))
        + content
        + b"\x00"  # no signature
    )
    service = b"\x11\x00\x00\x00\x00" + grouping + bytes(12)  # security header, MAC (zeros)
    return bytes((GENERAL_CIPHERING,)) + bytes(6) + length(len(service)) + service
