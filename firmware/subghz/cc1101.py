# TI CC1101 (26 MHz crystal). Sections cite SWRS061I. Header byte: bit 7 read, bit 6
# burst, bits 5:0 address; the chip clocks its status byte out during every header byte
# (§10.1). The carrier is FREQ + CHANNR x channel spacing + FREQOFF, so all three are read
# back before a transmission and CHANNR and FREQOFF are kept at zero.
from micropython import const
import time
from subghz import core
from subghz.core import Radio, RadioError

_IOCFG0 = const(0x02)
_SYNC1 = const(0x04)
_PKTLEN = const(0x06)
_PKTCTRL1 = const(0x07)
_PKTCTRL0 = const(0x08)
_CHANNR = const(0x0A)
_FSCTRL0 = const(0x0C)
_FREQ2 = const(0x0D)
_MDMCFG4 = const(0x10)
_MDMCFG3 = const(0x11)
_MDMCFG2 = const(0x12)
_MDMCFG1 = const(0x13)
_DEVIATN = const(0x15)
_MCSM1 = const(0x17)
_MCSM0 = const(0x18)
_PATABLE = const(0x3E)
_FIFO = const(0x3F)
_SRES = const(0x30)
_SCAL = const(0x33)
_SRX = const(0x34)
_STX = const(0x35)
_SIDLE = const(0x36)
_SPWD = const(0x39)
_SFTX = const(0x3B)
_SNOP = const(0x3D)
_PARTNUM = const(0xF0)  # status registers: address | 0xC0 (read + burst) (§10.3)
_VERSION = const(0xF1)
_RSSI = const(0xF4)
_MARCSTATE = const(0xF5)
_TXBYTES = const(0xFA)
_READ = const(0x80)
_BURST = const(0x40)
_MARC_IDLE = const(0x01)
_MARC_TX = const(0x13)
_CHIP_RDYN = const(0x80)
# PATABLE byte -> dBm at 868 MHz (DN013 / SWRS061I table 39); ordered by power
_PA_868 = ((-30, 0x03), (-20, 0x0F), (-15, 0x1E), (-10, 0x27), (0, 0x50), (5, 0x86),
           (7, 0xCD), (10, 0xC2), (12, 0xC0))


