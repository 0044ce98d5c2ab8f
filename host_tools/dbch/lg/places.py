"""Labgrid places as ports: `labgrid:PLACE` names a board that a labgrid coordinator knows.

The coordinator (LG_COORDINATOR, as labgrid's own tools read it) says who holds each place
and which exporter serves its serial port. Using a place acquires it first, so two
engineers (or a CI job and an engineer) never drive one board at once; a place another
user holds is `busy` (exit 2) with who holds it, and is left alone. A place this command
acquired is released when the command ends; one the user already held stays theirs.

The port of a place is its NetworkSerialPort: the exporter's ser2net, spoken to over RFC
2217 with `ign_set_control` (ser2net does not answer the control option for a port without
modem lines; without it pyserial waits for the answer and times out, as labgrid's own
serial driver knows).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from dbch.errors import DbchError, PortBusyError, TransportError

DEFAULT_COORDINATOR = "127.0.0.1:20408"
CONNECT_TIMEOUT_S = 10.0
SERIAL_CLASSES = ("NetworkSerialPort", "USBSerialPort", "RawSerialPort", "SerialPort")


def coordinator_address() -> str:
    return os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def serial_url(cls: str, params: dict[str, Any]) -> str:
    """The pyserial URL of a serial resource's parameters (a remote one's host and port, or
    a local one's device)."""
    if cls == "NetworkSerialPort":
        host, port = params.get("host"), params.get("port")
        if not host or not port:
            raise TransportError(f"{cls} without a host and port: {params}")
        if params.get("protocol", "rfc2217") == "raw":
            return f"socket://{host}:{port}"
        return f"rfc2217://{host}:{port}?ign_set_control"
    port = params.get("port")
    if not port:
        raise TransportError(f"{cls} without a port (is the board plugged in?)")
    return str(port)


@dataclass
class Held:
    place: str
    url: str
    tags: dict[str, str]
    path: str | None  # the device behind the exporter's ser2net (a simulated board's pty)
    acquired_here: bool  # acquired by this command: released when it ends


