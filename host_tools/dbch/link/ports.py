"""Naming a board's port: a URL pyserial opens, or a name a registered resolver turns into
one (`sim:ID` for a simulated board, registered by the layer that knows simulated boards).

The link does not know where such names come from: whoever assembles the program (the CLI,
the pytest plugin, `dbch.lab`) registers a resolver for its scheme."""

from __future__ import annotations

from collections.abc import Callable

from dbch.errors import DbchError

Resolver = Callable[[str], str]
_resolvers: dict[str, Resolver] = {}


def register_scheme(scheme: str, resolver: Resolver) -> None:
    """`resolver(rest)` turns `scheme:rest` into a URL (it raises DbchError if it cannot)."""
    _resolvers[scheme] = resolver


def scheme_of(spec: str) -> str | None:
    """The registered scheme a port name uses, if any (`sim` for `sim:hub1`)."""
    head, sep, _ = spec.partition(":")
    return head if sep and head in _resolvers else None


def resolve_port(spec: str | None) -> str:
    """A port URL from what the user typed."""
    if not spec:
        raise DbchError("no port given: use --port (or set DBCH_PORT)")
    scheme = scheme_of(spec)
    if scheme is not None:
        return _resolvers[scheme](spec[len(scheme) + 1 :])
    return spec
