# Energy scans over the allowed channels and the agility decision (GBCS DBCH05), loaded
# only when a scan happens (channel.py keeps the operating channel and its log).
# Agility, as this agent reads the GBCS settings (docs/agent.md): a scan moves to the
# quietest allowed channel only if it is at least ChannelQuieterThreshold dB quieter than
# the current one and fewer than MaximumSubGHzChannelChangesPerWeek agility changes
# happened in the last 7 days (otherwise alert 0x8F2B).
from micropython import const
import struct
from dbchagent import channel_mask

_SCAN_INITIATED = const(0x8F27)  # GBCS alerts
_SCAN_OUTCOME = const(0x8F28)
_NOT_CHANGED_AGILITY = const(0x8F2B)


def scan(chans, cfg):
    # Energy of every allowed channel: (records, best). records packs (page, channel,
    # energy in deci-dBm) as ">BBh" per channel (one small allocation, not a list of
    # tuples); best is the quietest (page, channel, energy). The radio returns to the
    # operating channel afterwards.
    out = bytearray()
    best = None
    radio = chans.ctl.radio
    try:
        for page, ch in cfg.allowed():
            radio.tune(channel_mask.centre_hz(page, ch))
            e = radio.rssi()
            out.extend(struct.pack(">BBh", page, ch, e))
            if best is None or e < best[2]:
                best = (page, ch, e)
    finally:
        if chans.operating is not None and chans.ctl.state != "off":
            chans.ctl.tune(channel_mask.centre_hz(*chans.operating))
    return out, best


def request_scan(chans, cfg, reason="request"):
    # DBCH05: scan, then change channel if the agility settings allow it.
    chans.log.alert(_SCAN_INITIATED, {"reason": reason})
    records, best = scan(chans, cfg)
    current = None
    for i in range(0, len(records), 4):
        page, ch, e = struct.unpack_from(">BBh", records, i)
        if (page, ch) == chans.operating:
            current = e
    quieter = cfg.field("channel_quieter_threshold") * 10
    outcome = "kept"
    if best[:2] != chans.operating and (current is None or best[2] <= current - quieter):
        if chans.changes_this_week() < cfg.field("max_channel_changes_per_week"):
            chans.move(best[0], best[1], "scan", best[2])
            chans.ctl.tune(channel_mask.centre_hz(best[0], best[1]))
            outcome = "changed"
        else:
            outcome = "blocked"
            chans.log.alert(_NOT_CHANGED_AGILITY, {"page": best[0], "channel": best[1]})
    chans.log.alert(_SCAN_OUTCOME, {"outcome": outcome})
    return records, outcome
