# Semtech SX126x (SX1261/SX1262) in GFSK packet mode. Sections cite DS_SX1261-2 rev 2.1.
# Every command waits for BUSY low first (§8.3.1), with a bound; reads return the status
# byte after the opcode (§13). Frequency and modulation have no documented getter, so the
# readback reports them from the driver's shadow and says so.
from micropython import const
import time
from subghz import core
from subghz.core import Radio, RadioError

_SET_SLEEP = const(0x84)
_SET_STANDBY = const(0x80)
_SET_TX = const(0x83)
_SET_RX = const(0x82)
_GET_PACKET_TYPE = const(0x11)
_SET_RF_FREQUENCY = const(0x86)
_SET_PACKET_PARAMS = const(0x8C)
_SET_PA_CONFIG = const(0x95)
_SET_TX_PARAMS = const(0x8E)
_CALIBRATE = const(0x89)
_READ_REGISTER = const(0x1D)
_WRITE_BUFFER = const(0x0E)
_GET_IRQ_STATUS = const(0x12)
_CLEAR_IRQ_STATUS = const(0x02)
_GET_DEVICE_ERRORS = const(0x17)
_CLEAR_DEVICE_ERRORS = const(0x07)
_GET_RSSI_INST = const(0x15)
_SET_TCXO = const(0x97)
_SET_DIO2_RF_SWITCH = const(0x9D)

_REG_VERSION = const(0x0320)  # "SX1261 ..." on SX1261 and SX1262 alike (§13.1)
_REG_WHITENING = const(0x06B8)
_REG_SYNC = const(0x06C0)

_PACKET_GFSK = const(0x00)
_IRQ_TX_DONE = const(0x0001)
_IRQ_TIMEOUT = const(0x0200)
_CRC_2_BYTE = const(0x02)
_PREAMBLE_DETECT_16 = const(0x05)
# The GB868 set-up after calibration, one command per entry (opcode, parameters):
# SetPacketType GFSK; CalibrateImage 860-876 MHz (4 MHz units, §9.2.1); buffer bases 0;
# SetModulationParams (§13.4.5): bit rate word 32 x 32 MHz / 100 kbps = 0x002800, pulse
# shape 0x09 (BT 0.5), RxBw 0x0A (234.3 kHz > bitrate + 2 x Fdev + crystal error),
# Fdev word 35 kHz x 2^25 / 32 MHz = 0x008F5C; sync word 0x904E (register 0x06C0); PN9
# whitening seed 0x01FF (0x06B8); CRC init 0x1D0F (0x06BC) and polynomial 0x1021
# (0x06BE); TxDone and Timeout on DIO1 (§13.3.1).
_GB868 = (
    b"\x8a\x00", b"\x98\xd7\xdb", b"\x8f\x00\x00", b"\x8b\x00\x28\x00\x09\x0a\x00\x8f\x5c",
    b"\x0d\x06\xc0\x90\x4e", b"\x0d\x06\xb8\x01\xff", b"\x0d\x06\xbc\x1d\x0f",
    b"\x0d\x06\xbe\x10\x21", b"\x08\x02\x01\x02\x01\x00\x00\x00\x00",
)
_TCXO_MV = (1600, 1700, 1800, 2200, 2400, 2700, 3000, 3300)  # index = DIO3 voltage code
# PA settings (§13.1.14, table 13-21): highest output -> (paDutyCycle, hpMax, offset), the
# SetTxParams power field being output + offset.
_PA_TABLE = ((14, 0x02, 0x02, 8), (17, 0x02, 0x03, 5), (20, 0x03, 0x05, 2), (22, 0x04, 0x07, 0))
_KEEP_BUF = const(24)  # transfer buffers up to this long are kept for reuse
_CAL_TIMEOUT_US = const(50000)  # Calibrate takes up to about 3.5 ms; image cal more


