# Console I/O for the link. Reads the REPL's stdin byte by byte and never blocks, so the
# main loop keeps its duties while a frame trickles in or is cut short; writes each frame
# with one call so console output (prints, tracebacks) never lands inside a frame.
from micropython import const
import select
import sys
from dbchagent.link import MARK, MAX_REQUEST_LINE

_NL = const(10)
_CR = const(13)


class Console:
    def __init__(self):
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(self._in, select.POLLIN)
        self._b1 = bytearray(1)
        self._line = bytearray(MAX_REQUEST_LINE)
        self._mv = memoryview(self._line)
        self._n = -1  # characters of the frame being read; -1 between frames
        self._over = False
        self.noise = 0  # bytes seen outside any frame (typed text, garbage)
        self.cut = 0  # frames abandoned because a new frame began

    def wait(self, timeout_ms):
        for _ in self._poll.ipoll(timeout_ms):
            return True
        return False

    def read(self, on_frame, on_oversize):
        # Consumes what has arrived. on_frame(memoryview) for each complete frame line;
        # on_oversize(first_chars) for a line longer than MAX_REQUEST_LINE.
        inp = self._in
        b1 = self._b1
        line = self._line
        n = self._n
        ready = True
        while ready:
            if not inp.readinto(b1):
                break  # end of input
            c = b1[0]
            if c == MARK:
                if n > 0:
                    self.cut += 1
                n = 0
                self._over = False
            elif c == _NL:
                if n >= 0:
                    if self._over:
                        on_oversize(bytes(self._mv[:4]))
                    else:
                        on_frame(self._mv[:n])
                n = -1
            elif n < 0:
                self.noise += 1
            elif c != _CR:
                if n < MAX_REQUEST_LINE:
                    line[n] = c
                    n += 1
                else:
                    self._over = True
            ready = False
            for _ in self._poll.ipoll(0):
                ready = True
        self._n = n

    def write(self, data):
        self._out.write(data)
