"""The agent link protocol (docs/protocol.md): frames, CBOR bodies, sequence numbers.

A frame is one line: 0x1E, the frame, newline; a frame is header + CBOR body + CRC-32, the
header version and kind in one byte, then a 16-bit sequence number. Requests (host to
agent) go as base64, so no byte of theirs can reach the REPL as a control key; replies,
errors and events (agent to host) as the frame's own bytes with five escaped, their common
words as one byte each and SHA-256 digests as bytes: a third of the bytes on a slow console.
Lines without the 0x1E mark are console output (prints, tracebacks) and are handed to the
caller, not treated as errors.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

import cbor2

from dbch import logsetup
from dbch.errors import AtReplError, DbchError, DeviceError, ProtocolError, TransportError
from dbch.link.transport import Transport
from dbch.link.words import BY_CODE

MARK = b"\x1e"
VERSION = 2
KIND_REQUEST = 0
KIND_REPLY = 1
KIND_ERROR = 2
KIND_EVENT = 3
MAX_REQUEST_FRAME = 1024  # bytes before base64, at most; hello says what a board takes
REPL_CONTROL = frozenset(range(0x01, 0x06))  # Ctrl-A..Ctrl-E: never inside a frame
_TURN_S = 0.05  # wait_event reads the port this long at a time (see Link.lock)
_YIELD_S = 0.002  # then, on a shared link, gives the lock's other waiters their turn
CONSOLE_TAIL = 12  # console lines kept for an error's "last words" (a traceback's end)


# NamedTuple, not a dataclass: `dataclasses` (with `inspect`) is 4 ms of every query's
# start-up (typing comes with cbor2 anyway)
class Frame(NamedTuple):
    kind: int
    seq: int
    body: bytes

    def decode_body(self) -> Any:
        try:
            return _words(cbor2.loads(self.body, tag_hook=_base16))
        except ProtocolError:
            raise
        except Exception as e:
            if isinstance(e.__cause__, ProtocolError):  # ours, from inside cbor2's tag hook
                raise e.__cause__ from None
            raise ProtocolError(f"frame body is not valid CBOR: {e}") from None


class VersionError(ProtocolError):
    """A whole frame of another protocol version: the agent's firmware is older or newer."""


def _base16(tag: cbor2.CBORTag, _immutable: bool) -> str:
    # Tag 23 ("expected conversion to base16", RFC 8949 3.4.5.2) over a digest's bytes: the
    # agent sends its SHA-256 hashes so, and they read back as the hex text they are
    if tag.tag == 23 and isinstance(tag.value, bytes):
        return tag.value.hex()
    raise ProtocolError(f"frame body has CBOR tag {tag.tag}, which the link does not use")


def _words(obj: Any) -> Any:
    """The body with each word (a simple value, words.py) back as its text. (Scalars are
    not visited: a status is decoded in half the time.)"""
    t = type(obj)
    if t is _SIMPLE:
        return _word(obj)
    if t is dict:
        return {
            (_word(k) if type(k) is _SIMPLE else k): (_words(v) if type(v) in _NESTED else v)
            for k, v in obj.items()
        }
    if t is list:
        return [_words(x) if type(x) in _NESTED else x for x in obj]
    return obj


_SIMPLE = cbor2.CBORSimpleValue
_NESTED = frozenset({dict, list, _SIMPLE})


def _word(value: cbor2.CBORSimpleValue) -> str:
    try:
        return BY_CODE[value.value]
    except KeyError:
        raise ProtocolError(
            f"frame body has word {value.value}, which this dbch does not know (an agent "
            "newer than dbch? update dbch)"
        ) from None


def last_words(console: deque[bytes]) -> str:
    """What a board printed last before it stopped answering, for an error message: the
    exception that ended a traceback, else nothing. Not the REPL's answer to our own
    requests typed at it (a soak's deploy said only that, hiding why the agent stopped)."""
    for line in reversed(console):
        text = line.decode("utf-8", "replace").strip()
        if _echo_of_a_frame(text):
            continue
        if text.split(":", 1)[0].endswith(("Error", "Exception", "Interrupt", "Exit")):
            return f" (it printed {text[:200]!r})"
    return ""


