# Simulated-board ROM (runs inside the MicroPython VM, not part of the firmware).
# The wire from the MCU to the rest of the board: every SPI transaction, pin change,
# reset and watchdog request goes to the supervisor's chip model over a Unix socket.
# Message: op (1 byte), length (2 bytes, big-endian), payload. Replies (for reads only):
# length (2 bytes) then payload. See host_tools/dbch/sim/bridge.py for the other end.
import socket
import struct

OP_XFER = 0x53  # 'S' bus (length-prefixed name), MOSI bytes -> MISO bytes
OP_WRITE = 0x57  # 'W' bus, MOSI bytes (MISO discarded, no reply)
OP_PIN_SET = 0x50  # 'P' value byte, pin name
OP_PIN_GET = 0x47  # 'G' pin name -> value byte
OP_RESET = 0x52  # 'R' b'h' hard or b's' soft: the supervisor restarts the VM
OP_WDT = 0x44  # 'D' 4-byte timeout ms (start) or empty (feed)
OP_BOOTED = 0x42  # 'B' the ROM is done: console input may now reach the VM


class Bridge:
    def __init__(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # The unix port's connect() takes a raw struct sockaddr: sockaddr_un is the
        # family (native-endian u16) then the NUL-terminated path.
        s.connect(struct.pack("H", socket.AF_UNIX) + path.encode() + b"\0")
        self._s = s
        self._hdr = bytearray(3)
        self._len = bytearray(2)

    def _send(self, op, a, b=b""):
        h = self._hdr
        n = len(a) + len(b)
        h[0] = op
        h[1] = n >> 8
        h[2] = n & 0xFF
        self._s.write(h)
        if a:
            self._s.write(a)
        if b:
            self._s.write(b)

    def _reply_into(self, buf):
        self._s.readinto(self._len)
        n = (self._len[0] << 8) | self._len[1]
        if n != len(buf):
            raise OSError(5)  # EIO: the board's wiring answered with the wrong length
        if n:
            self._s.readinto(buf)

    def xfer(self, bus, mosi, miso):
        self._send(OP_XFER, bus, mosi)
        self._reply_into(miso)

    def write(self, bus, mosi):
        self._send(OP_WRITE, bus, mosi)

    def pin_set(self, pin, v):
        self._send(OP_PIN_SET, b"\x01" if v else b"\x00", pin)

    def pin_get(self, pin):
        self._send(OP_PIN_GET, pin)
        b = bytearray(1)
        self._reply_into(b)
        return b[0]

    def booted(self):
        self._send(OP_BOOTED, b"")

    def reset(self, kind):
        self._send(OP_RESET, kind)

    def wdt(self, timeout_ms=None):
        self._send(OP_WDT, b"" if timeout_ms is None else struct.pack(">I", timeout_ms))
