"""The wire contract: every command the agent serves, its arguments and their types, whether
it needs an authenticated request, how long it may take, and every error code.

The client, the fuzz tests and docs/protocol.md are read against this table; the firmware
holds the same table (firmware/dbchagent/cmd_system.py, errors.py) and
tests/test_wire_contract.py compares the two through the MicroPython VM.
To add a command: a row here, a row in cmd_system.TABLE, its handler, a line in the docs.
"""

from __future__ import annotations

from dataclasses import dataclass

BYTES, INT, TEXT = "bytes", "int", "text"
DEFAULT_TIMEOUT_S = 2.0
# Commands that write flash and set up the radio answer within this long; a lost reply
# costs this much before the retry (benches with bad links lower it with the client).
SLOW_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, str]  # argument -> wire type (all optional on the wire; handlers say)
    protected: bool = False  # changes the board: only inside a verified `auth` request
    timeout_s: float = DEFAULT_TIMEOUT_S


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("hello", {}),
        Command("status", {}),
        Command("echo", {"data": BYTES}),
        Command("memtest", {"size": INT}),
        Command("reset", {}, protected=True),
        Command("auth", {"req": BYTES, "ctr": INT, "mac": BYTES}),
        Command("auth_info", {}),
        Command("rotate_key", {"new": BYTES, "ctr": INT}, protected=True),
        Command(
            "set_config",
            {"record": BYTES, "table": TEXT, "region": TEXT},
            protected=True,
            timeout_s=SLOW_TIMEOUT_S,
        ),
        Command("get_config", {}),
        Command("get_channel", {}),
        Command("channel_log", {}),
        # scan may move the operating channel; traffic and test_tx transmit and spend the
        # hour's duty-cycle budget: changes to the board, so signed. Stopping traffic only
        # lowers emissions and stays open.
        Command("scan", {}, protected=True, timeout_s=30.0),
        Command("traffic", {"frames": INT, "size": INT, "interval_ms": INT}, protected=True),
        Command("traffic_stop", {}),
        Command("test_tx", {"freq_hz": INT, "size": INT}, protected=True, timeout_s=5.0),
        Command("events", {"after": INT, "limit": INT}),
        Command("events_clear", {}, protected=True),
    )
}

PROTECTED = frozenset(c.name for c in COMMANDS.values() if c.protected)

# Error codes the agent sends (docs/protocol.md); each means the request had no effect.
ERROR_CODES = {
    "bad_frame": "the frame could not be decoded, or is not a request",
    "bad_crc": "the frame was damaged in transit (CRC mismatch)",
    "bad_version": "the frame's protocol version is not supported",
    "too_large": "the request is longer than the agent accepts",
    "bad_cbor": "the body is not CBOR the agent accepts",
    "bad_request": "the body is not [command, {arguments}]",
    "unknown_command": "the agent has no such command",
    "bad_argument": "an argument is missing, unknown, of the wrong type or out of range",
    "unauthorised": "the command changes the board and came without a valid auth request",
    "invalid_config": "set_config refused the configuration (the field says which)",
    "unconfigured": "the command needs a configuration in force",
    "radio_locked": "the command needs a verified radio",
    "busy": "the agent cannot take the request now (or ran out of heap); retry later",
    "internal": "the agent hit an unexpected error handling the request",
}


def timeout_for(command: str, at_least: float) -> float:
    """How long to wait for `command`'s reply: its own time, or the caller's if longer."""
    c = COMMANDS.get(command)
    return max(at_least, c.timeout_s if c else DEFAULT_TIMEOUT_S)
