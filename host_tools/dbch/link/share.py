"""A port held for a long time (`dbch record` for weeks, `dbch monitor` while someone
drives traffic) serves the other `dbch` commands of this host through itself: they ask the
holder, the holder puts their requests on the link between its own, one at a time.

The holder listens on a local socket in this user's private folder (paths.
private_socket_dir: 0700, refused if someone else made it) and answers only processes of
its own user (the peer's credentials, SO_PEERCRED): the same people who could open the
port themselves were it free. A guest's signed requests are signed by the guest, with its
key store, as on the port; the holder relays bytes it cannot forge. docs/security.md has
the threat model's entry.

Messages: a 4-byte big-endian length, then CBOR. Requests: {"op": "request", "command",
"args", "timeout", "retries"}, {"op": "request_many", "calls", "timeout", "retries"} or
{"op": "wait_event", "name", "timeout"} (each guest gets every event pushed while it is
connected).
Replies: {"ok": reply} or {"error": class name, "text", "code", "field", "msg"}.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import struct
import threading
from collections import deque
from pathlib import Path
from typing import Any

import cbor2

from dbch import errors, paths
from dbch.errors import DbchError, DeviceError, TransportError

MAX_MESSAGE = 1 << 20
_ERRORS = {
    c.__name__: c
    for c in (
        errors.TransportError,
        errors.AtReplError,
        errors.ProtocolError,
        errors.AuthError,
        errors.DbchError,
    )
}


def socket_path(url: str) -> Path:
    """Where the holder of `url` listens (one name per port URL)."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return paths.private_socket_dir() / f"port-{digest}.sock"


def _send(conn: socket.socket, value: Any) -> None:
    body = cbor2.dumps(value)
    conn.sendall(struct.pack(">I", len(body)) + body)


def _recv(conn: socket.socket) -> Any:
    head = _exactly(conn, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_MESSAGE:
        raise DbchError(f"shared port: a message of {n} bytes (at most {MAX_MESSAGE})")
    body = _exactly(conn, n)
    if body is None:
        raise DbchError("shared port: the connection closed mid-message")
    return cbor2.loads(body)


def _exactly(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _run(link: Any, msg: Any, events: deque[dict[str, Any]] | None = None) -> Any:
    """One message on a frames.Link: the holder's for a guest, or a guest's own once its
    holder has gone. `events`: the guest's copy of what the board pushes."""
    op = msg.get("op") if isinstance(msg, dict) else None
    if op == "request":
        return link.request(msg["command"], msg.get("args"), msg["timeout"], msg["retries"])
    if op == "request_many":
        calls = [(c, a) for c, a in msg["calls"]]
        return link.request_many(calls, msg["timeout"], msg["retries"])
    if op == "wait_event":
        return link.wait_event(msg.get("name"), msg["timeout"], queue=events)
    raise DbchError(f"shared port: not a request: {msg!r}"[:200])


def peer_uid(conn: socket.socket) -> int:
    _pid, uid, _gid = struct.unpack(
        "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    )
    return int(uid)


class PortServer:
    """The holder's side: serves `link` (a frames.Link) to this user's other commands.
    `on_refused(uid)` hears of a connection from another user, turned away."""

    def __init__(self, link: Any, url: str, on_refused: Any = None):
        self.link = link
        self.path = socket_path(url)
        self.on_refused = on_refused
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._claim()
        self._listener.listen(8)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="port-share")
        self._thread.start()

    def _claim(self) -> None:
        # A socket left by a holder that died (kill -9) is taken over; one that answers
        # belongs to a holder still running: the port is not ours to serve.
        if self.path.exists() or self.path.is_symlink():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink()
            else:
                raise TransportError(f"{self.path}: another holder serves this port")
            finally:
                probe.close()
        self._listener.bind(str(self.path))
        os.chmod(self.path, 0o600)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            uid = peer_uid(conn)
            if uid != os.getuid():
                conn.close()
                if self.on_refused is not None:
                    self.on_refused(uid)
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        events: deque[dict[str, Any]] = deque(maxlen=1000)  # what the board pushes, for it
        self.link.listeners.append(events)
        try:
            with conn:
                while True:
                    try:
                        msg = _recv(conn)
                    except (OSError, DbchError, ValueError):
                        return
                    if msg is None:
                        return
                    try:
                        _send(conn, self._answer(msg, events))
                    except OSError:
                        return
        finally:
            self.link.listeners.remove(events)

    def _answer(self, msg: Any, events: deque[dict[str, Any]]) -> dict[str, Any]:
        try:
            return {"ok": _run(self.link, msg, events)}
        except DeviceError as e:
            return {"error": "DeviceError", "code": e.code, "field": e.field, "msg": e.msg}
        except DbchError as e:
            return {"error": type(e).__name__, "text": str(e)}
        except (KeyError, TypeError, ValueError) as e:
            return {"error": "DbchError", "text": f"shared port: malformed request: {e}"}


class _RelayTransport:
    """What an AgentClient holds when its port is served by another process."""

    def __init__(self, url: str, conn: socket.socket):
        self.url = url
        self.conn = conn

    def close(self) -> None:
        self.conn.close()


class RelayLink:
    """A guest's link: the frames.Link requests and event waits, asked of the holder. If
    the holder goes away (its recording stopped), the port is free: the guest opens it
    itself and carries on (the request in hand is sent again, as for a lost reply)."""

    def __init__(self, url: str, path: Path, on_console: Any = None):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(path))
        except OSError as e:
            conn.close()
            raise TransportError(
                f"{url}: held by another process, which does not answer: {e}"
            ) from None
        self.transport: Any = _RelayTransport(url, conn)
        self.on_console = on_console
        self.direct: Any = None  # a frames.Link of our own, once the holder is gone

    def _ask(self, msg: dict[str, Any]) -> Any:
        if self.direct is None:
            conn = self.transport.conn
            try:
                _send(conn, msg)
                answer = _recv(conn)
            except OSError:
                answer = None
            if answer is None:
                self._go_direct()
            elif "ok" in answer:
                return answer["ok"]
            elif answer.get("error") == "DeviceError":
                raise DeviceError(answer["code"], answer.get("field"), answer.get("msg"))
            else:
                raise _ERRORS.get(answer.get("error"), DbchError)(answer.get("text", "shared"))
        return _run(self.direct, msg)

    def _go_direct(self) -> None:
        from dbch.link.frames import Link
        from dbch.link.transport import Transport

        url = self.transport.url
        self.transport.close()
        try:
            transport = Transport(url)
        except TransportError as e:
            raise TransportError(f"{url}: the port's holder went away, and then: {e}") from None
        transport.discard_input()
        self.transport = transport
        self.direct = Link(transport, on_console=self.on_console)

    def request(
        self,
        command: str,
        args: dict[str, Any] | None = None,
        timeout: float = 2.0,
        retries: int = 2,
    ) -> Any:
        msg = {"op": "request", "command": command, "args": args or {}}
        return self._ask({**msg, "timeout": timeout, "retries": retries})

    def request_many(
        self,
        calls: list[tuple[str, dict[str, Any] | None]],
        timeout: float = 2.0,
        retries: int = 2,
    ) -> list[Any]:
        msg = {"op": "request_many", "calls": [[c, a or {}] for c, a in calls]}
        return list(self._ask({**msg, "timeout": timeout, "retries": retries}))

    def wait_event(self, name: str | None = None, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next event the board pushes from now on (the holder keeps a copy for each
        guest), or None."""
        event = self._ask({"op": "wait_event", "name": name, "timeout": timeout})
        return event if isinstance(event, dict) else None
