# The agent's hold on the radio. It brings the radio up for the configuration in force,
# tunes the operating channel, reads everything back and compares it with what the GB868
# PHY and the channel require. Any mismatch or chip error locks the radio: nothing is
# transmitted until it verifies again (a new configuration, a reset). Without a
# configuration the radio stays off.
from micropython import const
from dbchagent import channel_mask
from subghz import core
from subghz.core import RadioError

OFF = "off"
READY = "ready"
LOCKED = "locked"
_VERIFY_MS = const(10000)


class RadioCtl:
    def __init__(self, board):
        self.board = board
        self.radio = None
        self.state = OFF
        self.reason = "unconfigured"
        self.readback = None
        self.power_dbm = None
        self.expect_hz = None
        self._next_verify = 0
        try:
            self.radio = board.radio()  # the generated board module wires the driver
            self.radio.reset()  # a known, quiet state: the chip transmits nothing
        except Exception as e:
            self.lock("radio not available: %s" % _why(e))

    def lock(self, why):
        self.state = LOCKED
        self.reason = why
        if self.radio is not None:
            self.radio._safe_standby()

    def off(self, why):
        self.state = OFF
        self.reason = why
        if self.radio is not None:
            self.radio._safe_standby()

    def prepare(self, cfg):
        # Set the radio up for the configuration's power (the lower of the table's and
        # the board's maximum). False, and locked, if the radio cannot be set up.
        if self.radio is None:
            self.lock("radio not available")
            return False
        power = min(cfg.max_tx_ddbm // 10, self.board.MAX_TX_DBM)
        try:
            if not self.radio.configured or power != self.power_dbm:
                self.radio.setup(power)
                self.power_dbm = power
            return True
        except RadioError as e:
            self.lock(_why(e))
            return False

    def apply(self, cfg, page, ch):
        # Bring the radio to the configuration's power and the channel, then verify.
        if self.prepare(cfg):
            try:
                self.tune(channel_mask.centre_hz(page, ch))
            except RadioError as e:
                self.lock(_why(e))

    def tune(self, freq_hz):
        self.radio.tune(freq_hz)
        self.expect_hz = freq_hz
        self.verify()

    def verify(self):
        # Compare the readback with the GB868 PHY, the power and the tuned channel.
        try:
            rb = self.radio.readback()
        except RadioError as e:
            self.lock(_why(e))
            return False
        self.readback = rb
        bad = None
        if rb["errors"]:
            bad = "chip errors 0x%04X" % rb["errors"]
        elif rb["freq_hz"] is None or abs(rb["freq_hz"] - self.expect_hz) > core.FREQ_TOL:
            bad = "frequency %s Hz, expected %d" % (rb["freq_hz"], self.expect_hz)
        elif abs(rb["bitrate"] - core.BITRATE) > core.BITRATE_TOL:
            bad = "bit rate %d" % rb["bitrate"]
        elif abs(rb["fdev_hz"] - core.FDEV_HZ) > core.FDEV_TOL:
            bad = "deviation %d Hz" % rb["fdev_hz"]
        elif rb["power_dbm"] is not None and rb["power_dbm"] != self.power_dbm:
            bad = "power %s dBm, expected %d" % (rb["power_dbm"], self.power_dbm)
        elif rb["sync_word"] != core.SYNC_WORD or not rb["whitening"]:
            bad = "packet format (sync 0x%04X)" % rb["sync_word"]
        if bad:
            self.lock("readback mismatch: " + bad)
            return False
        self.state = READY
        self.reason = None
        return True

    def tick(self, agent, now_ms):
        # Re-read the radio now and then: a chip that changed behind the agent's back
        # (a glitch, a reset, a fault) locks the gate.
        if self.state == READY and now_ms >= self._next_verify:
            self._next_verify = now_ms + _VERIFY_MS
            self.verify()

    def report(self):
        return {"state": self.state, "reason": self.reason, "power_dbm": self.power_dbm,
                "readback": self.readback}


def _why(e):
    if isinstance(e, RadioError):
        return "%s: %s" % (e.code, e.msg)
    return "%s: %s" % (type(e).__name__, e)