def freq_word(f_hz):
    # RfFreq = f * 2^25 / 32 MHz, exact floor with small integers (docs/reference.md §5)
    q, r = divmod(f_hz, 15625)
    return (q << 14) + ((r << 14) // 15625)


def word_freq(word):
    return (word * 15625) >> 14


class SX126x(Radio):
    CHIP = "sx126x"
    CLEAR_ERRORS = b"\x00\x00"  # ClearDeviceErrors parameters (the STM32WL takes one byte)
    POWER_MIN = -9
    POWER_MAX = 22

    def __init__(self, spi, nss, busy, reset=None, tcxo_mv=0, rf_switch="none",
                 max_power_dbm=14):
        super().__init__(max_power_dbm)
        self._spi = spi
        self._nss = nss
        self._busy_pin = busy
        self._reset = reset
        self._tcxo_mv = tcxo_mv
        self._rf_switch = rf_switch
        # One transfer buffer per command length, made on first use and kept: the LBT window
        # samples RSSI (three commands a sample) inside 5 ms, and garbage made there would
        # start a collection there (micropython-lib's lora drivers preallocate the same way).
        self._bufs = {}
        self._shadow = {}

    # --- bus: the STM32WL variant overrides these three ---
    def _select(self, level):
        self._nss(level)

    def _busy(self):
        return self._busy_pin()

    def _wait_busy(self, timeout_us=Radio.BUSY_TIMEOUT_US):
        # A plain loop (no closure per call); read once more after the deadline, as _wait
        t0 = time.ticks_us()
        while self._busy():
            if time.ticks_diff(time.ticks_us(), t0) > timeout_us:
                if not self._busy():
                    return
                raise RadioError("busy_timeout", "no response within %d us" % timeout_us)

    def _cmd(self, opcode, params=b"", read=0, timeout_us=Radio.BUSY_TIMEOUT_US):
        # One transaction: wait BUSY low, NSS low, opcode + params (+ NOPs to read), NSS
        # high. Returns the transfer buffer: what the chip clocked out, its reply from
        # index 1 + len(params) (the status byte, then data). Valid until the next command.
        self._wait_busy(timeout_us)
        np = len(params)
        n = 1 + np + read
        buf = self._bufs.get(n)
        if buf is None:
            buf = bytearray(n)
            if n <= _KEEP_BUF:  # payload writes (up to 130 bytes) are not kept
                self._bufs[n] = buf
        buf[0] = opcode
        for i in range(np):
            buf[1 + i] = params[i]
        for i in range(1 + np, n):
            buf[i] = 0  # NOPs while the reply is clocked in
        self._select(0)
        try:
            self._spi.write_readinto(buf, buf)
        finally:
            self._select(1)
        return buf

    def _reg(self, addr, n):
        # ReadRegister: opcode, address (2), status, n bytes of data (§13.2.2)
        return bytes(self._cmd(_READ_REGISTER, bytes((addr >> 8, addr & 0xFF)), n + 1)[4:])

    # --- lifecycle ---
    def reset(self):
        # NRESET low for 1 ms (§8.1), then the chip boots into STDBY_RC with BUSY low
        if self._reset is not None:
            self._reset(0)
            time.sleep_ms(1)
            self._reset(1)
            time.sleep_ms(5)
        self._wait_busy(_CAL_TIMEOUT_US)
        self._cmd(_SET_STANDBY, b"\x00")
        self.configured = False
        self._shadow = {}

    def identify(self):
        raw = self._reg(_REG_VERSION, 16)
        if raw in (b"\xff" * 16, b"\x00" * 16):
            raise RadioError("no_chip", "version register reads %s" % raw[:2])
        if not raw.startswith(b"SX126"):
            raise RadioError("wrong_chip", "version %r is not an SX126x" % raw[:8])
        return raw.split(b"\x00")[0].decode()

    def _configure(self):
        self._cmd(_SET_STANDBY, b"\x00")  # STDBY_RC
        if self._tcxo_mv:
            # TCXO supply on DIO3 before calibration (§13.3.6), 5 ms start-up
            self._cmd(_SET_TCXO, bytes((_TCXO_MV.index(self._tcxo_mv), 0x00, 0x01, 0x40)))
        self._cmd(_CLEAR_DEVICE_ERRORS, self.CLEAR_ERRORS)
        self._cmd(_CALIBRATE, b"\x7f")  # all blocks
        self._wait_busy(_CAL_TIMEOUT_US)
        if self._rf_switch == "dio2":
            self._cmd(_SET_DIO2_RF_SWITCH, b"\x01")
        for c in _GB868:
            self._cmd(c[0], c[1:], timeout_us=_CAL_TIMEOUT_US)
        if self._cmd(_GET_PACKET_TYPE, read=2)[2] != _PACKET_GFSK:
            raise RadioError("chip_error", "packet type did not stay GFSK")
        self._shadow["bitrate"] = 32 * 32000000 // 0x2800
        self._shadow["fdev_hz"] = word_freq(0x8F5C)
        self._packet_params(core.PHR_BYTES)
        errors = self.errors()
        if errors:
            raise RadioError("chip_error", "device errors 0x%04X" % errors)

    def _packet_params(self, payload_len):
        # Fixed length: the 802.15.4g PHR travels in the payload (§13.4.6)
        self._cmd(_SET_PACKET_PARAMS, bytes((
            0x00, core.PREAMBLE_BYTES * 8, _PREAMBLE_DETECT_16, core.SYNC_BYTES * 8, 0x00,
            0x00, payload_len, _CRC_2_BYTE, 0x01)))

    def _tune(self, f):
        w = freq_word(f)
        self._cmd(_SET_RF_FREQUENCY, bytes((w >> 24, w >> 16 & 0xFF, w >> 8 & 0xFF, w & 0xFF)))
        self._shadow["freq_hz"] = word_freq(w)

    def _set_power(self, dbm):
        for top, duty, hp_max, offset in _PA_TABLE:
            if dbm <= top:
                break
        self._cmd(_SET_PA_CONFIG, bytes((duty, hp_max, 0x00, 0x01)))
        self._cmd(_SET_TX_PARAMS, bytes(((dbm + offset) & 0xFF, 0x04)))  # 200 us ramp
        self._shadow["power_dbm"] = dbm

    # --- transmit ---
    def _load(self, payload):
        # payload: PHR + PSDU without the CRC, which the chip appends
        self._cmd(_CLEAR_IRQ_STATUS, b"\xff\xff")
        self._cmd(_WRITE_BUFFER, b"\x00" + payload)
        self._packet_params(len(payload))

    def carrier(self):
        return self._shadow.get("freq_hz", self.freq_hz), False

    def _start_tx(self):
        self._rf_tx(True)
        self._cmd(_SET_TX, b"\x00\x00\x00")  # no timeout: one packet, then STDBY

    def _tx_done(self):
        irq = self._cmd(_GET_IRQ_STATUS, read=3)
        if irq[1] == 0xFF:
            # Every bit high: MISO floats, no chip answers (a present chip's status never
            # reads 0xFF: its chip mode 7 is undefined, §13.5.1). Its flags would read as a
            # TX timeout.
            raise RadioError("no_chip", "the chip stopped answering (status 0xFF)")
        flags = irq[2] << 8 | irq[3]
        if flags & _IRQ_TIMEOUT:
            raise RadioError("tx_timeout", "chip reported TX timeout")
        return bool(flags & _IRQ_TX_DONE)

    def _rf_tx(self, tx):
        pass  # DIO2 drives the switch; the WL55 variant drives its GPIO switch

    def standby(self):
        self._rf_tx(False)
        self._cmd(_SET_STANDBY, b"\x00")  # STDBY_RC

    def sleep(self):
        self._cmd(_SET_SLEEP, b"\x04")  # warm start: keeps the configuration

    def rssi(self):
        # Instantaneous RSSI in deci-dBm, in continuous RX on the tuned frequency (§13.5.4)
        if not self.configured:
            raise RadioError("not_configured", "setup() first")
        self._cmd(_SET_RX, b"\xff\xff\xff")
        try:
            time.sleep_us(500)
            raw = self._cmd(_GET_RSSI_INST, read=2)[2]
        finally:
            self.standby()
        return -raw * 5

    def errors(self):
        # GetDeviceErrors bitmask (§13.6.1): 0 RC64K, 1 RC13M, 2 PLL, 3 ADC, 4 IMG calib,
        # 5 XOSC start, 6 PLL lock, 8 PA ramp
        raw = self._cmd(_GET_DEVICE_ERRORS, read=3)
        return raw[2] << 8 | raw[3]

    def readback(self):
        ptype = self._cmd(_GET_PACKET_TYPE, read=2)[2]
        sync = self._reg(_REG_SYNC, 2)
        white = self._reg(_REG_WHITENING, 2)
        s = self._shadow
        return {
            "chip": self.CHIP,
            "freq_hz": s.get("freq_hz"),
            "bitrate": s.get("bitrate"),
            "fdev_hz": s.get("fdev_hz"),
            "power_dbm": s.get("power_dbm"),
            "packet_type": "gfsk" if ptype == _PACKET_GFSK else "other(%d)" % ptype,
            "sync_word": sync[0] << 8 | sync[1],
            "whitening": white == b"\x01\xff",
            "verified": ["packet_type", "sync_word", "whitening", "errors"],
            "shadow": ["freq_hz", "bitrate", "fdev_hz", "power_dbm"],
            "errors": self.errors(),
        }


class SX1262(SX126x):
    CHIP = "sx1262"