_UNKNOWN_NAME = "NameError: name '"


def _echo_of_a_frame(text: str) -> bool:
    # A frame typed at the REPL is a name it does not know: the start of its base64 text.
    if not text.startswith(_UNKNOWN_NAME):
        return False
    name = text[len(_UNKNOWN_NAME) :].split("'", 1)[0]
    return len(name) >= 12 and name.isalnum() and not name.islower() and not name.isupper()


def _frame(kind: int, seq: int, body: bytes) -> bytes:
    frame = bytes(((VERSION << 4) | kind, (seq >> 8) & 0xFF, seq & 0xFF)) + body
    return frame + zlib.crc32(frame).to_bytes(4, "big")


def encode_frame(kind: int, seq: int, body: bytes) -> bytes:
    """A frame as the host sends it (base64; requests, and test frames of any kind)."""
    return MARK + base64.b64encode(_frame(kind, seq, body)) + b"\n"


# The bytes an agent's line escapes: ESCAPE, then the byte xor 0x20 (docs/protocol.md)
ESCAPE = 0x7D
ESCAPED = frozenset(b"\n\r\x1e\x7d\xff")


def encode_agent_frame(kind: int, seq: int, body: bytes) -> bytes:
    """A frame as the agent sends it (escaped binary; for stand-in agents in tests)."""
    out = bytearray(MARK)
    for b in _frame(kind, seq, body):
        out += bytes((ESCAPE, b ^ 0x20)) if b in ESCAPED else bytes((b,))
    return bytes(out) + b"\n"


_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def decode_frame(text: bytes) -> Frame:
    """`text`: the characters after the mark, without the newline: a request's base64, or
    an agent's escaped frame, told apart by the first character (a reply's header byte,
    0x21-0x23, is not a base64 character)."""
    if text[:1] and text[0] in _BASE64:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("frame is not valid base64") from None
    else:
        raw = _unescape(text)
    if len(raw) < 7:
        raise ProtocolError("frame too short")
    if zlib.crc32(raw[:-4]) != int.from_bytes(raw[-4:], "big"):
        raise ProtocolError("frame CRC mismatch")
    if raw[0] >> 4 != VERSION:
        raise VersionError(
            f"the agent speaks link protocol {raw[0] >> 4}, this dbch {VERSION}: put this "
            "dbch's agent on the board (dbch deploy; make firmware for a board with the agent "
            "frozen in its image)"
        )
    return Frame(raw[0] & 0x0F, (raw[1] << 8) | raw[2], raw[3:-4])


def _unescape(text: bytes) -> bytes:
    if ESCAPE not in text:
        return text
    parts = text.split(bytes((ESCAPE,)))
    out = bytearray(parts[0])
    for part in parts[1:]:
        if not part:
            raise ProtocolError("frame has an escape with nothing after it")
        out.append(part[0] ^ 0x20)
        out += part[1:]
    return bytes(out)


def encode_request(seq: int, command: str, args: dict[str, Any] | None = None) -> bytes:
    # [command] alone when there are no arguments: a status request is 22 bytes on the wire
    body = cbor2.dumps([command, args] if args else [command])
    return encode_frame(KIND_REQUEST, seq, body)


# Error codes that mean the request was damaged on the wire (a byte lost, changed or
# doubled) and never ran: the same request is sent again.
TRANSIT_DAMAGE = frozenset({"bad_crc", "bad_frame"})


def split_line(line: bytes) -> tuple[bytes, bytes | None]:
    """(console text, frame text or None). Console text may precede a mark on one line."""
    line = line.rstrip(b"\r\n")
    i = line.find(MARK)
    if i < 0:
        return line, None
    return line[:i], line[i + 1 :]


# What the board prints outside frames (prints, tracebacks) goes to the logger "dbch.device"
# at WARNING: shown on stderr by Python's last-resort handler when nothing is configured;
# the CLI prefixes it with "[device]". Each request and reply goes to "dbch.link" at DEBUG
# (`dbch -v`).
def default_console(text: bytes) -> None:
    logsetup.logger("dbch.device").warning("%s", text.decode("utf-8", "replace"))


