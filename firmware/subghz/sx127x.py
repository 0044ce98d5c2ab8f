# Semtech SX1276/77/78/79 (and the RFM95W module) in FSK packet mode. Sections cite the
# SX1276 datasheet rev 7. Registers are read back after every write that matters, so the
# readback is verified from the chip, frequency included.
from micropython import const
import time
from subghz import core
from subghz.core import Radio, RadioError

_FIFO = const(0x00)
_OP_MODE = const(0x01)
_BITRATE_MSB = const(0x02)
_FDEV_MSB = const(0x04)
_FRF_MSB = const(0x06)
_PA_CONFIG = const(0x09)
_PA_RAMP = const(0x0A)
_RSSI_VALUE = const(0x11)
_RX_BW = const(0x12)
_PREAMBLE_MSB = const(0x25)
_SYNC_CONFIG = const(0x27)
_SYNC_VALUE1 = const(0x28)
_PACKET_CONFIG1 = const(0x30)
_PACKET_CONFIG2 = const(0x31)
_PAYLOAD_LENGTH = const(0x32)
_FIFO_THRESH = const(0x35)
_SEQ_CONFIG1 = const(0x36)
_IRQ_FLAGS1 = const(0x3E)
_IRQ_FLAGS2 = const(0x3F)
_VERSION = const(0x42)
_PA_DAC = const(0x4D)

_MODE_SLEEP = const(0)
_MODE_STDBY = const(1)
_MODE_TX = const(3)
_MODE_RX = const(5)
_MODE_READY = const(0x80)  # RegIrqFlags1 bit 7 (§4.2.3)
_PACKET_SENT = const(0x08)  # RegIrqFlags2 bit 3
_FSTEP_NUM = const(15625)  # Fstep = 32 MHz / 2^19 = 15625 / 256 Hz


