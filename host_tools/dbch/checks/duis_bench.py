"""A bench that answers DUIS requests (`dbch duis run`): a DBCH request (6.28-6.32) executed
on a board, and the DUIS Response the DCC would return, with the GBCS response the hub
sends inside it, plus the alerts the board raised as DUIS device alerts.

The bench answers as the request's target device (the GBCS response comes from the
RequestID's target EUI-64) and records the board's own EUI-64 beside it; `strict_target`
refuses a board that is not the target. What is stood in for, and said so (docs/tables.md,
"A bench that answers DUIS"): the GBCS MAC (zeros), the GBCS counters (the DUIS request's
counter), the Access Control Broker's system title (`acb`), and the board's EUI-64 where it
has none (derived from its unique id: `board_eui64`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from dbch.errors import DbchError, DeviceError, ProtocolError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs import compose, duis, messages
from dbch.gbcs.alerts import scan_trigger
from dbch.gbcs.subghz_config import SubGhzConfig, agent_record
from dbch.gbcs.tables import in_force
from dbch.link.client import AgentClient
from dbch.link.spec import board_time_utc

# The board refuses a configuration (the masked band, a range): the data-access-result its
# GBCS response carries. DLMS has no result for "value refused by policy": read-write-denied
# and object-unavailable mean other things, so other-reason (250); unverified against a
# real DBCH.
REFUSED = 250
UNCONFIGURED = 11  # object-unavailable: a board with no configuration has none to read


def board_eui64(uid: bytes) -> str:
    """The board's EUI-64: its unique id when that is 8 octets (the simulated boards, RP2040
    flash ids); otherwise (a 12-octet STM32 id) the first 8 octets of its SHA-256 with the
    locally administered bit set and the group bit clear: a stand-in, not an IEEE EUI-64."""
    if len(uid) == 8:
        octets = uid
    else:
        digest = bytearray(hashlib.sha256(uid).digest()[:8])
        digest[0] = (digest[0] | 0x02) & ~0x01
        octets = bytes(digest)
    return messages.eui(octets)


@dataclass
class BenchRun:
    request: duis.DuisRequest
    board: dict[str, Any]  # the board's own id and EUI-64, and whom it answered as
    gbcs: bytes  # the hub's GBCS response
    decoded: dict[str, Any]  # that response, read back
    response: bytes  # the DUIS Response (XML)
    refusal: str | None = None  # why the board refused, when it did
    alerts: list[tuple[int, int, bytes]] = field(default_factory=list)  # (code, seq, XML)
    not_passed_on: list[int] = field(default_factory=list)  # alerts with no DBCH use case

    @property
    def ok(self) -> bool:
        return self.decoded.get("result") == "success"


def _agent_time(t: int, epoch_year: int) -> dt.datetime:
    when = board_time_utc(t, epoch_year)
    if when is None:
        raise ProtocolError(f"the board's time {t!r} is not a time")
    return when


def _execute(request: duis.DuisRequest, hub: AgentClient, epoch_year: int) -> tuple:
    """(access kind, data or None, data-access-result, refusal text) of the request."""
    uc = request.use_case
    if uc == "DBCH01":
        try:
            word = hub.get_channel()["word"]
        except DeviceError as e:
            if e.code != "unconfigured":
                raise
            return "get", None, UNCONFIGURED, str(e)
        return "get", compose.bit_string32(word), 0, None
    if uc == "DBCH02":
        rows = []
        for t, _op, _oc, page, ch, why in hub.channel_log():
            when = _agent_time(t, epoch_year)
            if request.log_from and when < request.log_from:
                continue
            if request.log_to and when > request.log_to:
                continue
            word = plan.operating_word(page, ch)
            rows.append((compose.log_time(when), 0x8F26, word, scan_trigger(why)))
        return "get", compose.channel_log(rows), 0, None
    if uc == "DBCH03":
        cfg = hub.get_config()
        if not cfg.get("configured"):
            return "get", None, UNCONFIGURED, "the board holds no configuration"
        values = SubGhzConfig.from_dict(cfg["fields"])
        return "get", compose.configuration(values), 0, None
    if uc == "DBCH04":
        assert request.config is not None
        # not configure.prepare: the board answers for itself (its refusal is the response)
        record = agent_record(request.config, in_force().regulatory)
        try:
            hub.apply_config(record, "duis", None)
        except DeviceError as e:
            if e.code != "invalid_config":
                raise
            return "set", None, REFUSED, str(e)
        return "set", None, 0, None
    try:  # DBCH05
        hub.scan()
    except DeviceError as e:
        if e.code not in ("radio_locked", "unconfigured", "busy"):
            raise
        return "set", None, REFUSED, str(e)
    return "set", None, 0, None


def _alert_payload(code: int, fields: Any, hub: AgentClient, eui: str) -> bytes | None:
    """The DUIS payload of an alert the agent raised, from what it reported."""
    f = fields if isinstance(fields, dict) else {}
    if code == 0x8F20:  # the Device the hub acts against is the hub itself
        return compose.octet_string(compose.eui_octets(eui))
    if code == 0x8F26 and "page" in f:
        word = plan.operating_word(f["page"], f["channel"])
        return compose.channel_changed(word, scan_trigger(f.get("reason")))
    if code == 0x8F28:  # the agent reports a scan that ran: the request was accepted
        return compose.scan_assessment("ScanRequestAccepted", "RemotePartyCommand")
    if code == 0x8F2A:
        cfg = hub.get_config()
        if cfg.get("configured"):
            return compose.configuration(SubGhzConfig.from_dict(cfg["fields"]))
    return None


def run(
    request: duis.DuisRequest,
    hub: AgentClient,
    acb: str,
    strict_target: bool = False,
    now: dt.datetime | None = None,
) -> BenchRun:
    """Execute `request` on the board behind `hub`; the DUIS Response and alerts."""
    hello = hub.hello()
    eui = board_eui64(hello.uid)
    if strict_target and eui != request.target:
        raise DbchError(
            f"the board is {eui}, the request targets {request.target} (--strict-target)"
        )
    after = hub.status()["events"]["last_seq"]
    access, data, result, refusal = _execute(request, hub, hello.epoch_year)
    counter = request.counter
    content = compose.access_response(counter, access, data, result)
    code = next(c for c, (uc, _) in messages.USE_CASES.items() if uc == request.use_case)
    gbcs = compose.signed(
        "response", counter, request.target, acb, code, content, request.originator, counter
    )
    when = now or dt.datetime.now(dt.UTC)
    out = BenchRun(
        request=request,
        board={
            "board": hello.board,
            "uid": hello.uid.hex(),
            "eui64": eui,
            "answered_as": request.target,
            "target_matches": eui == request.target,
        },
        gbcs=gbcs,
        decoded=messages.decode(gbcs),
        response=duis.write_response(request, gbcs, when),
        refusal=refusal,
    )
    for seq, t, alert, fields in hub.all_events(after):
        if not isinstance(alert, int):
            continue
        payload = _alert_payload(alert, fields, hub, eui)
        message_code = compose.ALERT_MESSAGE_CODES.get(alert)
        if message_code is None or payload is None:
            out.not_passed_on.append(alert)
            continue
        raised = _agent_time(t, hello.epoch_year)
        note = compose.data_notification(seq, alert, raised, payload)
        alert_gbcs = compose.signed("alert", seq, request.target, acb, message_code, note)
        out.alerts.append((alert, seq, duis.write_device_alert(alert, alert_gbcs, raised)))
    return out
