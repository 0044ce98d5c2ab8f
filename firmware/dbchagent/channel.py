# The operating channel and the channel log (GBCS DBCH01, DBCH02). The log lives on flash
# as fixed records (time, old page, old channel, new page, new channel, reason), the last
# _LOG_MAX of them; RAM keeps only the operating channel and the times of this week's
# agility changes. Scans and the agility decision: channel_scan.py. The periodic check
# scans when the current channel has become ChannelNoisierThreshold dB noisier than when
# it was chosen; a configuration that no longer allows the current channel forces a move.
from micropython import const
import struct
from dbchagent import channel_mask, store
from dbchagent.runtime import wall_s

_NAME = "chlog.bin"
REC = ">IBBBBB"  # time (s), old page, old channel, new page, new channel, reason
_REC_SIZE = const(9)
_LOG_MAX = const(32)
_WEEK_S = const(604800)
_CHECK_MS = const(600000)  # agility check every 10 minutes of uptime
_CHANNEL_CHANGED = const(0x8F26)  # GBCS alert
REASONS = ("initial", "config", "scan")
_SCAN = const(2)


def scanner():
    # Energy scans and the agility decision (channel_scan.py) are loaded when needed.
    from dbchagent import channel_scan
    from dbchagent.runtime import release

    release("dbchagent.channel_scan")  # not kept: the next import reads it again
    return channel_scan


def log_bytes():
    try:
        return store.read(_NAME) or b""
    except ValueError:
        return b""  # a damaged log is dropped; a scan will pick a channel


class Channels:
    def __init__(self, agent, ctl, log):
        self.agent = agent
        self.ctl = ctl
        self.log = log
        self.operating = None  # (page, channel)
        self.baseline = None  # energy (deci-dBm) of the channel when it was chosen
        self.changes = []  # times (s) of agility changes, the last week's only
        self._next_check = _CHECK_MS
        body = log_bytes()
        now = wall_s()
        for i in range(0, len(body) - _REC_SIZE + 1, _REC_SIZE):
            t, _, _, page, ch, why = struct.unpack_from(REC, body, i)
            self.operating = (page, ch)
            if why == _SCAN and now - t < _WEEK_S:
                self.changes.append(t)

    def word(self):
        return channel_mask.operating_word(*self.operating) if self.operating else None

    def move(self, page, ch, reason, energy=None):
        old = self.operating or (0, 0)
        self.operating = (page, ch)
        self.baseline = energy
        now = wall_s()
        why = REASONS.index(reason)
        if why == _SCAN:
            self.changes.append(now)
        body = log_bytes()[-(_LOG_MAX - 1) * _REC_SIZE :]
        try:
            store.write(_NAME, body + struct.pack(REC, now, old[0], old[1], page, ch, why))
        except OSError:
            self.agent.count("store_errors")
        if reason != "initial":
            self.log.alert(_CHANNEL_CHANGED, {"page": page, "channel": ch, "reason": reason})

    def ensure_allowed(self, cfg):
        # After a configuration change (or at boot): keep the channel if still allowed,
        # otherwise move at once to the quietest allowed channel.
        if self.operating is not None and cfg.allows(*self.operating):
            return
        best = None
        if self.ctl.radio and self.ctl.radio.configured:
            best = scanner().scan(self, cfg)[1]
        if best is None:
            for page, ch in cfg.allowed():
                best = (page, ch, None)
                break
        self.move(best[0], best[1], "initial" if self.operating is None else "config",
                  best[2])

    def changes_this_week(self):
        now = wall_s()
        self.changes = [t for t in self.changes if now - t < _WEEK_S]
        return len(self.changes)

    def tick(self, agent, now_ms):
        cfg = agent.config
        if cfg is None or self.operating is None or self.ctl.state != "ready":
            return
        if now_ms < self._next_check:
            return
        self._next_check = now_ms + _CHECK_MS
        energy = self.ctl.radio.rssi()
        if self.baseline is None:
            self.baseline = energy
        elif energy >= self.baseline + cfg.field("channel_noisier_threshold") * 10:
            scanner().request_scan(self, cfg, "noisier")

    def report(self):
        if self.operating is None:
            return None
        page, ch = self.operating
        return {"page": page, "channel": ch, "freq_hz": channel_mask.centre_hz(page, ch),
                "word": self.word(), "changes_this_week": self.changes_this_week()}