def frf_word(f_hz):
    # Frf = f x 2^19 / 32 MHz, exact floor with small integers (docs/reference.md §5)
    q, r = divmod(f_hz, 15625)
    return (q << 8) + ((r << 8) // 15625)


class SX127x(Radio):
    CHIP = "sx127x"
    VERSION = 0x12
    POWER_MIN = 2  # PA_BOOST: 2..17 dBm, 20 dBm with PaDac high power (§5.4.3)
    POWER_MAX = 20

    def __init__(self, spi, nss, reset=None, max_power_dbm=14):
        super().__init__(max_power_dbm)
        self._spi = spi
        self._nss = nss
        self._reset = reset
        # single-register access, the hot path (RSSI in the LBT window): no heap
        self._b2 = bytearray(2)

    # --- registers (§4.3: address | 0x80 writes, bursts auto-increment) ---
    def _read(self, addr, n=1):
        out = bytearray(n + 1)
        tx = bytearray(n + 1)
        tx[0] = addr & 0x7F
        self._nss(0)
        try:
            self._spi.write_readinto(tx, out)
        finally:
            self._nss(1)
        return bytes(out[1:])

    def _reg(self, addr):
        b = self._b2
        b[0] = addr & 0x7F
        b[1] = 0
        self._nss(0)
        try:
            self._spi.write_readinto(b, b)
        finally:
            self._nss(1)
        return b[1]

    def _write(self, addr, data):
        self._nss(0)
        try:
            self._spi.write(bytes((addr | 0x80,)) + data)
        finally:
            self._nss(1)

    def _set(self, addr, value):
        b = self._b2
        b[0] = addr | 0x80
        b[1] = value
        self._nss(0)
        try:
            self._spi.write(b)
        finally:
            self._nss(1)

    def _mode(self, mode):
        # FSK/OOK mode (LongRangeMode 0), FSK modulation, high-frequency port; a plain
        # bounded wait for ModeReady (no closure per call), read once more at the deadline
        self._set(_OP_MODE, mode)
        t0 = time.ticks_us()
        while not self._reg(_IRQ_FLAGS1) & _MODE_READY:
            if time.ticks_diff(time.ticks_us(), t0) > 10000:
                if self._reg(_IRQ_FLAGS1) & _MODE_READY:
                    return
                raise RadioError("busy_timeout", "no ModeReady within 10000 us")

    # --- lifecycle ---
    def reset(self):
        if self._reset is not None:
            self._reset(0)  # active low for > 100 us (§7.2.2), then 5 ms to ready
            time.sleep_us(200)
            self._reset(1)
            time.sleep_ms(6)
        self.configured = False

    def identify(self):
        v = self._reg(_VERSION)
        if v in (0x00, 0xFF):
            raise RadioError("no_chip", "RegVersion reads 0x%02X" % v)
        if v != self.VERSION:
            raise RadioError("wrong_chip", "RegVersion 0x%02X, expected 0x%02X" % (
                v, self.VERSION))
        return "%s v0x%02X" % (self.CHIP, v)

    def _configure(self):
        self._set(_OP_MODE, _MODE_SLEEP)  # LongRangeMode can only change in sleep
        time.sleep_ms(1)
        self._mode(_MODE_STDBY)
        br = 32000000 // core.BITRATE  # §4.2.1: bit rate = Fxosc / BitRate
        self._write(_BITRATE_MSB, bytes((br >> 8, br & 0xFF)))
        fdev = core.FDEV_HZ * 256 // _FSTEP_NUM  # Fdev = Fstep x value
        self._write(_FDEV_MSB, bytes((fdev >> 8, fdev & 0xFF)))
        self._set(_PA_RAMP, 0x49)  # Gaussian BT 0.5, 40 us ramp
        self._set(_RX_BW, 0x01)  # 250 kHz
        self._write(_PREAMBLE_MSB, bytes((0, core.PREAMBLE_BYTES)))
        self._set(_SYNC_CONFIG, 0x10 | (core.SYNC_BYTES - 1))  # sync on, 2 bytes
        self._write(_SYNC_VALUE1, bytes((core.SYNC_WORD >> 8, core.SYNC_WORD & 0xFF)))
        self._set(_PACKET_CONFIG1, 0x50)  # fixed length, whitening, CRC on
        self._set(_PACKET_CONFIG2, 0x40)  # packet mode
        self._set(_FIFO_THRESH, 0x80)  # TX starts when the FIFO is not empty
        self._set(_SEQ_CONFIG1, 0x00)  # sequencer off: only the driver starts TX
        got = self._read(_BITRATE_MSB, 4)
        if got != bytes((br >> 8, br & 0xFF, fdev >> 8, fdev & 0xFF)):
            raise RadioError("readback_mismatch", "bit rate/deviation registers %s" % got)

    def _tune(self, f):
        w = frf_word(f)
        self._write(_FRF_MSB, bytes((w >> 16, w >> 8 & 0xFF, w & 0xFF)))

    def _set_power(self, dbm):
        if dbm > 17:
            self._set(_PA_DAC, 0x87)  # +20 dBm: Pout = 5 + OutputPower
            self._set(_PA_CONFIG, 0xF0 | (dbm - 5))
        else:
            self._set(_PA_DAC, 0x84)  # Pout = 2 + OutputPower
            self._set(_PA_CONFIG, 0xF0 | (dbm - 2))

    def _frf(self):
        w = self._read(_FRF_MSB, 3)
        return ((w[0] << 16 | w[1] << 8 | w[2]) * _FSTEP_NUM) >> 8

    def carrier(self):
        return self._frf(), True

    # --- transmit ---
    def _load(self, payload):
        self._mode(_MODE_STDBY)
        self._set(_PAYLOAD_LENGTH, len(payload))
        self._write(_FIFO, payload)

    def _start_tx(self):
        self._set(_OP_MODE, _MODE_TX)

    def _tx_done(self):
        return bool(self._reg(_IRQ_FLAGS2) & _PACKET_SENT)

    def standby(self):
        self._set(_OP_MODE, _MODE_STDBY)

    def sleep(self):
        self._set(_OP_MODE, _MODE_SLEEP)

    def rssi(self):
        if not self.configured:
            raise RadioError("not_configured", "setup() first")
        self._mode(_MODE_RX)
        try:
            time.sleep_us(500)
            raw = self._reg(_RSSI_VALUE)  # RSSI = -value / 2 dBm (§4.2.7)
        finally:
            self.standby()
        return -raw * 5

    def readback(self):
        regs = self._read(_BITRATE_MSB, 4)
        br = regs[0] << 8 | regs[1]
        fdev = regs[2] << 8 | regs[3]
        pa = self._reg(_PA_CONFIG)
        dac = self._reg(_PA_DAC)
        sync = self._read(_SYNC_VALUE1, 2)
        op = self._reg(_OP_MODE)
        out = pa & 0x0F
        return {
            "chip": self.CHIP,
            "freq_hz": self._frf(),
            "bitrate": 32000000 // br if br else 0,
            "fdev_hz": fdev * _FSTEP_NUM // 256,
            "power_dbm": (5 + out if dac & 0x07 == 0x07 else 2 + out) if pa & 0x80 else None,
            "packet_type": "lora" if op & 0x80 else "fsk",
            "sync_word": sync[0] << 8 | sync[1],
            "whitening": self._reg(_PACKET_CONFIG1) & 0x60 == 0x40,
            "verified": ["freq_hz", "bitrate", "fdev_hz", "power_dbm", "packet_type",
                         "sync_word", "whitening"],
            "shadow": [],
            "errors": 0,
        }


class SX1276(SX127x):
    CHIP = "sx1276"
