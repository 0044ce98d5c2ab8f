# The transmit gate. Installed as the radio driver's tx_guard, so every transmission,
# whatever asked for it, passes here: .before() ahead of loading the frame, .last() just
# before the chip is told to send, on the carrier the chip really holds. A refusal is
# counted per reason, logged, and raised as Refused; nothing is dropped silently.
# Reasons: unconfigured, radio_locked, duty_unknown, duty_regulated, channel_busy (LBT),
# masked_band, channel_not_allowed.
from micropython import const
import binascii
import machine
import random
from time import sleep_ms, sleep_us, ticks_add, ticks_diff, ticks_ms  # a lookup less a call
from dbchagent import channel_mask
from subghz import core

# The band check, bound at load as in subghz/core.py: rebinding core.masked at a REPL does
# not reach it. (A module global, not a default argument: 6 us less a frame at 31 MIPS.)
_masked = core.masked

_LBT_FREE_MS = const(5)  # the channel must be free this long (aLBTMinFree)
_LBT_RETRIES = const(3)
_BACKOFF_STEPS = const(10)  # random back-off 0..5 ms in 0.5 ms steps
_OFF_TIME_MS = const(100)  # own off-time after a transmission of up to 1 s
_DISCARDED_DUTY = const(0x8F2C)  # GBCS: message discarded due to duty cycle management
# Duty-cycle states (duty_cycle.py): -1 unknown, 0 normal, 1 limited, 2 critical, 3 regulated.
# GBCS alerts: entering Limited/Critical/Regulated 0x8F20/22/24, falling back below them
# 0x8F21/23/25: entering state s is 0x8F1E + 2s, leaving it 0x8F1F + 2s.
_UNKNOWN = const(-1)
_REGULATED = const(3)
_STATES = ("normal", "limited", "critical", "regulated")


class Refused(Exception):
    def __init__(self, reason, msg=""):
        super().__init__(reason, msg)
        self.reason = reason
        self.msg = msg


