# Shared logic of the Sub-GHz drivers: the GB868 PHY, argument checks, the last-moment
# transmit guard, airtime, and the readback format. Chip modules implement the _methods.
# GB868 PHY (docs/reference.md §2): 2-GFSK BT 0.5, 100 kbps, 35 kHz deviation, 8 octets of
# preamble, SFD 0x904E, 2-octet PHR, PN9 whitening, 2-octet CRC, PSDU up to 127 octets.
from micropython import const
import time

BITRATE = const(100000)
FDEV_HZ = const(35000)
PREAMBLE_BYTES = const(8)
SYNC_WORD = const(0x904E)
SYNC_BYTES = const(2)
PHR_BYTES = const(2)
CRC_BYTES = const(2)
MAX_PSDU = const(127)  # includes the 2-octet CRC the chip appends
BITRATE_TOL = const(200)  # bps: the chips' rate dividers land within this of 100 kbps
FDEV_TOL = const(500)  # Hz
FREQ_TOL = const(500)  # Hz: larger than any chip's synthesiser step (CC1101: 397 Hz)


# The GB band policy (the March 2018 SEC decision): the 915 MHz band is masked in every CSP
# region. A build option, deliberately not a command or a configuration value: lifting it
# means building different firmware. A carrier is refused when any part of its occupied
# band (centre +/- HALF_BW_HZ, about 100 kHz for 100 kbps GFSK) touches a masked band.
# It lives here, with the drivers' shared checks, so that no driver can lose it: the edges
# are const() names with a leading underscore (compiled, they are literals inside masked(),
# not module variables), and the checks below take masked() as a default argument bound
# when this module runs, so rebinding core.masked at a REPL reaches none of them.
# MASKED_BANDS and HALF_BW_HZ are copies for reports and tests only.
MASK_915 = const(1)
_LO_HZ = const(915000000)
_HI_HZ = const(921000000)
_HALF_BW_HZ = const(100000)
HALF_BW_HZ = _HALF_BW_HZ
MASKED_BANDS = ((_LO_HZ, _HI_HZ),) if MASK_915 else ()


def masked(freq_hz):
    return MASK_915 and freq_hz + _HALF_BW_HZ > _LO_HZ and freq_hz - _HALF_BW_HZ < _HI_HZ


class RadioError(Exception):
    # code: no_chip, wrong_chip, busy_timeout, chip_error, bad_frequency, masked_band,
    # bad_power, bad_bitrate, too_long, tx_timeout, readback_mismatch, not_configured
    def __init__(self, code, msg=""):
        super().__init__(code, msg)
        self.code = code
        self.msg = msg


def airtime_us(psdu_len, bitrate=BITRATE):
    # (8 preamble + 2 SFD + 2 PHR + PSDU) octets; PSDU includes the 2-octet CRC.
    return (PREAMBLE_BYTES + SYNC_BYTES + PHR_BYTES + psdu_len) * 8000000 // bitrate


def phr(psdu_len):
    # 802.15.4g PHR: mode switch 0, FCS type 1 (2-octet), data whitening 1, 11-bit length.
    return bytes((0x18 | (psdu_len >> 8 & 0x07), psdu_len & 0xFF))


class Radio:
    CHIP = "?"
    FREQ_MIN = 150000000
    FREQ_MAX = 960000000
    POWER_MIN = -9
    POWER_MAX = 22
    BUSY_TIMEOUT_US = 20000

    def __init__(self, max_power_dbm=14):
        self.board_max_dbm = max_power_dbm
        self.freq_hz = None
        self.power_dbm = None
        self.configured = False
        # The agent's transmit gate: .before(radio, airtime_us) runs before the frame is
        # loaded (listen-before-talk, duty cycle), .last(freq_hz, verified, airtime_us) just
        # before the chip is told to send. Either raises to refuse.
        self.tx_guard = None

    # --- checks shared by every chip ---
    def _check_freq(self, f, _masked=masked):  # (bound here: see masked())
        if type(f) is not int or not self.FREQ_MIN <= f <= self.FREQ_MAX:
            raise RadioError("bad_frequency", "%s Hz outside %d..%d" % (f, self.FREQ_MIN,
                                                                        self.FREQ_MAX))
        if _masked(f):
            raise RadioError("masked_band", "%d Hz is in a masked band" % f)

    def _check_power(self, dbm):
        hi = min(self.POWER_MAX, self.board_max_dbm)
        if type(dbm) is not int or not self.POWER_MIN <= dbm <= hi:
            raise RadioError("bad_power", "%s dBm outside %d..%d" % (dbm, self.POWER_MIN, hi))

    def _wait(self, ready, timeout_us, code="busy_timeout"):
        # Bounded wait on a pin or flag: a stuck line is an error, never a hang. After the
        # deadline the line is read once more: a pause of this loop (a garbage collection,
        # an interrupt, a loaded host under a simulated board) must not pass for a timeout.
        t0 = time.ticks_us()
        while not ready():
            if time.ticks_diff(time.ticks_us(), t0) > timeout_us:
                if ready():
                    return
                raise RadioError(code, "no response within %d us" % timeout_us)

    # --- the interface the agent uses ---
    def setup(self, power_dbm):
        # Reset, identify, configure the GB868 PHY and power; radio left in standby.
        self._check_power(power_dbm)
        try:
            self.reset()
            self.identify()
            self._configure()
            self.set_power(power_dbm)
            self.configured = True
        except Exception:
            self.configured = False
            self._safe_standby()
            raise

    def tune(self, freq_hz):
        self._check_freq(freq_hz)
        self._tune(freq_hz)
        self.freq_hz = freq_hz

    def set_power(self, dbm):
        self._check_power(dbm)
        self._set_power(dbm)
        self.power_dbm = dbm

    def transmit(self, psdu, _masked=masked):
        # One frame. The carrier is read back from the chip (or the driver's shadow where
        # the chip has no getter) and checked against the band policy and the agent's
        # guard at the last moment before the chip is told to send.
        n = len(psdu) + CRC_BYTES
        if n > MAX_PSDU:
            raise RadioError("too_long", "PSDU of %d octets (max %d)" % (n, MAX_PSDU))
        if not self.configured or self.freq_hz is None:
            raise RadioError("not_configured", "setup() and tune() first")
        air = airtime_us(n, BITRATE)
        guard = self.tx_guard
        try:
            if guard is not None:
                guard.before(self, air)
            self._load(phr(n) + psdu)
            freq, verified = self.carrier()
            if _masked(freq):
                raise RadioError("masked_band", "carrier %d Hz is in a masked band" % freq)
            if guard is not None:
                guard.last(freq, verified, air)
        except Exception:
            self._safe_standby()
            raise
        try:
            self._start_tx()
            time.sleep_us(air)
            self._wait(self._tx_done, 20000, "tx_timeout")
        finally:
            self._safe_standby()
        return air

    def _safe_standby(self):
        try:
            self.standby()
        except Exception:
            pass

    # Chip modules implement: reset(), identify() -> name, standby(), sleep(),
    # rssi() -> deci-dBm, carrier() -> (freq_hz, read from the chip?), readback() -> dict
    # (freq_hz, bitrate, fdev_hz, power_dbm, packet_type, sync_word, whitening, errors as a
    # chip bitmask, verified and shadow name lists), and the steps _configure, _tune(f),
    # _set_power(dbm), _load(payload), _start_tx(), _tx_done() -> bool.
