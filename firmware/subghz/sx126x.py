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
_SET_PACKET_TYPE = const(0x8A)
_GET_PACKET_TYPE = const(0x11)
_SET_RF_FREQUENCY = const(0x86)
_SET_MODULATION = const(0x8B)
_SET_PACKET_PARAMS = const(0x8C)
_SET_PA_CONFIG = const(0x95)
_SET_TX_PARAMS = const(0x8E)
_CALIBRATE = const(0x89)
_CALIBRATE_IMAGE = const(0x98)
_WRITE_REGISTER = const(0x0D)
_READ_REGISTER = const(0x1D)
_WRITE_BUFFER = const(0x0E)
_SET_BUFFER_BASE = const(0x8F)
_GET_IRQ_STATUS = const(0x12)
_CLEAR_IRQ_STATUS = const(0x02)
_SET_DIO_IRQ = const(0x08)
_GET_DEVICE_ERRORS = const(0x17)
_CLEAR_DEVICE_ERRORS = const(0x07)
_GET_RSSI_INST = const(0x15)
_SET_TCXO = const(0x97)
_SET_DIO2_RF_SWITCH = const(0x9D)

_REG_VERSION = const(0x0320)  # "SX1261 ..." on SX1261 and SX1262 alike (§13.1)
_REG_WHITENING = const(0x06B8)
_REG_CRC_INIT = const(0x06BC)
_REG_CRC_POLY = const(0x06BE)
_REG_SYNC = const(0x06C0)

_STDBY_RC = const(0x00)
_PACKET_GFSK = const(0x00)
_IRQ_TX_DONE = const(0x0001)
_IRQ_TIMEOUT = const(0x0200)
_PULSE_BT05 = const(0x09)
_RXBW_234K = const(0x0A)  # > bitrate + 2 x Fdev + crystal error (§13.4.5, table 13-45)
_CRC_2_BYTE = const(0x02)
_PREAMBLE_DETECT_16 = const(0x05)
_CALIBRATE_ALL = const(0x7F)
_IMAGE_863_876 = b"\xd7\xdb"  # 4 MHz units: 860..876 MHz (§9.2.1, table 9-2)
_TCXO_CODES = {1600: 0, 1700: 1, 1800: 2, 2200: 3, 2400: 4, 2700: 5, 3000: 6, 3300: 7}
# PA settings (§13.1.14, table 13-21): highest output -> (paDutyCycle, hpMax, offset), the
# SetTxParams power field being output + offset.
_PA_TABLE = ((14, 0x02, 0x02, 8), (17, 0x02, 0x03, 5), (20, 0x03, 0x05, 2), (22, 0x04, 0x07, 0))
_ERRORS = ("rc64k_calib", "rc13m_calib", "pll_calib", "adc_calib", "img_calib",
           "xosc_start", "pll_lock", "", "pa_ramp")
_CAL_TIMEOUT_US = const(50000)  # Calibrate takes up to about 3.5 ms; image cal more


