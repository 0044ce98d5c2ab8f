"""Typed calls to the agent. Everything above this layer deals in Python values.

with AgentClient("/dev/ttyACM0") as hub:
    print(hub.hello().board, hub.status()["uptime_ms"])
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import cbor2

from dbch.errors import (
    AtReplError,
    AuthError,
    DeviceError,
    PortBusyError,
    ProtocolError,
    TransportError,
)
from dbch.link import auth as keys
from dbch.link.auth import KeyStore
from dbch.link.frames import Link, default_console
from dbch.link.spec import PROTECTED, SLOW_TIMEOUT_S, check_reply, timeout_for
from dbch.link.transport import Transport

# Polling a board at its REPL: each frame stays in the REPL's history (about 60 B).
REPL_POLL_S = 0.5


def _is_repeat(e: DeviceError) -> bool:
    return e.code == "unauthorised" and (e.msg or "").startswith("repeat")


# The lock state each command asks for (status()["lock"], also their reply).
_LOCK_OUTCOME: dict[str, Callable[[dict[str, Any], dict[str, Any]], bool]] = {
    "lock": lambda st, _args: bool(st.get("stored")) and bool(st.get("in_force")),
    "unlock": lambda st, args: (
        not st.get("in_force") and not (args.get("forget") and st.get("stored"))
    ),
}
# Commands whose second run leaves the board as one run does: a resend refused as a
# repeat (the first was accepted, its outcome unknown after a cut) is simply run again.
_IDEMPOTENT = frozenset({"events_clear"})


class Hello(NamedTuple):  # not a dataclass: see Frame (dbch/link/frames.py)
    """Who the agent is: protocol, firmware, board, radio, unique id."""

    proto: int
    fw_version: str
    fw_hash: str | None
    board: str | None
    radio: str | None
    uid: bytes
    platform: str
    micropython: tuple[int, ...]
    epoch_year: int
    max_request: int = 1024  # longest request frame the board takes (bytes)
    twin_of: str | None = None  # a simulated twin says which board it stands in for
    # the board's millisecond clock as it answered (from its reset on a board; a unix
    # twin's counts from its host's start); None from an agent before 2026-12-06
    ticks_ms: int | None = None

    @property
    def simulated(self) -> bool:
        """The board itself says it is a simulated twin (its ROM, not the port's host)."""
        return self.twin_of is not None

    @classmethod
    def from_wire(cls, d: Any) -> Hello:
        check_reply("hello", d)
        try:
            return cls(
                proto=int(d["proto"]),
                fw_version=str(d["fw"]["version"]),
                fw_hash=d["fw"].get("hash"),
                board=d.get("board"),
                radio=d.get("radio"),
                uid=bytes(d["uid"]),
                platform=str(d["platform"]),
                micropython=tuple(d["mp"]),
                epoch_year=int(d["epoch"]),
                max_request=int(d.get("max_request", 1024)),
                twin_of=d.get("twin"),
                ticks_ms=None if d.get("ticks_ms") is None else int(d["ticks_ms"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolError(f"malformed hello reply: {e!r}") from None

    def as_dict(self) -> dict[str, Any]:
        return {
            "proto": self.proto,
            "fw_version": self.fw_version,
            "fw_hash": self.fw_hash,
            "board": self.board,
            "radio": self.radio,
            "uid": self.uid.hex(),
            "platform": self.platform,
            "micropython": ".".join(map(str, self.micropython)),
            "epoch_year": self.epoch_year,
            "max_request": self.max_request,
            "simulated": self.simulated,
        }


class AgentClient:
    """A connection to one agent. Opens the port exclusively: a second run is told the port
    is in use instead of interleaving frames with this one."""

    def __init__(
        self,
        port: str,
        timeout: float = 2.0,
        retries: int = 2,
        on_console: Callable[[bytes], None] | None = default_console,
        exclusive: bool = True,
    ):
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.link: Any
        try:
            transport = Transport(port, exclusive=exclusive)
        except PortBusyError:
            # Held by a `dbch record` or `monitor` of this user, which serves the port's
            # other commands through itself (link/share.py); anything else is busy.
            from dbch.link import share

            path = share.socket_path(port)
            if not path.exists():
                raise
            self.link = share.RelayLink(port, path, on_console)
        else:
            transport.discard_input()
            self.link = Link(transport, on_console=on_console)
        self.keys: KeyStore | None = None  # chosen by the board's platform (auth.keys_dir)
        # How long commands that write flash and set up the radio may take (spec); a lost
        # reply costs this much before the retry (benches with bad links lower it).
        self.slow_timeout = SLOW_TIMEOUT_S
        self._uid: bytes | None = None
        self._key: bytes | None = None
        self._ctr: int | None = None

    @property
    def transport(self) -> Any:
        """The link's (a relayed link may have opened the port itself since)."""
        return self.link.transport

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, command: str, /, timeout: float | None = None, **args: Any) -> Any:
        """One command of the wire contract (link/spec.py), signed if it is protected."""
        if timeout is None:
            timeout = timeout_for(command, self.timeout, self.slow_timeout)
        if command in PROTECTED:
            try:
                reply = self._authorised(command, args, timeout)
            except DeviceError as e:
                if not _is_repeat(e) or command not in _IDEMPOTENT.union(_LOCK_OUTCOME):
                    raise
                reply = self._settle_repeat(command, args, timeout)
        else:
            reply = self.link.request(command, args, timeout=timeout, retries=self.retries)
        check_reply(command, reply)
        return reply

    def call_many(self, *commands: str) -> list[Any]:
        """Several open (unsigned, argument-free) commands in one round trip, their replies
        in order and each checked against the wire contract."""
        if any(c in PROTECTED for c in commands):
            raise ValueError("call_many takes open commands only")
        timeout = max(timeout_for(c, self.timeout, self.slow_timeout) for c in commands)
        replies = self.link.request_many([(c, None) for c in commands], timeout, self.retries)
        for command, reply in zip(commands, replies, strict=True):
            check_reply(command, reply)
        return replies

    # --- authorisation (keys.py) ---
    def auth_info(self) -> dict[str, Any]:
        """The board's key id (None: no key provisioned) and the last counter it accepted."""
        info = self.call("auth_info")
        kid = info.get("key_id")
        return {"key_id": bytes(kid).hex() if kid else None, "ctr": info["ctr"]}

    def _authorised(
        self,
        command: str,
        args: dict[str, Any],
        timeout: float,
        bind: Callable[[bytes, bytes, int], dict[str, Any]] | None = None,
    ) -> Any:
        """Send `command` inside an auth request signed with the board's key. The counter
        starts above the board's; if another host moved it on (a replay refusal), read it
        again and sign once more. `bind(key, uid, ctr)` makes arguments that depend on the
        counter (rotate_key's masked key)."""
        for attempt in range(2):
            key, uid = self._signing_key()
            self._ctr = (self._ctr or 0) + 1
            if bind is not None:
                args = bind(key, uid, self._ctr)
            inner = cbor2.dumps([command, args])
            wrapped = {"req": inner, "ctr": self._ctr, "mac": keys.mac(key, uid, self._ctr, inner)}
            try:
                return self.link.request("auth", wrapped, timeout=timeout, retries=self.retries)
            except DeviceError as e:
                if e.code == "unauthorised" and "replay" in (e.msg or "") and not attempt:
                    self._ctr = None
                    continue
                raise
        raise AssertionError("unreachable")

    def _settle_repeat(self, command: str, args: dict[str, Any], timeout: float) -> Any:
        """A resent command refused as a repeat: its first send was accepted (the counter
        was stored) but its reply was lost, and a reset or power cut may have come between
        the counter and the change, or undone it (an unlock lasts until reset). A log clear
        is sent again, fresh. For `lock` and `unlock` the board's state says which: the
        state asked for is reported as the outcome; any other is asked for again."""
        if command in _IDEMPOTENT:
            return self._authorised(command, args, timeout)
        state = self.status()["lock"]
        if _LOCK_OUTCOME[command](state, args):
            return state
        return self._authorised(command, args, timeout)

    def rotate_key(self, new_key: bytes) -> dict[str, Any]:
        """Replace the board's key. Put `new_key` in the key store first (a lost reply must
        not lose the key). It travels masked with a pad only the old key can make."""

        def bind(key: bytes, uid: bytes, ctr: int) -> dict[str, Any]:
            pad = keys.rotation_pad(key, uid, ctr)
            return {"new": bytes(a ^ b for a, b in zip(new_key, pad, strict=True)), "ctr": ctr}

        try:
            res = self._authorised("rotate_key", {}, self.timeout, bind)
        except DeviceError as e:
            # A resend after a lost reply: refused as a repeat, or failing its MAC because
            # the board already holds the new key. The key id the board reports says which;
            # a repeat whose rotation a cut undid (the counter was stored, the key not)
            # is asked for again with a fresh request.
            repeat = _is_repeat(e)
            if not (repeat or (e.code == "unauthorised" and "bad_mac" in (e.msg or ""))):
                raise
            self._key = None
            if self.auth_info().get("key_id") == keys.key_id(new_key):
                res = {"key_id": bytes.fromhex(keys.key_id(new_key))}
            elif repeat:
                res = self._authorised("rotate_key", {}, self.timeout, bind)
            else:
                raise
        self._key = None  # sign with the new key from now on
        return res

    def _signing_key(self) -> tuple[bytes, bytes]:
        if self._uid is None or self.keys is None:
            hello = self.hello()
            self._uid = hello.uid
            if self.keys is None:
                self.keys = KeyStore.for_platform(hello.platform)
        if self._ctr is None or self._key is None:
            info = self.auth_info()
            self._ctr = info["ctr"]
            if self._ctr is None:
                raise AuthError(
                    f"{self.port}: the board's request counter on flash is damaged and it "
                    f"refuses every change: `dbch key provision --port {self.port} --force` "
                    "gives it a new key and resets the counter"
                )
            if info["key_id"] is None:
                raise AuthError(
                    f"{self.port}: the board has no key: `dbch key provision "
                    f"--port {self.port}` (or deploy) gives it one"
                )
            self._key = self.keys.find(self._uid, info["key_id"])
            if self._key is None:
                raise AuthError(
                    f"{self.port}: the board's key {info['key_id']} is not in "
                    f"the key store {self.keys.root} (uid {self._uid.hex()}); "
                    "`dbch key provision --port P --force` replaces it"
                )
        return self._key, self._uid

    def hello(self) -> Hello:
        return Hello.from_wire(self.call("hello"))

    def status(self) -> dict[str, Any]:
        st = self.call("status")
        if not isinstance(st, dict):
            raise ProtocolError(f"malformed status reply: {st!r}")
        return st

    def echo(self, data: bytes) -> bytes:
        return bytes(self.call("echo", data=data)["data"])

    def memtest(self, size: int) -> dict[str, Any]:
        return self.call("memtest", size=size)

    # --- configuration and channel (GBCS DBCH01-05) ---
    def apply_config(
        self, record: bytes, table: str | None = None, region: str | None = None
    ) -> dict[str, Any]:
        """Set the configuration (DBCH04); the agent validates, stores, applies, reads the
        radio back and answers with the content hash now in force."""
        args: dict[str, Any] = {"record": record}
        if table:
            args["table"] = table
        if region:
            args["region"] = region
        return self.call("set_config", **args)

    def get_config(self) -> dict[str, Any]:
        return self.call("get_config")

    def get_channel(self) -> dict[str, Any]:
        return self.call("get_channel")

    def channel_log(self) -> list[list[Any]]:
        return self.call("channel_log")["entries"]

    def scan(self) -> dict[str, Any]:
        """DBCH05: the agent scans, may change channel; energy as (page, channel, deci-dBm)
        sorted quietest first (the agent packs it as ">BBh" records)."""
        res = self.call("scan")
        raw = bytes(res["energy"])
        res["energy"] = sorted(
            (struct.unpack_from(">BBh", raw, i) for i in range(0, len(raw), 4)),
            key=lambda r: r[2],
        )
        return res

    # --- bench ---
    def traffic(self, frames: int, size: int, interval_ms: int = 100) -> dict[str, Any]:
        return self.call("traffic", frames=frames, size=size, interval_ms=interval_ms)

    def traffic_stop(self) -> dict[str, Any]:
        return self.call("traffic_stop")

    def test_tx(self, freq_hz: int, size: int = 16) -> dict[str, Any]:
        return self.call("test_tx", freq_hz=freq_hz, size=size)

    def events(self, after: int = 0, limit: int = 20) -> dict[str, Any]:
        return self.call("events", after=after, limit=limit)

    def all_events(self, after: int = 0) -> list[list[Any]]:
        """The whole event log on flash, page by page. A board that has no room for a page
        (busy: out of memory, its heap fragmented) is asked for half as many records."""
        out: list[list[Any]] = []
        limit = 50
        while True:
            try:
                page = self.events(after, limit)
            except DeviceError as e:
                if e.code != "busy" or limit == 1:
                    raise
                limit //= 2
                continue
            out += page["entries"]
            if not page["more"] or not page["entries"]:
                return out
            after = page["entries"][-1][0]

    def events_clear(self) -> dict[str, Any]:
        return self.call("events_clear")

    def wait_event(self, name: str | None = None, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next event the agent pushes (named `name` if given), or None on timeout."""
        return self.link.wait_event(name, timeout)

    def wait_ready(self, timeout: float = 15.0, give_up_at_repl: bool = False) -> Hello:
        """Poll until the agent answers hello (after a reset or deploy). A board at the
        MicroPython REPL echoes each frame and keeps it in its line history (heap): there,
        polls are spaced out, or (`give_up_at_repl`) the AtReplError is raised at once."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return Hello.from_wire(self.link.request("hello", timeout=0.3, retries=0))
            except AtReplError as e:
                if give_up_at_repl:
                    raise
                last = e
                time.sleep(max(0.0, min(REPL_POLL_S, deadline - time.monotonic())))
            except (TransportError, ProtocolError) as e:
                last = e
        raise TransportError(f"{self.port}: agent not ready after {timeout:g} s ({last})")

    def reset(self, timeout: float = 15.0) -> Hello:
        """Reset the board through the agent and wait until it answers again."""
        self.call("reset")
        time.sleep(0.05)
        return self.wait_ready(timeout)
