# The agent's main loop: read frames from the console, dispatch commands, answer every
# request with a reply or a typed error, push events, and run periodic duties.
# Any exception in a handler becomes an error reply; only Ctrl-C (KeyboardInterrupt, which
# mpremote sends) and SystemExit leave the loop, so the REPL stays reachable, unless the
# board is locked (lock.py: then Ctrl-C is ignored and main.py resets on any exit).
from micropython import const
import gc
import select
import sys
from dbchagent import cbor, link, lock
from dbchagent.errors import AgentError, no_extra
from dbchagent.link import MARK
from dbchagent.runtime import Uptime, release

_TICK_MS = const(20)
_UNHEALTHY = const(50)  # passes in a row with failing duties (about a second): stop feeding
_CTRL_C = const(3)
_NL = const(10)
_CR = const(13)
# Input taken per loop pass: more than the longest frame line, little enough that the
# duties (duty-cycle roll-over, radio re-check, the watchdog) run under any input flood.
_READ_BUDGET = const(2048)
_REPLY_ROOM = const(512)  # a status reply line is 0.35 KB; a longer reply makes it grow
# A full filesystem: ENOSPC (28), or ENAMETOOLONG (36), which is what littlefs answers when
# the entry of a new file finds no room (lfs2_file_opencfg turns NOSPC into NAMETOOLONG;
# the agent's file names are all short). Every store writes a new file, then renames.
_FS_FULL = (28, 36)
_FS_FULL_MSG = ("the board's filesystem is full; nothing changed: remove files that are not "
                "the agent's (mpremote fs ls), or clear the event log (dbch logs --clear)")


# Console I/O for the link. Reads the REPL's stdin byte by byte and never blocks, so the
# main loop keeps its duties while a frame trickles in or is cut short; writes each frame
# with one call so console output (prints, tracebacks) never lands inside a frame.
class Console:
    def __init__(self):
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(self._in, select.POLLIN)
        self._b1 = bytearray(1)
        self.max_request = link.max_request()
        self._max = (self.max_request + 2) // 3 * 4  # base64 characters
        self._line = bytearray(self._max)
        self._mv = memoryview(self._line)
        self._n = -1  # characters of the frame being read; -1 between frames
        self._over = False

    def wait(self, timeout_ms):
        for _ in self._poll.ipoll(timeout_ms):
            return True
        return False

    def read(self, on_frame, on_oversize, on_dropped):
        # Consumes what has arrived, at most _READ_BUDGET bytes. on_frame(memoryview) for
        # each complete frame line; on_oversize(first_chars) for a line longer than the
        # board takes; on_dropped(n) for bytes dropped (outside frames, past the limit),
        # before the next frame is handled, so that frame's reply counts them.
        inp = self._in
        b1 = self._b1
        line = self._line
        n = self._n
        ipoll = self._poll.ipoll
        dropped = 0
        budget = _READ_BUDGET
        ready = True
        while ready and budget:
            budget -= 1
            if not inp.readinto(b1):
                break  # end of input
            c = b1[0]
            if c == _CTRL_C:
                # Ctrl-C is off until the lock decides (main.py), so one sent while the
                # board started (mpremote's, deploy's) arrives as data: an unlocked board
                # stops for it now, as its interrupt would have. Never inside a frame.
                if not lock.in_force():
                    raise KeyboardInterrupt
            if c == MARK:
                n = 0  # a new frame: one cut short before it is dropped
                self._over = False
            elif c == _NL:
                if n >= 0:
                    if dropped:
                        on_dropped(dropped)
                        dropped = 0
                    if self._over:
                        on_oversize(bytes(self._mv[:4]))
                    else:
                        on_frame(self._mv[:n])
                n = -1
            elif n >= 0 and c != _CR:
                if n < self._max:
                    line[n] = c
                    n += 1
                else:
                    self._over = True
                    dropped += 1
            elif c != _CR:
                dropped += 1  # bytes outside a frame (typed text, noise) are dropped
            ready = False
            for _ in ipoll(0):
                ready = True
        self._n = n
        if dropped:
            on_dropped(dropped)

    def send(self, line):
        # One frame line (link.frame: mark, escaped frame, newline) in one write, so
        # nothing the agent prints lands inside it
        self._out.write(line)


