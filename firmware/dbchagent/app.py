# The agent's main loop: read frames from the console, dispatch commands, answer every
# request with a reply or a typed error, push events, and run periodic duties.
# Any exception in a handler becomes an error reply; only Ctrl-C (KeyboardInterrupt, which
# mpremote sends) and SystemExit leave the loop, so the REPL stays reachable.
from micropython import const
import gc
from dbchagent import cbor, link
from dbchagent.clock import Uptime
from dbchagent.console import Console
from dbchagent.errors import AgentError

_TICK_MS = const(20)


class Agent:
    def __init__(self, console=None):
        self.console = console or Console()
        self.uptime = Uptime()
        self.counters = {}
        self.commands = {}  # name -> handler(agent, args) -> result
        self.status_parts = []  # callables(agent, status_dict) adding their section
        self.tickers = []  # callables(agent, now_ms), run every loop pass
        self.after_reply = None  # run once the current reply is on the wire (reset)
        self._last = None  # (seq, crc, reply line): a retried request is answered from here
        self._event_seq = 0

    def count(self, name, n=1):
        c = self.counters
        c[name] = c.get(name, 0) + n

    def event(self, name, fields=None):
        body = {"ev": name}
        if fields:
            body.update(fields)
        self._event_seq = (self._event_seq + 1) & 0xFFFF
        self.count("events")
        self.console.write(link.encode(link.KIND_EVENT, self._event_seq, cbor.encode(body)))

    def _error(self, seq, code, field=None, msg=None):
        err = {"code": code}
        if field is not None:
            err["field"] = field
        if msg is not None:
            err["msg"] = msg
        self.count("errors")
        return link.encode(link.KIND_ERROR, seq, cbor.encode(err))

    def on_frame(self, line):
        self.count("rx")
        try:
            kind, seq, body, crc = link.decode(line)
        except link.FrameError as e:
            self.count(e.args[0])
            self.console.write(self._error(e.args[1], e.args[0]))
            return
        last = self._last
        if last is not None and last[0] == seq and last[1] == crc:
            self.count("retries")
            self.console.write(last[2])
            return
        if kind != link.KIND_REQUEST:
            self.count("bad_frame")
            out = self._error(seq, "bad_frame", None, "not a request")
        else:
            out = self._handle(seq, body)
        self._last = (seq, crc, out)
        self.console.write(out)
        fn = self.after_reply
        if fn is not None:
            self.after_reply = None
            fn()

    def on_oversize(self, first_chars):
        self.count("too_large")
        seq = link.peek_seq(first_chars)
        self.console.write(
            self._error(seq, "too_large", None, "longer than %d" % link.MAX_REQUEST_LINE)
        )

    def _handle(self, seq, body):
        try:
            try:
                req = cbor.decode(body)
            except cbor.CBORError as e:
                raise AgentError("bad_cbor", None, e.args[0])
            if type(req) is not list or not 1 <= len(req) <= 2 or type(req[0]) is not str:
                raise AgentError("bad_request", None, "expected [command, {args}]")
            handler = self.commands.get(req[0])
            if handler is None:
                raise AgentError("unknown_command", "command", req[0])
            args = req[1] if len(req) == 2 else {}
            if type(args) is not dict:
                raise AgentError("bad_argument", "args", "must be a map")
            return link.encode(link.KIND_REPLY, seq, cbor.encode(handler(self, args)))
        except AgentError as e:
            return self._error(seq, e.code, e.field, e.msg)
        except MemoryError:
            self.after_reply = None
            gc.collect()
            self.count("no_memory")
            return self._error(seq, "no_memory", None, "heap free %d" % gc.mem_free())
        except Exception as e:
            self.after_reply = None
            return self._error(seq, "internal", None, "%s: %s" % (type(e).__name__, e))

    def tick(self):
        now = self.uptime.now_ms()
        for t in self.tickers:
            try:
                t(self, now)
            except Exception as e:  # a failing duty must not stop the link
                self.count("tick_errors")
                self.event("fault", {"where": "tick", "msg": "%s: %s" % (type(e).__name__, e)})

    def run(self):
        con = self.console
        while True:
            if con.wait(_TICK_MS):
                con.read(self.on_frame, self.on_oversize)
            self.tick()


def main():
    from dbchagent import cmd_system

    agent = Agent()
    cmd_system.install(agent)
    agent.event("ready", cmd_system.identity())
    agent.run()
