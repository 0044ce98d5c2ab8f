"""pyserial's RFC 2217 port, reading data in whole chunks.

pyserial's reader thread runs every received byte through its Telnet state machine in
Python and queues each byte as its own item; our reads then take them one by one. For a
status reply (about 1.2 KB) that is thousands of Python steps per round trip, and with eight
boards on one host it made a fleet check through labgrid places 6x slower than on local
ports (`make bench`, fleet8_labgrid_over_local). Almost every chunk is plain data: no IAC
byte (0xFF) at all. This reader queues such a chunk as one item and hands any chunk with
Telnet commands in it to the same state machine, byte by byte, as pyserial does. Everything
else (negotiation, the COM-port options, writing) is pyserial's own.
"""

from __future__ import annotations

from serial import rfc2217
from serial.rfc2217 import DO, DONT, IAC, SB, SE, WILL, WONT

_DATA, _IAC_SEEN, _NEGOTIATE = rfc2217.M_NORMAL, rfc2217.M_IAC_SEEN, rfc2217.M_NEGOTIATE
RECV_BYTES = 4096


class Serial(rfc2217.Serial):
    def _telnet_read_loop(self) -> None:
        mode = _DATA
        sub: bytearray | None = None  # a subnegotiation being collected
        command = b""
        while self.is_open:
            try:
                data = self._socket.recv(RECV_BYTES)
            except TimeoutError:
                continue  # pyserial's socket timeout: a chance to see the port closed
            except OSError:
                data = b""
            if not data:
                self._read_buffer.put(None)  # lost connection: read() returns what it has
                return
            if mode == _DATA and sub is None and IAC not in data:
                self._read_buffer.put(data)  # the common case: one item, not len(data)
                continue
            try:
                mode, sub, command = self._telnet(data, mode, sub, command)
            except OSError:  # answering a negotiation on a connection the server closed
                self._read_buffer.put(None)
                return

    def _telnet(
        self, data: bytes, mode: int, sub: bytearray | None, command: bytes
    ) -> tuple[int, bytearray | None, bytes]:
        """A chunk with Telnet commands in it, byte by byte (pyserial's state machine);
        its data bytes are queued as one item. Returns the machine's state."""
        plain = bytearray()
        for i in range(len(data)):
            byte = data[i : i + 1]
            if mode == _DATA:
                if byte == IAC:
                    mode = _IAC_SEEN
                elif sub is not None:
                    sub += byte
                else:
                    plain += byte
            elif mode == _IAC_SEEN:
                mode = _DATA
                if byte == IAC:  # an escaped 0xFF data byte
                    if sub is not None:
                        sub += byte
                    else:
                        plain += byte
                elif byte == SB:
                    sub = bytearray()
                elif byte == SE:
                    if sub is not None:
                        self._telnet_process_subnegotiation(bytes(sub))
                    sub = None
                elif byte in (DO, DONT, WILL, WONT):
                    command, mode = byte, _NEGOTIATE
                else:
                    self._telnet_process_command(byte)
            else:  # _NEGOTIATE: the option after DO/DONT/WILL/WONT
                self._telnet_negotiate_option(command, byte)
                mode = _DATA
        if plain:
            self._read_buffer.put(bytes(plain))
        return mode, sub, command


def open_port(url: str, baudrate: int, timeout: float) -> Serial:
    port = Serial(None, baudrate=baudrate, timeout=timeout)
    port.port = url  # pyserial parses rfc2217://host:port?options on open
    port.open()
    return port