def freq_word(f_hz):
    # RfFreq = f * 2^25 / 32 MHz, exact floor with small integers (docs/radios.md §0)
    q, r = divmod(f_hz, 15625)
    return (q << 14) + ((r << 14) // 15625)


def word_freq(word):
    return (word * 15625) >> 14


class SX126x(Radio):
    CHIP = "sx126x"
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
        self._buf = bytearray(260)
        self._shadow = {}

    @classmethod
    def from_board(cls, board):
        from machine import Pin, SPI

        p = board.PINS
        spi = SPI(board.SPI_BUS, baudrate=board.SPI_BAUDRATE, polarity=0, phase=0,
                  sck=Pin(p["sck"]), mosi=Pin(p["mosi"]), miso=Pin(p["miso"]))
        return cls(spi, Pin(p["nss"], Pin.OUT, value=1), Pin(p["busy"], Pin.IN),
                   Pin(p["reset"], Pin.OUT, value=1), board.TCXO_MV, board.RF_SWITCH,
                   board.MAX_TX_DBM)

    # --- bus: the STM32WL variant overrides these three ---
    def _select(self, level):
        self._nss(level)

    def _busy(self):
        return self._busy_pin()

    def _wait_busy(self, timeout_us=Radio.BUSY_TIMEOUT_US):
        self._wait(lambda: not self._busy(), timeout_us)

    def _cmd(self, opcode, params=b"", read=0, timeout_us=Radio.BUSY_TIMEOUT_US):
        # One transaction: wait BUSY low, NSS low, opcode + params (+ NOPs to read), NSS
        # high. Returns the bytes clocked in after the opcode and params.
        self._wait_busy(timeout_us)
        n = 1 + len(params) + read
        out = memoryview(self._buf)[:n]
        tx = bytearray(n)
        tx[0] = opcode
        tx[1 : 1 + len(params)] = params
        self._select(0)
        try:
            self._spi.write_readinto(tx, out)
        finally:
            self._select(1)
        return bytes(out[1 + len(params) :])

    def _read_reg(self, addr, n):
        # ReadRegister: opcode, address (2), then status, then the data (§13.2.2)
        return self._cmd(_READ_REGISTER, bytes((addr >> 8, addr & 0xFF)), n + 1)[1:]

    def _write_reg(self, addr, data):
        self._cmd(_WRITE_REGISTER, bytes((addr >> 8, addr & 0xFF)) + data)

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
        raw = self._read_reg(_REG_VERSION, 16)
        if raw in (b"\xff" * 16, b"\x00" * 16):
            raise RadioError("no_chip", "version register reads %s" % raw[:2])
        if not raw.startswith(b"SX126"):
            raise RadioError("wrong_chip", "version %r is not an SX126x" % raw[:8])
        return raw.split(b"\x00")[0].decode()

    def _configure(self):
        self._cmd(_SET_STANDBY, bytes((_STDBY_RC,)))
        if self._tcxo_mv:
            # TCXO supply on DIO3 before calibration (§13.3.6), 5 ms start-up
            self._cmd(_SET_TCXO, bytes((_TCXO_CODES[self._tcxo_mv], 0x00, 0x01, 0x40)))
        self._cmd(_CLEAR_DEVICE_ERRORS, self._clear_errors_params())
        self._cmd(_CALIBRATE, bytes((_CALIBRATE_ALL,)))
        self._wait_busy(_CAL_TIMEOUT_US)
        if self._rf_switch == "dio2":
            self._cmd(_SET_DIO2_RF_SWITCH, b"\x01")
        self._cmd(_SET_PACKET_TYPE, bytes((_PACKET_GFSK,)))
        if self._cmd(_GET_PACKET_TYPE, read=2)[1] != _PACKET_GFSK:
            raise RadioError("chip_error", "packet type did not stay GFSK")
        self._cmd(_CALIBRATE_IMAGE, _IMAGE_863_876)
        self._wait_busy(_CAL_TIMEOUT_US)
        self._cmd(_SET_BUFFER_BASE, b"\x00\x00")
        # GFSK modulation (§13.4.5): bit rate word = 32 x Fxtal / bitrate, BT 0.5, RxBw,
        # Fdev word = Fdev x 2^25 / Fxtal
        br = 32 * 32000000 // core.BITRATE
        fdev = freq_word(core.FDEV_HZ)
        self._cmd(_SET_MODULATION, bytes((br >> 16, br >> 8 & 0xFF, br & 0xFF, _PULSE_BT05,
                                          _RXBW_234K, fdev >> 16, fdev >> 8 & 0xFF,
                                          fdev & 0xFF)))
        self._shadow["bitrate"] = 32 * 32000000 // br
        self._shadow["fdev_hz"] = word_freq(fdev)
        self._packet_params(core.PHR_BYTES)
        self._write_reg(_REG_SYNC, bytes((core.SYNC_WORD >> 8, core.SYNC_WORD & 0xFF)))
        self._write_reg(_REG_WHITENING, b"\x01\xff")  # PN9, seed all ones
        self._write_reg(_REG_CRC_INIT, b"\x1d\x0f")
        self._write_reg(_REG_CRC_POLY, b"\x10\x21")
        # TxDone and Timeout on DIO1 (§13.3.1)
        self._cmd(_SET_DIO_IRQ, bytes((0x02, 0x01, 0x02, 0x01, 0, 0, 0, 0)))
        errors = self.errors()
        if errors:
            raise RadioError("chip_error", ",".join(errors))

    def _clear_errors_params(self):
        return b"\x00\x00"

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
        flags = irq[1] << 8 | irq[2]
        if flags & _IRQ_TIMEOUT:
            raise RadioError("tx_timeout", "chip reported TX timeout")
        return bool(flags & _IRQ_TX_DONE)

    def _rf_tx(self, tx):
        pass  # DIO2 drives the switch; the WL55 variant drives its GPIO switch

    def standby(self):
        self._rf_tx(False)
        self._cmd(_SET_STANDBY, bytes((_STDBY_RC,)))

    def sleep(self):
        self._cmd(_SET_SLEEP, b"\x04")  # warm start: keeps the configuration

    def rssi(self):
        # Instantaneous RSSI in deci-dBm, in continuous RX on the tuned frequency (§13.5.4)
        if not self.configured:
            raise RadioError("not_configured", "setup() first")
        self._cmd(_SET_RX, b"\xff\xff\xff")
        try:
            time.sleep_us(500)
            raw = self._cmd(_GET_RSSI_INST, read=2)[1]
        finally:
            self.standby()
        return -raw * 5

    def errors(self):
        raw = self._cmd(_GET_DEVICE_ERRORS, read=3)
        bits = raw[1] << 8 | raw[2]
        return [_ERRORS[i] for i in range(len(_ERRORS)) if bits >> i & 1 and _ERRORS[i]]

    def readback(self):
        ptype = self._cmd(_GET_PACKET_TYPE, read=2)[1]
        sync = self._read_reg(_REG_SYNC, 2)
        white = self._read_reg(_REG_WHITENING, 2)
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
