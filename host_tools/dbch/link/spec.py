"""The wire contract: every command the agent serves, its arguments and their types, whether
it needs an authenticated request, how long it may take, and every error code.

The client, the fuzz tests and docs/protocol.md are read against this table; the firmware
holds the same table (firmware/dbchagent/cmd_system.py, errors.py) and
tests/test_wire_contract.py compares the two through the MicroPython VM.
To add a command: a row here, a row in cmd_system.TABLE, its handler, a line in the docs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from dbch.errors import ProtocolError

if TYPE_CHECKING:
    from datetime import datetime

BYTES, INT, TEXT, BOOL = "bytes", "int", "text", "bool"
# The board stamps events with time.time(): seconds since its port's epoch, which hello
# names (`epoch`: 1970 on most ports, 2000 on stm32). Before 2020 its clock was never set.
CLOCK_SET_FROM_YEAR = 2020


def board_time_utc(t: Any, epoch_year: int) -> datetime | None:
    """A time the board stamped, as an aware UTC datetime (None if `t` is not a time)."""
    import datetime as dt  # (not at import: a query's start-up does without it)

    try:
        since = dt.datetime(epoch_year, 1, 1, tzinfo=dt.UTC)
        return since + dt.timedelta(seconds=int(t))
    except (TypeError, ValueError, OverflowError):
        return None


DEFAULT_TIMEOUT_S = 2.0
# Commands that write flash and set up the radio answer within this long; a lost reply
# costs this much before the retry (benches with bad links lower it with the client).
SLOW_TIMEOUT_S = 15.0


class Command(NamedTuple):  # not a dataclass: see Frame (dbch/link/frames.py)
    name: str
    args: dict[str, str]  # argument -> wire type (all optional on the wire; handlers say)
    protected: bool = False  # changes the board: only inside a verified `auth` request
    timeout_s: float = DEFAULT_TIMEOUT_S
    slow: bool = False  # writes flash and sets up the radio: the client's slow timeout
    # integer arguments' ranges (inclusive), as the agent checks them: the host refuses a
    # value outside before touching a port (tests/test_wire_contract.py compares them)
    ranges: dict[str, tuple[int, int]] = {}  # noqa: RUF012 (never changed)


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("hello", {}),
        Command("status", {}),
        Command("echo", {"data": BYTES}),
        Command("memtest", {"size": INT}, ranges={"size": (1, 1 << 24)}),
        Command("reset", {}, protected=True),
        Command("auth", {"req": BYTES, "ctr": INT, "mac": BYTES}),
        Command("auth_info", {}),
        Command("rotate_key", {"new": BYTES, "ctr": INT}, protected=True),
        Command(
            "set_config",
            {"record": BYTES, "table": TEXT, "region": TEXT},
            protected=True,
            slow=True,
        ),
        Command("get_config", {}),
        Command("get_channel", {}),
        Command("channel_log", {}),
        # scan may move the operating channel; traffic and test_tx transmit and spend the
        # hour's duty-cycle budget: changes to the board, so signed. Stopping traffic only
        # lowers emissions and stays open.
        Command("scan", {}, protected=True, timeout_s=30.0),
        Command(
            "traffic",
            {"frames": INT, "size": INT, "interval_ms": INT},
            protected=True,
            ranges={"frames": (1, 100000), "size": (8, 125), "interval_ms": (0, 3600000)},
        ),
        Command("traffic_stop", {}),
        Command(
            "test_tx",
            {"freq_hz": INT, "size": INT},
            protected=True,
            timeout_s=5.0,
            ranges={"freq_hz": (0, 2000000000), "size": (8, 125)},
        ),
        Command(
            "events",
            {"after": INT, "limit": INT},
            ranges={"after": (0, 0x7FFFFFFF), "limit": (1, 50)},
        ),
        Command("events_clear", {}, protected=True),
        # locked mode (docs/security.md): no REPL over the link; unlock lasts until the
        # next reset unless `forget` also removes the stored lock
        Command("lock", {}, protected=True, slow=True),
        Command("unlock", {"forget": BOOL}, protected=True, slow=True),
        # an exception leaves the agent after the reply: a locked board must reset
        Command("crash", {}, protected=True),
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
    "storage_full": "the board's filesystem is full; free space on it, then retry",
    "internal": "the agent hit an unexpected error handling the request",
}


# What replies must hold where the tools read them: field -> the types it may have. The
# client checks every reply against this, so a malformed or hostile reply is a one-line
# ProtocolError naming the field, never a crash further on (a `uid` sent as an integer
# made `bytes(2**34)`).
_N = type(None)
_LOCK = {"stored": (bool,), "in_force": (bool,), "lifted_by": (str, _N)}
_HEAP = {"total": (int,), "used": (int,), "used_max": (int,), "free": (int,)}
REPLIES: dict[str, dict[str, tuple[type, ...] | dict]] = {
    "hello": {
        "proto": (int,),
        "uid": (bytes,),
        "platform": (str,),
        "mp": (list,),
        "epoch": (int,),
        "fw": {"version": (str,), "hash": (str, _N)},
        "board": (str, _N),
        "radio": (str, _N),
        "max_request": (int,),
        "twin": (str, _N),  # the board a simulated twin stands in for; None on hardware
        "ticks_ms": (int,),  # the board's clock as it answered
    },
    "status": {
        "uptime_ms": (int,),
        "reset_cause": (str,),
        "heap": _HEAP,
        "counters": (dict,),
        "config": (dict, _N),
        "config_problem": (str, _N),
        "channel": (dict, _N),
        "radio": (dict, _N),
        "duty": (dict, _N),
        "traffic": (dict, _N),
        "lock": _LOCK,
        "auth": {"counter_copies": (int,), "counter_damaged": (bool,)},
    },
    "set_config": {"hash": (str,), "repeat": (bool,)},
    "lock": _LOCK,
    "unlock": _LOCK,
    "get_config": {"configured": (bool,), "fields": (dict,), "regulatory": (dict,)},
    "get_channel": {"page": (int,), "channel": (int,), "freq_hz": (int,), "word": (int,)},
    "auth_info": {"key_id": (bytes, _N), "ctr": (int, _N)},
}


def check_reply(command: str, reply: Any, shape: dict | None = None, where: str = "") -> None:
    """Raise ProtocolError naming the first field of `reply` that `REPLIES` does not allow
    (fields it does not list pass; bools are not ints)."""
    shape = REPLIES.get(command) if shape is None else shape
    if shape is None:
        return
    if not isinstance(reply, dict):
        raise ProtocolError(f"malformed {command} reply: {where or 'the reply'} is not a map")
    for name, allowed in shape.items():
        if name not in reply:
            continue
        value, field = reply[name], f"{where}{name}"
        if isinstance(allowed, dict):
            check_reply(command, value, allowed, field + ".")
        elif not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            kinds = " or ".join("null" if t is _N else t.__name__ for t in allowed)
            raise ProtocolError(
                f"malformed {command} reply: {field} is {type(value).__name__}, not {kinds}"
            )
    if command == "get_config" and shape is REPLIES["get_config"]:
        for name, value in (reply.get("fields") or {}).items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise ProtocolError(f"malformed get_config reply: fields.{name} is not an int")


def timeout_for(command: str, at_least: float, slow_s: float = SLOW_TIMEOUT_S) -> float:
    """How long to wait for `command`'s reply: its own time (`slow_s` for slow commands),
    or the caller's if longer."""
    c = COMMANDS.get(command)
    if c is None:
        return at_least
    return max(at_least, slow_s if c.slow else c.timeout_s)
