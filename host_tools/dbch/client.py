"""Typed calls to the agent. Everything above this layer deals in Python values.

with AgentClient("/dev/ttyACM0") as hub:
    print(hub.hello().board, hub.status()["uptime_ms"])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ProtocolError, TransportError
from .protocol import Link, default_console
from .transport import Transport


@dataclass(frozen=True)
class Hello:
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

    @classmethod
    def from_wire(cls, d: Any) -> Hello:
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
        self.transport = Transport(port, exclusive=exclusive)
        self.transport.discard_input()
        self.link = Link(self.transport, on_console=on_console)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, command: str, timeout: float | None = None, **args: Any) -> Any:
        return self.link.request(
            command, args, timeout=timeout or self.timeout, retries=self.retries
        )

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

    def wait_ready(self, timeout: float = 15.0) -> Hello:
        """Poll until the agent answers hello (after a reset or deploy)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return Hello.from_wire(self.link.request("hello", timeout=0.3, retries=0))
            except (TransportError, ProtocolError) as e:
                last = e
        raise TransportError(f"{self.port}: agent not ready after {timeout:g} s ({last})")

    def reset(self, timeout: float = 15.0) -> Hello:
        """Reset the board through the agent and wait until it answers again."""
        self.call("reset")
        time.sleep(0.05)
        return self.wait_ready(timeout)