class Link:
    """Requests and replies over a transport, matched by sequence number.

    A request that times out is sent again with the same sequence number and bytes; the
    agent recognises the retry and answers from its cache, so nothing is applied twice.
    Events (pushed by the agent) are queued; console lines go to `on_console`.
    """

    def __init__(
        self,
        transport: Transport,
        on_console: Callable[[bytes], None] | None = default_console,
        seq: int | None = None,
    ):
        self.transport = transport
        self.on_console = on_console
        self.events: deque[dict[str, Any]] = deque(maxlen=1000)
        # A holder serving this link to other commands (link/share.py): one request at a
        # time on the wire, and each guest's own copy of the events the board pushes.
        self.lock = threading.RLock()
        self.listeners: list[deque[dict[str, Any]]] = []
        self._seq = seq if seq is not None else 1 + int.from_bytes(os.urandom(2)) % 0xFFFE
        self.stats = {
            "sent": 0,
            "retries": 0,
            "stale": 0,
            "bad_lines": 0,
            "damaged": 0,
            "restarts": 0,
        }
        self.last_reply_line = b""  # raw line of the last reply (sizes for benchmarks)
        self.at_repl = False  # a REPL prompt came back: our frames are being typed at it
        self._sent_text = b""  # the request in flight, as a REPL would echo it
        self._last_line = b""
        # The board's last console lines: why it left the agent for the REPL, if it said
        self.console_tail: deque[bytes] = deque(maxlen=CONSOLE_TAIL)

    def next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1  # 1..65535; 0 is "unknown" in error replies
        return self._seq

    def request(
        self,
        command: str,
        args: dict[str, Any] | None = None,
        timeout: float = 2.0,
        retries: int = 2,
    ) -> Any:
        with self.lock:
            seq = self.next_seq()
            line = encode_request(seq, command, args)
            logsetup.debug("dbch.link", "-> %s (request %d, %d B)", command, seq, len(line))
            start = time.monotonic()
            try:
                reply = self.exchange(line, seq, timeout, retries)
            except DbchError as e:
                logsetup.debug("dbch.link", "<- %s (request %d): %s", command, seq, e)
                raise
        logsetup.debug(
            "dbch.link",
            "<- %s (request %d) in %.1f ms",
            command,
            seq,
            (time.monotonic() - start) * 1e3,
        )
        return reply

    def request_many(
        self,
        calls: list[tuple[str, dict[str, Any] | None]],
        timeout: float = 2.0,
        retries: int = 2,
    ) -> list[Any]:
        """Several read-only requests sent at once and their replies collected, in order:
        one round trip instead of one each (on a network port each costs milliseconds).
        The agent answers them one after the other. Only for small requests: together they
        must fit the board's receive buffer (a few hundred bytes on the smallest)."""
        with self.lock:
            lines = {}
            for command, args in calls:
                seq = self.next_seq()
                lines[seq] = encode_request(seq, command, args)
            names = ", ".join(c for c, _ in calls)
            logsetup.debug("dbch.link", "-> %s (requests %s)", names, ", ".join(map(str, lines)))
            replies = self._exchange(lines, timeout, retries)
            return [replies[seq] for seq in lines]

    def exchange(self, line: bytes, seq: int, timeout: float, retries: int) -> Any:
        return self._exchange({seq: line}, timeout, retries)[seq]

    def _exchange(self, lines: dict[int, bytes], timeout: float, retries: int) -> dict[int, Any]:
        """Send the requests (sequence number -> line) in one write and collect every reply
        body. A request whose reply is lost, or arrives damaged, is sent again with the same
        sequence number and bytes; the agent recognises the retry and answers from its
        cache, so nothing is applied twice."""
        done: dict[int, Any] = {}
        for attempt in range(retries + 1):
            pending = [seq for seq in lines if seq not in done]
            if attempt:
                self.stats["retries"] += len(pending)
            self.at_repl = False
            self._sent_text = lines[pending[-1]][1:].rstrip()
            self.transport.write(b"".join(lines[seq] for seq in pending))
            self.stats["sent"] += len(pending)
            for seq, frame in self._await_replies(set(pending), timeout).items():
                body = frame.decode_body()
                if frame.kind == KIND_REPLY:
                    done[seq] = body
                    continue
                if not isinstance(body, dict) or "code" not in body:
                    raise ProtocolError(f"malformed error reply: {body!r}"[:200])
                if not isinstance(body["code"], str):  # a code is a word (spec.ERROR_CODES)
                    raise ProtocolError(
                        f"malformed error reply: code is {type(body['code']).__name__}, "
                        "not a string"
                    )
                if body["code"] in TRANSIT_DAMAGE and attempt < retries:
                    self.stats["damaged"] += 1
                    continue  # damaged on the way in: send it again
                raise DeviceError(str(body["code"]), body.get("field"), body.get("msg"))
            if len(done) == len(lines):
                return done
            if self.at_repl:
                raise AtReplError(
                    f"{self.transport.url}: the board is at the MicroPython REPL, not running "
                    f"the agent{last_words(self.console_tail)}: reset it (`dbch sim reset ID` "
                    "for a simulated board, or the reset button) or run `dbch deploy`"
                )
            # otherwise lost, or the board restarted (its ready event): send again now
        missing = next(seq for seq in lines if seq not in done)
        raise TransportError(
            f"{self.transport.url}: no reply to request {missing} after {retries + 1} attempts "
            f"of {timeout:g} s (is the agent running? try `dbch console`)"
        )

    def _await_replies(self, wanted: set[int], timeout: float) -> dict[int, Frame]:
        """The replies (or error replies) to `wanted` that arrive before the time is up, the
        REPL is seen, or the board restarts."""
        got: dict[int, Frame] = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(wanted):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.at_repl:
                break
            frame = self.read_frame(remaining)
            if frame is None:
                continue
            if frame.kind == KIND_EVENT and self.events and self.events[-1].get("ev") == "ready":
                # The board started again (a power cut or reset) and forgot the requests:
                # retry at once rather than after the whole timeout. A signed request sent
                # again is recognised by the agent (auth.py), so it never runs twice.
                self.stats["restarts"] += 1
                break
            if frame.kind in (KIND_REPLY, KIND_ERROR):
                if frame.seq in wanted:
                    self.last_reply_line = self._last_line
                    got[frame.seq] = frame
                else:
                    self.stats["stale"] += 1  # a reply to an earlier attempt or request
        return got

    def read_frame(self, timeout: float) -> Frame | None:
        """The next frame (events are queued as well as returned); None on timeout."""
        raw = self.transport.read_line(timeout)
        if raw is None:
            return None
        self._last_line = raw
        console, text = split_line(raw)
        if self._at_repl(console):
            self.at_repl = True  # our request came back echoed by the REPL: not shown
            return None
        if console:
            self.console_tail.append(console)
            if self.on_console:
                self.on_console(console)
        if text is None:
            return None
        try:
            frame = decode_frame(text)
        except VersionError as e:
            raise ProtocolError(f"{self.transport.url}: {e}") from None
        except ProtocolError:
            self.stats["bad_lines"] += 1
            return None
        if frame.kind == KIND_EVENT:
            with contextlib.suppress(ProtocolError):
                body = frame.decode_body()
                if isinstance(body, dict):
                    self.events.append(body)
                    for queue in self.listeners:
                        queue.append(body)
        return frame

    def _at_repl(self, console: bytes) -> bool:
        echo = console.lstrip(b">. ").rstrip()
        return (
            (bool(self._sent_text) and echo == self._sent_text)
            or console.startswith(b">>> ")
            or console.endswith(b"raw REPL; CTRL-B to exit")
        )

    def wait_event(
        self,
        name: str | None = None,
        timeout: float = 5.0,
        queue: deque[dict[str, Any]] | None = None,
    ) -> dict[str, Any] | None:
        """The next queued or arriving event (named `name` if given), or None. `queue`: a
        guest's own (listeners), else the link's. The port is read in short turns, so that
        a holder's guests get their requests in while it waits."""
        events = self.events if queue is None else queue
        deadline = time.monotonic() + timeout
        while True:
            while events:
                ev = events.popleft()
                if name is None or ev.get("ev") == name:
                    return ev
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self.lock:
                self.read_frame(min(remaining, _TURN_S))
            if self.listeners:  # a holder's: let the others in (a lock is not a queue)
                time.sleep(_YIELD_S)