@dataclass
class Places:
    """One session with the coordinator for the life of a command. Every call goes through
    its one event loop, one at a time (a lock), so fleet threads may share it."""

    address: str = field(default_factory=coordinator_address)
    held: dict[str, Held] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the session ---------------------------------------------------------------------
    def _run(self, coro: Any) -> Any:
        assert self._loop is not None
        return self._loop.run_until_complete(coro)

    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                from labgrid.remote.client import ClientSession
                from labgrid.util.proxy import proxymanager

                # labgrid logs a lost coordinator on the root logger, which Python would print
                # as a bare "ERROR:root:" line: the error we raise says it once, plainly.
                if not logging.getLogger().handlers:
                    logging.getLogger().addHandler(logging.NullHandler())
                self._loop = asyncio.new_event_loop()
                asyncio.set_event_loop(self._loop)  # grpc's channel binds to the current loop
                address = proxymanager.get_grpc_address(self.address, default_port=20408)
                session = ClientSession(address, self._loop)
                try:
                    self._run(asyncio.wait_for(session.start(), CONNECT_TIMEOUT_S))
                except Exception as e:  # a timeout, grpc's errors and labgrid's own
                    self._loop.close()
                    self._loop = None
                    raise TransportError(
                        f"labgrid coordinator {self.address}: cannot connect ({_why(e)}); "
                        "is labgrid-coordinator running? (set LG_COORDINATOR=HOST:PORT)"
                    ) from None
                self._session = session
            return self._session

    def user(self) -> str:
        s = self.session()
        return f"{s.gethostname()}/{s.getuser()}"

    def close(self) -> None:
        """Release what this command acquired, then end the session."""
        with self._lock:
            if self._session is None:
                return
            for h in list(self.held.values()):
                if h.acquired_here:
                    self.release(h.place)
            s, self._session = self._session, None
            try:
                self._run(s.stop())
                self._run(s.close())
            except Exception:  # (a coordinator gone by now: nothing to release)
                pass
            assert self._loop is not None
            self._loop.close()
            self._loop = None

    # --- places --------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self.session().places)

    def tagged(self, matches: dict[str, str]) -> list[str]:
        """Every place whose tags include all of `matches` (`dbch=1`, `board=NUCLEO_WL55`)."""
        s = self.session()
        return sorted(
            n for n, p in s.places.items() if all(p.tags.get(k) == v for k, v in matches.items())
        )

    def _place(self, name: str) -> Any:
        place = self.session().places.get(name)
        if place is None:
            known = ", ".join(self.names()) or "none"
            raise DbchError(f"labgrid: no place named {name!r} (places: {known})")
        return place

    def hold(self, name: str) -> Held:
        """Acquire `name` (unless this user holds it already) and find its serial port."""
        got = self.hold_many([name])[name]
        if isinstance(got, DbchError):
            raise got
        return got

    def hold_many(self, names: list[str]) -> dict[str, Held | DbchError]:
        """`hold` for each place, the acquisitions sent together (the coordinator takes
        about half a second for each, mostly asking the exporter); what could not be held
        comes back as its error, for the caller to report per board."""
        out: dict[str, Held | DbchError] = {}
        with self._lock:
            me = self.user()
            idle = []
            for name in names:
                if name in self.held:
                    out[name] = self.held[name]
                    continue
                try:
                    place = self._place(name)
                    if place.acquired and place.acquired != me:
                        raise PortBusyError(f"labgrid:{name}: busy, held by {place.acquired}")
                    if not place.acquired:
                        self._check_matches(place)
                        idle.append(name)
                except DbchError as e:
                    out[name] = e
            out.update(self._acquire(idle))
            for name in names:
                if name in out:
                    continue
                acquired_here = name in idle
                place = self._place(name)
                try:
                    cls, params = self._serial_resource(place)
                except DbchError as e:
                    if acquired_here:
                        self.release(name)
                    out[name] = e
                    continue
                extra = params.get("extra", {})
                held = Held(
                    name,
                    serial_url(cls, params),
                    dict(place.tags),
                    extra.get("path"),
                    acquired_here,
                )
                self.held[name] = out[name] = held
        return out

    def _check_matches(self, place: Any) -> None:
        from labgrid.remote.client import Error as LabgridError

        try:
            self.session().check_matches(place)
        except LabgridError as e:
            raise TransportError(
                f"labgrid:{place.name}: {_why(e)} (is its exporter running?)"
            ) from None

    def _acquire(self, names: list[str]) -> dict[str, DbchError]:
        """Acquire these idle places at once; the ones that failed, with why."""
        from labgrid.remote.generated import labgrid_coordinator_pb2

        if not names:
            return {}
        s = self.session()

        async def all_of() -> list[Any]:
            requests = [
                s.stub.AcquirePlace(labgrid_coordinator_pb2.AcquirePlaceRequest(placename=n))
                for n in names
            ]
            done = await asyncio.gather(*requests, return_exceptions=True)
            await s.sync_with_coordinator()
            return done

        failed: dict[str, DbchError] = {}
        for name, result in zip(names, self._run(all_of()), strict=True):
            if isinstance(result, BaseException):  # grpc's AioRpcError: taken meanwhile
                holder = self._place(name).acquired
                failed[name] = (
                    PortBusyError(f"labgrid:{name}: busy, held by {holder}")
                    if holder
                    else TransportError(f"labgrid:{name}: cannot acquire: {_why(result)}")
                )
        return failed

    def release(self, name: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2

        with self._lock:
            self.held.pop(name, None)
            s = self.session()
            request = labgrid_coordinator_pb2.ReleasePlaceRequest(placename=name)
            try:
                self._run(s.stub.ReleasePlace(request))
                self._run(s.sync_with_coordinator())
            except Exception:  # (gone already: nothing more to do)
                pass

    def _serial_resource(self, place: Any) -> tuple[str, dict[str, Any]]:
        from labgrid.remote.client import Error as LabgridError

        try:
            resources = self.session().get_target_resources(place)
        except LabgridError as e:
            raise TransportError(f"labgrid:{place.name}: {e}") from None
        found = [(cls, r) for (_, cls), r in resources.items() if cls in SERIAL_CLASSES]
        if not found:
            raise TransportError(
                f"labgrid:{place.name}: the place has no serial port "
                "(add-match EXPORTER/GROUP/NetworkSerialPort)"
            )
        if len(found) > 1:
            raise TransportError(f"labgrid:{place.name}: the place has more than one serial port")
        cls, resource = found[0]
        if not resource.avail:
            raise TransportError(
                f"labgrid:{place.name}: its serial port is not available (exporter offline?)"
            )
        return cls, resource.params


def _why(e: BaseException) -> str:
    details = getattr(e, "details", None)
    if callable(details):
        try:
            return str(details())
        except Exception:
            pass
    text = str(e) or type(e).__name__
    return text.removeprefix("Error: ")  # labgrid's errors say "Error: " before the message


_places: Places | None = None


def places() -> Places:
    """The command's one coordinator session (made when a place is first named)."""
    global _places
    if _places is None:
        _places = Places()
    return _places


def release_all() -> None:
    """End the command's session, releasing the places it acquired (the CLI calls this)."""
    global _places
    if _places is not None:
        p, _places = _places, None
        p.close()
