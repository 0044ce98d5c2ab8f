# Simulated-board ROM: the `machine` module the firmware sees on a simulated board.
# The unix port's own machine module has no SPI, Pin, reset or unique_id; this one adds
# them, wired to the supervisor through the bridge, with the names and signatures of
# MicroPython's ports so the same driver code runs here and on a real board.
from machine import *  # noqa: the unix port's mem8/16/32, idle, time_pulse_us
import time

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_bridge = None
_cause = PWRON_RESET
_uid = b""
_buses = ()
_CAUSES = {"power_on": PWRON_RESET, "hard": HARD_RESET, "watchdog": WDT_RESET,
           "soft": SOFT_RESET}


def setup(bridge, cause, uid, buses):
    global _bridge, _cause, _uid, _buses
    _bridge = bridge
    _cause = _CAUSES.get(cause, PWRON_RESET)
    _uid = uid
    _buses = buses


def reset_cause():
    return _cause


def unique_id():
    return _uid


def freq():
    return 64000000


def reset():
    _bridge.reset(b"h")
    while True:  # the supervisor stops this VM; nothing after reset() ever runs
        time.sleep(1)


def soft_reset():
    _bridge.reset(b"s")
    while True:
        time.sleep(1)


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        self._name = str(id).encode()
        if value is not None:
            self.value(value)

    def init(self, mode=-1, pull=-1, *, value=None):
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return _bridge.pin_get(self._name)
        _bridge.pin_set(self._name, v)

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        _bridge.pin_set(self._name, 1)

    def off(self):
        _bridge.pin_set(self._name, 0)

    def irq(self, handler=None, trigger=3):
        # Edges are not delivered on the simulated board: drivers poll (documented).
        return None

    def __repr__(self):
        return "Pin(%s)" % self._name.decode()


class SPI:
    MSB = 0
    LSB = 1

    def __init__(self, id, baudrate=1000000, *, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        name = str(id).encode()
        if name not in _buses:
            raise ValueError("SPI(%s) doesn't exist" % id)
        self._bus = bytes((len(name),)) + name  # bridge payload prefix: length, name

    def init(self, *args, **kw):
        pass

    def deinit(self):
        pass

    def write(self, buf):
        _bridge.write(self._bus, buf)

    def readinto(self, buf, write=0):
        _bridge.xfer(self._bus, bytes((write,)) * len(buf), buf)

    def read(self, n, write=0):
        buf = bytearray(n)
        self.readinto(buf, write)
        return bytes(buf)

    def write_readinto(self, wbuf, rbuf):
        _bridge.xfer(self._bus, wbuf, rbuf)


class WDT:
    def __init__(self, id=0, timeout=5000):
        _bridge.wdt(timeout)

    def feed(self):
        _bridge.wdt()
