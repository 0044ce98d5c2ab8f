# The words the agent's replies and events are mostly made of (map keys, states, counter
# names), each sent as one CBOR simple value instead of its text (docs/protocol.md,
# "Words"): a status is half the bytes on a 115200-baud console. The host holds the same
# list (host_tools/dbch/link/words.py; tests/test_wire_contract.py keeps them equal).
# Position is the wire code: index i is simple value i below 20 (one byte), i + 12 from
# 20 (two bytes). Append only; the first 20 are the words a status carries most. 78 words:
# the agent's lookup table of them then has 97 slots (MicroPython grows a dict when it is
# full: 73, 97, 127...), 0.8 full, 0.8 KB of heap.
WORDS = (
    # one byte each: a status's most frequent words
    "state", "freq_hz", "power_dbm", "errors", "hash", "packet_type", "sync_word",
    "whitening", "bitrate", "fdev_hz", "reason", "counters", "heap", "free", "used", "total",
    "used_max", "uptime_ms", "reset_cause", "fw",
    # two bytes each
    "version", "config", "table", "region", "config_problem", "channel", "page", "word",
    "allowed", "changes_this_week", "radio", "readback", "chip", "verified", "shadow", "duty",
    "usage_ms", "buckets", "limited_ms", "critical_ms", "regulated_ms", "problem", "traffic",
    "events", "last_seq", "write_errors", "auth", "counter_copies", "counter_damaged", "lock",
    "in_force", "stored", "lifted_by", "rx", "tx", "auth_ok", "tx_airtime_us", "retries",
    "input_dropped", "code", "field", "msg", "ev", "seq", "t", "normal", "limited",
    "critical", "regulated", "ready", "off", "locked", "unconfigured", "gfsk", "hard",
    "power_on", "watchdog", "soft",
)
