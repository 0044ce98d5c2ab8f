# Bench traffic: N frames of S octets at an interval, through the same transmit path as
# everything else, so duty cycle and the gate can be exercised. The job stands for the
# hub's client traffic (the agent is its own only client): at Limited and Critical a hub
# suspends it (GBCS 0x8F20 / 0x8F22: action taken towards the offending client, all
# clients), so its frames are counted "suspended" and not sent; the hub's own frames
# (test_tx) still go until Regulated. One frame per pass of the
# main loop, so the agent keeps answering while it runs. This module is loaded for a job
# and released when the job ends.
from micropython import const
import struct
from dbchagent.runtime import release

_PROGRESS_EVERY = const(100)


class Traffic:
    def __init__(self, hub, frames, size, interval_ms):
        self.hub = hub
        self.frames = frames
        self.size = size
        self.interval = interval_ms
        self.sent = 0
        self.refused = {}
        self.next = hub.uptime.now_ms()
        hub.tickers.append(self.tick)

    def due(self, now_ms):
        return now_ms >= self.next

    def tick(self, hub, now_ms):
        if now_ms < self.next:
            return
        n = self.sent + sum(self.refused.values())
        if 1 <= hub.gate.update_duty(now_ms) <= 2:  # Limited or Critical: clients suspended
            reason = "suspended"
            hub.count("traffic_suspended")
        else:
            reason = hub.transmit(struct.pack(">4sI", b"DBCH", n) + bytes(self.size - 8))
        if reason is None:
            self.sent += 1
        else:
            self.refused[reason] = self.refused.get(reason, 0) + 1
        n += 1
        if n % _PROGRESS_EVERY == 0:
            hub.event("traffic_progress", {"done": n, "frames": self.frames})
        if n >= self.frames:
            self.finish(False)
        else:
            self.next = hub.uptime.now_ms() + self.interval

    def finish(self, stopped):
        hub = self.hub
        hub.tickers.remove(self.tick)
        hub.traffic = None
        hub.event("traffic_done", {"sent": self.sent, "refused": self.refused,
                                   "frames": self.frames, "stopped": stopped})
        release("dbchagent.traffic")

    def report(self):
        return {"frames": self.frames, "sent": self.sent, "refused": self.refused}
