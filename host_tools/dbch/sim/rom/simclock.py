# Simulated-board ROM: the `time` module when the bench clock runs faster than real time
# (dbch sim start --clock-scale N). Board time = N x real time: ticks restart at 0 on each
# reset as on an MCU, and the wall clock follows the bench's shared clock so every board
# and the air log agree on it. Sleeps are shortened by the same factor.
import time as _t

_scale = 1
_t0 = 0
_epoch0 = 0
_PERIOD = _t.ticks_add(0, -1) + 1

ticks_diff = _t.ticks_diff
ticks_add = _t.ticks_add
mktime = _t.mktime


def setup(scale, epoch0_ns):
    global _scale, _t0, _epoch0
    _scale = scale
    _t0 = _t.time_ns()
    _epoch0 = epoch0_ns


def _ns():
    return (_t.time_ns() - _t0) * _scale


def ticks_ms():
    return (_ns() // 1000000) % _PERIOD


def ticks_us():
    return (_ns() // 1000) % _PERIOD


def ticks_cpu():
    return ticks_us()


def time_ns():
    return _epoch0 + (_t.time_ns() - _epoch0) * _scale


def time():
    return time_ns() // 1000000000


def gmtime(secs=None):
    return _t.gmtime(time() if secs is None else secs)


def localtime(secs=None):
    return _t.localtime(time() if secs is None else secs)


def sleep(s):
    _t.sleep(s / _scale)


def sleep_ms(ms):
    _t.sleep_us(int(ms * 1000 // _scale))


def sleep_us(us):
    _t.sleep_us(int(us // _scale))
