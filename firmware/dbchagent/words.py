# The words the agent's replies and events are mostly made of (map keys, states, counter
# names), each sent as one CBOR simple value instead of its text (docs/protocol.md,
# "Words"): a status is half the bytes on a 115200-baud console. The host holds the same
# list (host_tools/dbch/link/words.py; tests/test_wire_contract.py keeps them equal).
# Position is the wire code: index i is simple value i below 20 (one byte), i + 12 from
# 20 (two bytes). Append only; the first 20 are the words most replies carry.
WORDS = (
    # one byte each
    "state", "freq_hz", "power_dbm", "errors", "reason", "hash", "code", "msg", "field",
    "ev", "seq", "t", "rx", "tx", "events", "counters", "heap", "free", "used", "total",
    # two bytes each
    "used_max", "uptime_ms", "reset_cause", "fw", "version", "config", "table", "region",
    "config_problem", "channel", "page", "word", "allowed", "changes_this_week", "radio",
    "readback", "chip", "bitrate", "verified", "packet_type", "fdev_hz", "shadow",
    "sync_word", "whitening", "duty", "usage_ms", "buckets", "limited_ms", "critical_ms",
    "regulated_ms", "problem", "traffic", "last_seq", "write_errors", "auth",
    "counter_copies", "counter_damaged", "lock", "in_force", "stored", "lifted_by",
    "auth_ok", "tx_airtime_us", "retries", "input_dropped", "no_memory", "tx_errors",
    "too_large", "bad_frame", "bad_crc", "auth_refused", "auth_repeats", "config_repeats",
    "tick_errors", "store_errors", "storage_full", "normal", "ready", "off", "locked",
    "unconfigured", "gfsk", "hard", "power_on", "watchdog", "soft", "unknown", "alert",
    "fault", "refused", "traffic_done", "traffic_progress", "done", "frames", "sent",
    "stopped", "since_last", "where", "limited", "critical", "regulated", "duty_unknown",
    "duty_regulated", "channel_busy", "masked_band", "channel_not_allowed", "radio_locked",
)
