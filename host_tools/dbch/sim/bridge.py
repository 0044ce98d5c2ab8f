"""The supervisor's end of the VM-to-board bridge (see rom/simmachine.py for the VM's end).

Messages from the VM: op (1 byte), length (2 bytes, big-endian), payload. Reads, and the
writes that act on the board (a pin, an SPI write), get an answer: length (2 bytes) then
payload (empty for a write). On a board a GPIO or SPI write is done before the CPU goes on;
were such a write unanswered, the VM would run ahead of a late supervisor and time a chip's
BUSY from before the command that raised it had run (the WL55 twin's radio came back
`locked` after a power cut, 1 in 1,000 on a loaded machine: tests/test_power_cuts.py).
Ops are applied strictly in order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

OP_XFER = 0x53
OP_WRITE = 0x57
OP_PIN_SET = 0x50
OP_PIN_GET = 0x47
OP_RESET = 0x52
OP_WDT = 0x44
OP_BOOTED = 0x42
OP_CONFIG = 0x43
OP_CTRL_C = 0x49  # tests: a Ctrl-C on the console at a named step of the boot (answered)


class Board(Protocol):
    """What the bridge drives: the board around the MCU (wiring, chip model, reset)."""

    def spi_transfer(self, bus: str, mosi: bytes) -> bytes: ...
    def pin_set(self, name: str, level: int) -> None: ...
    def pin_get(self, name: str) -> int: ...
    def request_reset(self, kind: str) -> None: ...
    def watchdog(self, timeout_ms: int | None) -> None: ...
    def booted(self) -> None: ...
    def config(self) -> bytes: ...
    def ctrl_c(self) -> None: ...


@dataclass
class BridgeParser:
    """Turns the VM's byte stream into calls on the board; returns the bytes to answer."""

    board: Board
    buf: bytearray | None = None

    def feed(self, data: bytes) -> bytes:
        if self.buf is None:
            self.buf = bytearray()
        buf = self.buf
        buf += data
        out = bytearray()
        while len(buf) >= 3:
            op = buf[0]
            n = (buf[1] << 8) | buf[2]
            if len(buf) < 3 + n:
                break
            payload = bytes(buf[3 : 3 + n])
            del buf[: 3 + n]
            reply = self._apply(op, payload)
            if reply is not None:
                out += struct.pack(">H", len(reply)) + reply
        return bytes(out)

    def _apply(self, op: int, p: bytes) -> bytes | None:
        b = self.board
        if op in (OP_XFER, OP_WRITE):
            bus = p[1 : 1 + p[0]].decode()
            miso = b.spi_transfer(bus, p[1 + p[0] :])
            return miso if op == OP_XFER else b""
        if op == OP_PIN_SET:
            b.pin_set(p[1:].decode(), p[0])
            return b""
        if op == OP_PIN_GET:
            return bytes((b.pin_get(p.decode()) & 1,))
        if op == OP_RESET:
            b.request_reset("soft" if p == b"s" else "hard")
            return None
        if op == OP_BOOTED:
            b.booted()
            return None
        if op == OP_CONFIG:
            return b.config()
        if op == OP_CTRL_C:
            b.ctrl_c()
            return b""
        if op == OP_WDT:
            b.watchdog(struct.unpack(">I", p)[0] if p else None)
            return None
        raise ValueError(f"unknown bridge op 0x{op:02x}")