class Agent:
    def __init__(self, console=None):
        self.console = console or Console()
        self.uptime = Uptime()
        self.counters = {}
        # The commands served: rows of (name, module, protected, arguments), a tuple frozen
        # in flash on a board (cmd_system.TABLE: no heap), and the few served by a function
        # kept loaded (name -> function); every other row's module is loaded per request.
        self.table = ()
        self.resident = {}
        self.status_parts = []  # callables(agent, status_dict) adding their section
        self.tickers = []  # callables(agent, now_ms), run every loop pass
        self.after_reply = None  # run once the current reply is on the wire (reset)
        self._last = None  # (seq, crc, reply frame): a retried request is answered from here
        # Replies are built here (events and errors in frames of their own): its room is
        # taken at start, before the heap fragments, so no reply needs a large new block.
        # A command may use it meanwhile: its reply is built only after it returns.
        self.reply_buf = bytearray(_REPLY_ROOM)
        self._event_seq = 0
        self.wdt = None  # machine.WDT when the deploy asked for the watchdog
        self._tick_failures = 0  # loop passes in a row on which a duty failed
        self.request_ctr = 0  # the running authorised request's counter (auth.py)
        self.auth_health = None  # the request counter's copies on flash (auth.py)

    def count(self, name, n=1):
        c = self.counters
        c[name] = c.get(name, 0) + n

    def event(self, name, fields=None):
        body = {"ev": name}
        if fields:
            body.update(fields)
        self._event_seq = (self._event_seq + 1) & 0xFFFF
        self.count("events")
        self.console.send(link.frame(link.KIND_EVENT, self._event_seq, None, body))

    def _error(self, seq, code, field=None, msg=None):
        err = {"code": code}
        if field is not None:
            err["field"] = field
        if msg is not None:
            err["msg"] = msg
        self.count("errors")
        return link.frame(link.KIND_ERROR, seq, None, err)

    def on_frame(self, line):
        self.count("rx")
        try:
            kind, seq, body, crc = link.decode(line, self.console.max_request)
        except link.FrameError as e:
            self.count(e.code)
            self.console.send(self._error(e.seq, e.code))
            return
        last = self._last
        if last is not None and last[0] == seq and last[1] == crc:
            self.count("retries")
            self.console.send(last[2])
            return
        if kind != link.KIND_REQUEST:
            self.count("bad_frame")
            out = self._error(seq, "bad_frame", None, "not a request")
        else:
            out = self._handle(seq, body)
        self._last = (seq, crc, out)
        self.console.send(out)
        fn = self.after_reply
        if fn is not None:
            self.after_reply = None
            fn()

    def on_dropped(self, n):
        self.count("input_dropped", n)

    def on_oversize(self, first_chars):
        self.count("too_large")
        seq = link.peek_seq(first_chars)
        self.console.send(
            self._error(seq, "too_large", None, "longer than %d" % self.console.max_request)
        )

    def _handle(self, seq, body):
        try:
            try:
                req = cbor.decode(body)
            except cbor.CBORError as e:
                raise AgentError("bad_cbor", None, e.args[0])
            if type(req) is not list or not 1 <= len(req) <= 2 or type(req[0]) is not str:
                raise AgentError("bad_request", None, "expected [command, {args}]")
            args = req[1] if len(req) == 2 else {}
            if type(args) is not dict:
                raise AgentError("bad_argument", "args", "must be a map")
            reply = self.dispatch(req[0], args, False)
            return link.frame(link.KIND_REPLY, seq, None, reply, self.reply_buf)
        except AgentError as e:
            return self._error(seq, e.code, e.field, e.msg)
        except MemoryError:
            # The heap could not hold this request's work: say "busy" (try again later);
            # what is stored and in force is untouched, as every handler validates first.
            self.after_reply = None
            gc.collect()
            self.count("no_memory")
            return self._error(seq, "busy", None, "out of memory (heap free %d)" % gc.mem_free())
        except OSError as e:
            self.after_reply = None
            if e.args and e.args[0] in _FS_FULL:
                self.count("storage_full")
                return self._error(seq, "storage_full", None, _FS_FULL_MSG)
            return self._error(seq, "internal", None, "OSError: %s" % e)
        except Exception as e:
            self.after_reply = None
            return self._error(seq, "internal", None, "%s: %s" % (type(e).__name__, e))

    def command(self, name):
        # The table's row for this command, or None. A scan, not a dict: about 20 rows,
        # one per request, against a dict's 0.8 KB of heap for the whole run.
        for row in self.table:
            if row[0] == name:
                return row
        return None

    def dispatch(self, name, args, authorised):
        # Run one command. Protected ones (changing the board) only from auth.py, after
        # the request's MAC and counter were verified. cmd_system.TABLE lists each command's
        # arguments; anything else is refused here, before the handler runs.
        row = self.command(name)
        if row is None:
            raise AgentError("unknown_command", "command", name)
        if row[2] and not authorised:
            raise AgentError("unauthorised", "command", name + " needs an auth request")
        no_extra(args, row[3])
        handler = self.resident.get(name)
        if handler is not None:
            return handler(self, args)
        # A command kept on flash: its module is loaded for this request only.
        module = row[1]
        try:
            return getattr(__import__(module, None, None, (name,)), name)(self, args)
        finally:
            release(module)

    def tick(self):
        now = self.uptime.now_ms()
        failed = False
        # Backwards by index: a duty may remove itself (a finished traffic job) safely.
        for i in range(len(self.tickers) - 1, -1, -1):
            try:
                self.tickers[i](self, now)
            except MemoryError:
                raise
            except Exception as e:  # a failing duty must not stop the link
                failed = True
                self.count("tick_errors")
                if self._tick_failures == 0:
                    self.event("fault", {"where": "tick",
                                         "msg": "%s: %s" % (type(e).__name__, e)})
        self._tick_failures = self._tick_failures + 1 if failed else 0

    def wants_service(self, now_ms):
        # True when a periodic duty is due now, so the loop should not wait for input
        return False

    def run(self):
        con = self.console
        due = 0  # uptime when the duties run next
        while True:
            try:
                now = self.uptime.now_ms()
                busy = self.wants_service(now)
                if con.wait(0 if busy else _TICK_MS):
                    con.read(self.on_frame, self.on_oversize, self.on_dropped)
                    now = self.uptime.now_ms()
                # The duties every _TICK_MS, or at once when one is due (traffic): not at
                # every pass while a request trickles in (a pass a byte or two at 115200
                # baud; the duties took 0.65 ms of a WL55's CPU each time)
                if busy or now >= due:
                    due = now + _TICK_MS
                    self.tick()
            except MemoryError:
                # Outside any handler (a reply that found no room): that frame is dropped
                # and counted; the host's retry gets the reply from memory.
                gc.collect()
                self.count("no_memory")
            # The watchdog is fed only from here, and only while the duties run: a loop
            # that stopped, or whose duties keep failing, lets it reset the board.
            if self.wdt is not None and self._tick_failures < _UNHEALTHY:
                self.wdt.feed()