class Gate:
    def __init__(self, agent, ctl, duty, log):
        self.agent = agent
        self.ctl = ctl
        self.duty = duty
        self.log = log
        self.duty_state = 0
        # ticks_ms when our last transmission ended: none yet reads as an off-time long past
        self.last_end = ticks_add(ticks_ms(), -_OFF_TIME_MS)
        self._channels = agent.channels  # (one attribute lookup a frame less)
        self._room = -1  # before() assesses the duty cycle again when a frame passes this
        self._cfg = self._freq = self._op = None
        self._on_cfg = self._on_freq = None  # last(): the carrier last found enabled
        self._seen = None  # tick(): (usage, configuration, channel) its state was found for
        # GBCS duty-cycle alerts name the Device the hub acted towards by its Entity
        # Identifier: here the agent itself (its only client), by its unique id.
        self.entity = binascii.hexlify(machine.unique_id()).decode()

    def refuse(self, reason, msg=""):
        self.agent.count("refused_" + reason)
        n = self.log.throttle(reason)  # a reason is logged at most once a minute
        if n >= 0:
            if reason == "duty_regulated":  # GBCS: message discarded (duty cycle)
                self.log.alert(_DISCARDED_DUTY, {"entity_id": self.entity,
                                                 "discarded_before": n})
            else:
                self.log.record("refused", {"reason": reason, "msg": msg, "since_last": n})
        raise Refused(reason, msg)

    def update_duty(self, now, quiet=False):
        # The duty-cycle state now; raises the GBCS alerts on every transition. quiet: at
        # boot, take the state the usage kept across the reset says without raising its
        # alerts again (they were raised when it was reached).
        cfg = self.agent.config
        op = self.agent.channels.operating
        if cfg is None or op is None:
            return _UNKNOWN
        state = self.duty.state(now, cfg.limited_ms(), cfg.critical_ms(), cfg.cap_ms(op[0]))
        old = state if quiet else self.duty_state
        if state != self.duty_state:
            self._room = -1  # a threshold was crossed (down as the hour rolls): assess again
        if state != old and state >= 0 and old >= 0:
            usage = {"entity_id": self.entity, "usage_ms": self.duty.usage_ms()}
            for s in range(old + 1, state + 1):
                self.log.alert(0x8F1E + 2 * s, usage)
            for s in range(old, state, -1):
                self.log.alert(0x8F1F + 2 * s, usage)
        self.duty_state = state
        return state

    def before(self, radio, airtime_us):
        cfg = self.agent.config
        air_ms = (airtime_us + 999) // 1000
        d = self.duty
        freq = radio.freq_hz
        # The duty state and the carrier's cap are worked out again only when the usage
        # could reach the next threshold with this frame (usage only grows between frames;
        # tick() follows it down as the hour rolls), or the configuration, the operating
        # channel, the carrier or the usage's trust changed: 0.5 ms a frame at 31 MIPS.
        # (No configuration is a change: only _assess() sets _cfg, and until it has, _room
        # is -1.)
        if (cfg is not self._cfg or d.usage + air_ms > self._room
                or freq != self._freq or self._channels.operating is not self._op
                or d.unknown_until is not None):
            if cfg is None:
                self.refuse("unconfigured", "no configuration in force")
            self._assess(cfg, freq, self.agent.uptime.now_ms(), air_ms)
        if self.ctl.state != "ready":
            self.refuse("radio_locked", self.ctl.reason or "")
        # (after days idle ticks_diff wraps negative: wait is then above the off-time)
        wait = _OFF_TIME_MS - ticks_diff(ticks_ms(), self.last_end)
        if wait > 0 and wait <= _OFF_TIME_MS:
            sleep_ms(wait)
        if not self._clear(radio, cfg.lbt_ddbm):
            self.refuse("channel_busy", "LBT: channel not free")
        if d.current + air_ms > d.stored and not d.reserve(air_ms, self.agent.uptime.now_ms()):
            self._room = -1  # (after the waits) usage not stored: nothing goes unassessed
            self.refuse("duty_unknown", d.problem or "reservation not stored")

    def _assess(self, cfg, freq, now, air_ms):
        self._room = -1  # until this frame passes
        state = self.update_duty(now)
        if state == _UNKNOWN:
            self.refuse("duty_unknown", self.duty.problem or "duty-cycle state unknown")
        used = self.duty.usage_ms()
        cap = self._cap_ms(cfg, freq)
        if state == _REGULATED or used + air_ms > cap:
            self.refuse("duty_regulated", "%d ms used this hour (cap %d ms)" % (used, cap))
        # Room: the first threshold above the usage (the frame's own cap is one, and above
        # it): until a frame would reach it, the state and the cap cannot change.
        op = self.agent.channels.operating
        room = cap
        for t in (cfg.limited_ms(), cfg.critical_ms(), cfg.cap_ms(op[0])):
            if used < t < room:
                room = t
        self._room = room
        self._cfg = cfg
        self._freq = freq
        self._op = op

    def _cap_ms(self, cfg, freq_hz):
        # The regulated cap of the page of the carrier about to be sent (a test frame on
        # page 30 meets page 30's cap, whatever the operating channel). Usage is one total
        # over every page (docs/agent.md, "Duty cycle"): never less than any page's own.
        page = channel_mask.page_of(channel_mask.nearest(freq_hz, core.FREQ_TOL))
        if page < 0:  # no channel: the smallest cap (last() refuses it anyway)
            return min(cfg.caps)
        return cfg.cap_ms(page)

    def _clear(self, radio, threshold):
        # Listen before talk: free for 5 ms below the threshold; random back-off; retries.
        for attempt in range(_LBT_RETRIES + 1):
            if attempt:
                sleep_us(500 * (random.getrandbits(4) % (_BACKOFF_STEPS + 1)))
            t0 = ticks_ms()
            busy = False
            while True:
                if radio.rssi() >= threshold:
                    busy = True
                    break
                if ticks_diff(ticks_ms(), t0) >= _LBT_FREE_MS:
                    break
            if not busy:
                return True
        return False

    def last(self, freq_hz, verified, airtime_us):
        # A carrier is checked when it or the configuration changes: out of the masked band
        # (a fixed band) and an enabled channel (a configuration never changes once made).
        # Only a carrier that passed both is kept, so a masked one is refused every time.
        cfg = self.agent.config
        if cfg is None or cfg is not self._on_cfg or freq_hz != self._on_freq:
            if _masked(freq_hz):
                self.refuse("masked_band", "carrier %d Hz" % freq_hz)
            if cfg is None:
                self.refuse("unconfigured")
            if not cfg.enables(freq_hz, core.FREQ_TOL):
                self.refuse("channel_not_allowed", "carrier %d Hz is no enabled channel" % freq_hz)
            self._on_cfg = cfg
            self._on_freq = freq_hz
        if self.ctl.state != "ready":
            self.refuse("radio_locked", self.ctl.reason or "")

    def sent(self, airtime_us):
        self.duty.add(airtime_us)
        self.last_end = ticks_ms()
        self.agent.count("tx")
        self.agent.count("tx_airtime_us", airtime_us)

    def tick(self, agent, now_ms):
        # The state follows the usage (down as the hour rolls), the configuration, the
        # operating channel and the usage's trust; worked out again only when one of them
        # moved (0.3 ms of a WL55's CPU every loop pass otherwise)
        d = self.duty
        seen = self._seen
        if (seen is None or d.usage != seen[0] or agent.config is not seen[1]
                or self._channels.operating is not seen[2] or d.unknown_until is not None):
            self.update_duty(now_ms)
            self._seen = (d.usage, agent.config, self._channels.operating)

    def report(self, now_ms):
        cfg = self.agent.config
        op = self.agent.channels.operating
        out = {"state": _STATES[self.duty_state] if self.duty_state >= 0 else "unknown"}
        out.update(self.duty.report())
        if cfg is not None and op is not None:
            out["limited_ms"] = cfg.limited_ms()
            out["critical_ms"] = cfg.critical_ms()
            out["regulated_ms"] = cfg.cap_ms(op[0])
        return out
