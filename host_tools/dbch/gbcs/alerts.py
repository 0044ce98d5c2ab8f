"""GBCS alert codes on the hub's Sub-GHz side (docs/reference.md §4). The agent sends the
code only; names live here, on the host, where memory is cheap."""

from __future__ import annotations

ALERTS: dict[int, str] = {
    0x8F20: "Limited duty cycle action taken",
    0x8F21: "Duty cycle fallen below Normal-Limited threshold",
    0x8F22: "Critical duty cycle action taken",
    0x8F23: "Duty cycle fallen below Limited-Critical threshold",
    0x8F24: "Regulated duty cycle action taken",
    0x8F25: "Duty cycle fallen below Critical-Regulated threshold",
    0x8F26: "Sub GHz channel changed",
    0x8F27: "Sub GHz channel scan initiated",
    0x8F28: "Sub GHz channel scan request assessment outcome",
    0x8F29: "Three lost GSME searches failed",
    0x8F2A: "Sub GHz configuration changed",
    0x8F2B: "Sub GHz channel not changed due to frequency agility parameters",
    0x8F2C: "Message discarded due to duty cycle management",
    0x8F2D: "No more Sub GHz device capacity",
}


# The agent's reasons for a channel change, as DUIS ScanTriggers. Its log does not say
# whether a scan came from a DBCH05 request or its own noisier-channel check: both are
# given as RemotePartyCommand (approximate, said in docs/tables.md).
TRIGGERS = {
    "initial": "SMHANFormation",
    "config": "RemotePartyCommand",
    "scan": "RemotePartyCommand",
}


def scan_trigger(reason: object) -> str:
    """The DUIS ScanTrigger for the agent's reason of a channel change."""
    return TRIGGERS.get(str(reason), "SMHANFormation")


def alert_name(code: int) -> str:
    return ALERTS.get(code, f"unknown alert 0x{code:04X}")


def _shown(v: object) -> str:
    """A field as people read it: bytes in hex, maps as (k=v, ...), lists as a.b.c."""
    if isinstance(v, bytes | bytearray):
        return v.hex()
    if isinstance(v, dict):
        return "(" + ", ".join(f"{k}={_shown(x)}" for k, x in v.items()) + ")"
    if isinstance(v, list | tuple):
        return ".".join(_shown(x) for x in v)
    return str(v)


def describe_event(ev: dict) -> str:
    """One line for an event or event-log entry, as people read it."""
    fields = {k: v for k, v in ev.items() if k not in ("ev", "code", "seq", "t")}
    extra = ", ".join(f"{k}={_shown(v)}" for k, v in fields.items())
    if ev.get("ev") == "alert" or isinstance(ev.get("code"), int):
        code = ev.get("code", 0)
        head = f"alert 0x{code:04X} {alert_name(code)}"
    else:
        head = str(ev.get("ev"))
    return f"{head}" + (f" ({extra})" if extra else "")
