# Simulated-board ROM (runs inside the MicroPython VM; it is not part of the firmware).
# What a board's C firmware provides and the unix port lacks: machine.SPI, Pin, reset,
# reset_cause, unique_id and WDT, the wire to the rest of the board (the bridge), and the
# flash block device. Kept to what the firmware uses (no Pin.irq: edges are not simulated,
# drivers poll): on a real board none of this takes heap, here all of it does.
#
# Bridge messages to the supervisor (host_tools/dbch/sim/bridge.py): op (1 byte), length
# (2 bytes, big-endian), payload; only reads get an answer: length (2 bytes), payload.
from machine import *  # noqa: the port's mem8/16/32, idle, time_pulse_us
import struct
import time

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_CAUSES = {"power_on": 1, "hard": 2, "watchdog": 3, "soft": 5}

_s = None  # the bridge: a socket (unix twin) or UART1 (QEMU twin); write, read, readinto
_cause = 1
_uid = b""
_buses = ()


# Preallocated: a board's C firmware takes no heap to drive a pin or an SPI transfer, so
# the twin's ROM must not either (the drivers' hot paths run under micropython.heap_lock
# in the tests).
_io = bytearray(3)  # a message's header out; a pin's level in
_len = bytearray(2)  # a reply's length


# No branch or loop from a message's first byte to its reply's last, in these two and in
# every caller. A board's GPIO and SPI are C: a Ctrl-C waits until the transfer is done.
# MicroPython raises a pending KeyboardInterrupt at the next jump in the bytecode, and the
# QEMU twin's UART interrupt makes one pending at any moment: raised between a message's
# bytes, it left the bridge out of step, the next message read this one's answer and
# raised OSError in place of the KeyboardInterrupt, which a driver's handler took; the
# agent ran on and mpremote's Ctrl-C was lost (tests/test_boot_window.py).
def _send(op, a, b=b""):
    n = len(a) + len(b)
    h = _io
    h[0] = op
    h[1] = n >> 8
    h[2] = n & 0xFF
    _s.write(h)
    _s.write(a)
    _s.write(b)  # (empty: nothing is sent)


def _reply(buf, n):
    # the answer to the last message: n bytes into buf, its length checked once all of it
    # is in (so that no jump comes before its last byte)
    _s.readinto(_len, 2)
    _s.readinto(buf, n)
    if (_len[0] << 8 | _len[1]) != n:
        raise OSError(5)  # EIO: the board's wiring answered with the wrong length


# The board this twin stands in for: what a twin answers that a real board's machine
# module has not (the host's boards/identity.py reads it over the raw REPL).
TWIN_OF = None


def setup(bridge, cause, uid, buses, twin_of=None):
    global _s, _cause, _uid, _buses, TWIN_OF
    _s = bridge
    _cause = _CAUSES.get(cause, 1)
    _uid = uid
    _buses = buses
    TWIN_OF = twin_of


def pin_set(name, v):
    # Answered (empty) before the VM goes on, as a board's GPIO write is done when the CPU
    # moves to its next instruction: without it the VM ran ahead of the board, and a chip
    # command that chip select's rising edge executes began later than the driver timed it.
    level = b"\x01" if v else b"\x00"  # (before the message: see _send)
    _send(0x50, level, name)  # 'P'
    _reply(_io, 0)


def pin_get(name):
    _send(0x47, name)  # 'G'
    _reply(_io, 1)
    return _io[0]


def config():
    # The board's set-up from the supervisor (QEMU twins, which have no environment):
    # "name=value" lines.
    _send(0x43, b"")  # 'C'
    n = _s.read(2)
    buf = bytearray(n[0] << 8 | n[1])
    _s.readinto(buf)
    return dict(line.split("=", 1) for line in buf.decode().split("\n") if line)


def booted():
    _send(0x42, b"")  # 'B': the host's bytes may now reach the VM


def ctrl_c():
    # tests: a Ctrl-C on the console, delivered before this returns (the boot window)
    _send(0x49, b"")
    _reply(_io, 0)


def reset_cause():
    return _cause


def unique_id():
    return _uid


def _reset(kind):
    _send(0x52, kind)  # 'R': the supervisor stops this VM and starts another
    while True:
        time.sleep(1)


def reset():
    _reset(b"h")


def soft_reset():
    _reset(b"s")


# Only the names the firmware uses: every name here is an interned string in the twin's
# heap (C in flash on a board), and the interned-name table grows in steps of several KB.
class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        self._name = str(id).encode()
        if value is not None:
            pin_set(self._name, value)

    def value(self, v=None):
        if v is None:
            return pin_get(self._name)
        pin_set(self._name, v)

    __call__ = value

    def on(self):
        pin_set(self._name, 1)

    def off(self):
        pin_set(self._name, 0)


class SPI:
    def __init__(self, id, baudrate=1000000, *, polarity=0, phase=0, sck=None, mosi=None,
                 miso=None):
        name = str(id).encode()
        if name not in _buses:
            raise ValueError("SPI(%s) doesn't exist" % id)
        self._bus = bytes((len(name),)) + name  # bridge payload prefix: length, name

    def write(self, buf):
        _send(0x57, self._bus, buf)  # 'W': MISO discarded, an empty answer (as pin_set)
        _reply(_io, 0)

    def write_readinto(self, wbuf, rbuf):
        _send(0x53, self._bus, wbuf)  # 'S': MOSI out, MISO back
        _reply(rbuf, len(rbuf))

    def readinto(self, buf, write=0):
        self.write_readinto(bytes((write,)) * len(buf), buf)

    def read(self, n, write=0):
        buf = bytearray(n)
        self.readinto(buf, write)
        return bytes(buf)


class WDT:
    def __init__(self, id=0, timeout=5000):
        _send(0x44, struct.pack(">I", timeout))  # 'D': start

    def feed(self):
        _send(0x44, b"")


class FlashBlocks:
    # The board's flash as a file-backed block device (littlefs's extended interface: reads
    # and writes always carry the offset; an erase is ioctl 6).
    #
    # No method here contains a branch or a loop. A board's flash driver is C, so a Ctrl-C
    # (a pending KeyboardInterrupt) waits until littlefs has finished its operation; in
    # Python, MicroPython raises a pending exception at the next jump in the bytecode, and
    # one raised inside these callbacks unwinds littlefs halfway through a commit. Its
    # state in RAM is then wrong, and the next writes in the same boot (deploy's, after it
    # interrupts the agent) damage the filesystem on flash: a file read back with another
    # file's bytes (docs/boards.md). tests/test_sim_board.py checks the shape.
    def __init__(self, f, block_size, count):
        self._f = f
        self._bs = block_size
        self._n = count
        # An erased run, written as many times as a block needs by map() (C, not a loop in
        # bytecode): a board's flash driver takes no heap to erase, so this stays small.
        blank = b"\xff" * min(block_size, 256)
        self._blanks = (blank,) * (block_size // len(blank))
        self._ioctl = {4: FlashBlocks._count, 5: FlashBlocks._size, 6: FlashBlocks._erase}

    def readblocks(self, n, buf, off=0):
        self._f.seek(n * self._bs + off)
        self._f.readinto(buf)

    def writeblocks(self, n, buf, off=0):
        self._f.seek(n * self._bs + off)
        self._f.write(buf)

    def ioctl(self, op, arg):
        return self._ioctl.get(op, FlashBlocks._none)(self, arg)

    def _count(self, arg):
        return self._n

    def _size(self, arg):
        return self._bs

    def _erase(self, arg):
        self._f.seek(arg * self._bs)
        all(map(self._f.write, self._blanks))
        return 0

    def _none(self, arg):
        return 0