def freq_word(f_hz):
    # FREQ = f x 2^16 / 26 MHz, exact floor with small integers (docs/reference.md §5)
    q, r = divmod(f_hz, 203125)
    return (q << 9) + ((r << 9) // 203125)


def word_freq(word):
    return (word * 203125) >> 9


class CC1101(Radio):
    CHIP = "cc1101"
    FREQ_MIN = 779000000  # the 868/915 MHz synthesiser band (§22, table 2)
    FREQ_MAX = 928000000
    POWER_MIN = -30
    POWER_MAX = 12
    VERSION = 0x14

    def __init__(self, spi, cs, gdo0=None, max_power_dbm=10):
        super().__init__(max_power_dbm)
        self._spi = spi
        self._cs = cs
        self._b1 = bytearray(1)  # a strobe or the status byte: the hot path (RSSI), no heap
        self._b2 = bytearray(2)  # one register
        # gdo0 is wired as an input (the board module makes the Pin); the driver reads the
        # chip's state over SPI instead, so it keeps no reference to it.

    def _xfer_into(self, buf):
        # buf out, what the chip clocks back into the same buffer
        self._cs(0)
        try:
            self._spi.write_readinto(buf, buf)
        finally:
            self._cs(1)
        return buf

    def _status(self):
        b = self._b1
        b[0] = _SNOP | _READ
        return self._xfer_into(b)[0]

    def _ready(self):
        # CHIP_RDYn in the status byte: low once the crystal runs (§10.1)
        return not self._status() & _CHIP_RDYN

    def _strobe(self, s):
        t0 = time.ticks_us()
        while not self._ready():  # a plain bounded wait: no bound method per call
            if time.ticks_diff(time.ticks_us(), t0) > 5000:
                if self._ready():
                    break
                raise RadioError("busy_timeout", "no response within 5000 us")
        b = self._b1
        b[0] = s
        return self._xfer_into(b)[0]

    def _read(self, addr, n=1):
        head = addr | _READ | (_BURST if n > 1 else 0)
        buf = bytearray(n + 1)  # bursts (configuration, readback) are not the hot path
        buf[0] = head
        return bytes(self._xfer_into(buf)[1:])

    def _reg(self, addr):
        return self._read(addr)[0]

    def _reg2(self, addr):
        b = self._b2
        b[0] = addr
        b[1] = 0
        return self._xfer_into(b)[1]

    def _status_reg(self, addr):
        # Status registers may change while read: read until two reads agree (errata)
        a = self._reg2(addr)
        for _ in range(10):
            b = self._reg2(addr)
            if a == b:
                return a
            a = b
        return a

    def _write(self, addr, data):
        head = addr | (_BURST if len(data) > 1 else 0)
        self._xfer_into(bytearray(bytes((head,)) + data))

    # --- lifecycle ---
    def reset(self):
        self._strobe(_SRES)  # §19.1.2: SRES, then wait for CHIP_RDYn
        time.sleep_ms(1)
        self._wait(self._ready, 10000)
        self.configured = False

    def identify(self):
        part = self._status_reg(_PARTNUM)
        version = self._status_reg(_VERSION)
        if version in (0x00, 0xFF):
            raise RadioError("no_chip", "VERSION reads 0x%02X" % version)
        if part != 0x00 or version != self.VERSION:
            raise RadioError("wrong_chip", "PARTNUM 0x%02X VERSION 0x%02X" % (part, version))
        return "cc1101 v0x%02X" % version

    def _configure(self):
        self._strobe(_SIDLE)
        self._set_many((
            (_IOCFG0, 0x06),  # GDO0 asserts on sync sent, deasserts at packet end
            (_SYNC1, core.SYNC_WORD >> 8),
            (_SYNC1 + 1, core.SYNC_WORD & 0xFF),
            (_PKTCTRL1, 0x04),  # append status, no address check
            (_PKTCTRL0, 0x44),  # whitening, packet mode, CRC on, fixed length
            (_CHANNR, 0x00),
            (_FSCTRL0, 0x00),  # FREQOFF 0
            (_MDMCFG4, 0x7B),  # 232 kHz filter, DRATE_E 11 (§12)
            (_MDMCFG3, 0xF8),  # DRATE_M: (256 + 248) x 2^11 x 26 MHz / 2^28 = 99.98 kBaud
            (_MDMCFG2, 0x12),  # GFSK, 16/16 sync bits
            (_MDMCFG1, 0x42),  # 8 preamble bytes, CHANSPC_E 2
            (_DEVIATN, 0x43),  # 26 MHz / 2^17 x (8 + 3) x 2^4 = 34.9 kHz
            (_MCSM1, 0x00),  # CCA always clear (LBT is the agent's), IDLE after RX and TX
            (_MCSM0, 0x18),  # calibrate IDLE -> RX/TX, no pin control
        ))
        self._strobe(_SCAL)
        self._wait(lambda: self._status_reg(_MARCSTATE) & 0x1F == _MARC_IDLE, 10000)

    def _set_many(self, pairs):
        for addr, value in pairs:
            self._write(addr, bytes((value,)))
        for addr, value in pairs:
            if self._reg(addr) != value:
                raise RadioError("readback_mismatch", "register 0x%02X" % addr)

    def _tune(self, f):
        w = freq_word(f)
        self._strobe(_SIDLE)
        self._write(_FREQ2, bytes((w >> 16, w >> 8 & 0xFF, w & 0xFF)))

    def _set_power(self, dbm):
        code = _PA_868[0][1]
        for level, c in _PA_868:
            if level <= dbm:
                code = c
        self._write(_PATABLE, bytes((code,)))

    def carrier(self):
        f = self._read(_FREQ2, 3)
        base = word_freq(f[0] << 16 | f[1] << 8 | f[2])
        if self._reg(_CHANNR) or self._reg(_FSCTRL0):
            raise RadioError("readback_mismatch", "CHANNR/FREQOFF moved the carrier")
        return base, True

    # --- transmit ---
    def _load(self, payload):
        self._strobe(_SIDLE)
        self._strobe(_SFTX)
        self._write(_PKTLEN, bytes((len(payload),)))
        self._write(_FIFO, payload)

    def _start_tx(self):
        self._strobe(_STX)

    def _tx_done(self):
        return self._status_reg(_MARCSTATE) & 0x1F == _MARC_IDLE

    def standby(self):
        self._strobe(_SIDLE)

    def sleep(self):
        self._strobe(_SPWD)

    def rssi(self):
        if not self.configured:
            raise RadioError("not_configured", "setup() first")
        self._strobe(_SRX)
        try:
            time.sleep_us(800)
            raw = self._status_reg(_RSSI)  # §17.3: two's complement, 0.5 dB, offset 74
        finally:
            self.standby()
        raw = raw - 256 if raw >= 128 else raw
        return raw * 5 - 740

    def readback(self):
        f = self._read(_FREQ2, 3)
        m4, m3, m2 = self._read(_MDMCFG4, 3)
        dev = self._reg(_DEVIATN)
        pa = self._read(_PATABLE)[0]
        sync = self._read(_SYNC1, 2)
        rate = ((256 + m3) << (m4 & 0x0F)) * 26000000 >> 28
        fdev = (26000000 * (8 + (dev & 7)) << (dev >> 4 & 7)) >> 17
        power = None
        for level, c in _PA_868:
            if c == pa:
                power = level
        return {
            "chip": self.CHIP,
            "freq_hz": word_freq(f[0] << 16 | f[1] << 8 | f[2]),
            "bitrate": rate,
            "fdev_hz": fdev,
            "power_dbm": power,
            "packet_type": "gfsk" if m2 >> 4 & 7 == 1 else "other",
            "sync_word": sync[0] << 8 | sync[1],
            "whitening": bool(self._reg(_PKTCTRL0) & 0x40),
            "verified": ["freq_hz", "bitrate", "fdev_hz", "power_dbm", "packet_type",
                         "sync_word", "whitening"],
            "shadow": [],
            "errors": 0,
        }
