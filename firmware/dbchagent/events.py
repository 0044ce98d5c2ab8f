# Alerts (GBCS 0x8F20-0x8F2D, codes named where they are raised) and notable events:
# pushed to the host at once and kept in bounded logs on flash, because field kits run
# for weeks with nobody listening.
# Log records: length (2 bytes), CRC-32 (4), CBOR [seq, time, kind, fields]. A power cut
# during an append leaves at most one truncated record at the end, which the reader skips.
# Two logs, each two files of at most dbch_board.EVENT_LOG_BYTES (the board's filesystem
# decides: docs/boards.md); when the current file is full it becomes the old one. The
# audit log keeps the records that matter (configuration, key and lock changes, resets):
# refusals and other events, which anyone on the link can cause, never evict them.
# Refusals are throttled besides: one record per reason per _EVERY_MS, with a count.
from micropython import const
import os
import struct
from dbchagent import cbor, store
from dbchagent.runtime import wall_s
from dbchagent.link import crc32

_EVERY_MS = const(60000)
# (current, old) file names of each log; `events` reads both, merged by sequence number
EVENTS = ("events.log", "events.old")
AUDIT = ("audit.log", "audit.old")


def records(name):
    # Yields decoded records of one log file, stopping at the first damaged one.
    try:
        f = open(store.path(name), "rb")
    except OSError:
        return
    hdr = bytearray(6)
    with f:
        while True:
            if f.readinto(hdr) != 6:
                return
            n, crc = struct.unpack("<HI", hdr)
            body = f.read(n)
            if len(body) != n or crc32(body) != crc:
                return
            try:
                yield cbor.decode(body)
            except ValueError:
                return


def _log(names, after):
    # one log's records above `after`, oldest first
    for name in (names[1], names[0]):
        for rec in records(name):
            if rec[0] > after:
                yield rec


def merged(after, limit):
    # Both logs' records above `after` in sequence order, at most limit + 1 of them. The
    # audit log's (few) are gathered first, then the event log is read as it goes: one
    # file open at a time (each holds a block-sized buffer on a small board's heap).
    audit = []
    for rec in _log(AUDIT, after):
        audit.append(rec)
        if len(audit) > limit:
            break
    i = n = 0
    for rec in _log(EVENTS, after):
        while i < len(audit) and audit[i][0] < rec[0] and n <= limit:
            yield audit[i]
            i += 1
            n += 1
        if n > limit:
            return
        yield rec
        n += 1
    while i < len(audit) and n <= limit:
        yield audit[i]
        i += 1
        n += 1


def _size(name):
    try:
        return os.stat(store.path(name))[6]
    except OSError:
        return 0


class EventLog:
    def __init__(self, agent):
        import dbch_board

        self.agent = agent
        self.cap = getattr(dbch_board, "EVENT_LOG_BYTES", 4096)
        self.seq = 0
        self.write_errors = 0
        self._throttle = {}  # key -> [last record (uptime ms), not recorded since]
        # The newest configuration change on record (its request's counter): 0x8F2A
        # records and, as those rotate out, each reset record carries it (hub.py).
        self.config_req = 0
        for names in (EVENTS, AUDIT):
            for rec in _log(names, 0):
                self.seq = max(self.seq, rec[0])
                f = rec[3]
                if type(f) is dict:
                    req = max(f.get("req", 0), f.get("config_req", 0))
                    self.config_req = max(self.config_req, req)
        self.size = _size(EVENTS[0])
        self.audit_size = _size(AUDIT[0])

    def alert(self, code, fields=None, keep=False):
        self.record(code, fields, keep)

    def record(self, kind, fields=None, keep=False):
        # kind: a GBCS alert code (int) or an event name (text); keep: an audit record
        self.seq += 1
        t = wall_s()
        ev = {"ev": "alert" if type(kind) is int else kind, "seq": self.seq, "t": t}
        if type(kind) is int:
            ev["code"] = kind
        if fields:
            ev.update(fields)
        self.agent.event(ev.pop("ev"), ev)
        body = cbor.encode([self.seq, t, kind, fields])
        if keep:
            self.audit_size = self._append(AUDIT, self.audit_size, body)
        else:
            self.size = self._append(EVENTS, self.size, body)

    def throttle(self, key):
        # For events anyone can cause (refusals): -1 when this one is only counted, else
        # how many went unrecorded before it (at most one record per key per _EVERY_MS).
        now = self.agent.uptime.now_ms()
        t = self._throttle.get(key)
        if t is not None and now - t[0] < _EVERY_MS:
            t[1] += 1
            return -1
        n = 0 if t is None else t[1]
        self._throttle[key] = [now, 0]
        return n

    def _append(self, names, size, body):
        # Appends to one log; returns its current file's new size.
        try:
            store.ensure_dir()
            if size + len(body) + 6 > self.cap:
                try:
                    os.rename(store.path(names[0]), store.path(names[1]))
                except OSError:
                    pass
                size = 0
            with open(store.path(names[0]), "ab") as f:
                f.write(struct.pack("<HI", len(body), crc32(body)))
                f.write(body)
            return size + len(body) + 6
        except OSError:
            self.write_errors += 1  # a full or failing flash must not stop the agent
            return size
