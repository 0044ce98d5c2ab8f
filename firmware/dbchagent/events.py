# Alerts (GBCS 0x8F20-0x8F2D, codes named where they are raised) and notable events:
# pushed to the host at once and kept in a bounded log on flash, because field kits run
# for weeks with nobody listening.
# Log records: length (2 bytes), CRC-32 (4), CBOR [seq, time, kind, fields]. A power cut
# during an append leaves at most one truncated record at the end, which the reader skips.
# Two files of at most dbch_board.EVENT_LOG_BYTES each (the board's filesystem decides:
# docs/boards.md): when the current one is full it becomes the old one.
import os
import struct
from dbchagent import cbor, store
from dbchagent.runtime import wall_s
from dbchagent.link import crc32

CUR = "events.log"
OLD = "events.old"


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


class EventLog:
    def __init__(self, agent):
        import dbch_board

        self.agent = agent
        self.cap = getattr(dbch_board, "EVENT_LOG_BYTES", 4096)
        self.seq = 0
        self.size = 0
        self.write_errors = 0
        for name in (OLD, CUR):
            for rec in records(name):
                self.seq = max(self.seq, rec[0])
        try:
            self.size = os.stat(store.path(CUR))[6]
        except OSError:
            self.size = 0

    def alert(self, code, fields=None):
        self.record(code, fields)

    def record(self, kind, fields=None):
        # kind: a GBCS alert code (int) or an event name (text)
        self.seq += 1
        t = wall_s()
        ev = {"ev": "alert" if type(kind) is int else kind, "seq": self.seq, "t": t}
        if type(kind) is int:
            ev["code"] = kind
        if fields:
            ev.update(fields)
        self.agent.event(ev.pop("ev"), ev)
        self._append(cbor.encode([self.seq, t, kind, fields]))

    def _append(self, body):
        try:
            store.ensure_dir()
            if self.size + len(body) + 6 > self.cap:
                try:
                    os.rename(store.path(CUR), store.path(OLD))
                except OSError:
                    pass
                self.size = 0
            with open(store.path(CUR), "ab") as f:
                f.write(struct.pack("<HI", len(body), crc32(body)))
                f.write(body)
            self.size += len(body) + 6
        except OSError:
            self.write_errors += 1  # a full or failing flash must not stop the agent
