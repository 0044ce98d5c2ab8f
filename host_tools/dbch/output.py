"""Formatting results: aligned tables for people, JSON-ready values for scripts. Pure
functions: printing them is the CLI's business (dbch.cli.printing)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def to_jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    rows = [["" if c is None else str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows
    ]
    return "\n".join(lines)


def key_values(pairs: Iterable[tuple[str, Any]]) -> str:
    pairs = [(k, "" if v is None else str(v)) for k, v in pairs]
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)


# The paper a printed report comes on (the first is the default: the UK prints A4).
PAPER_SIZES = ("A4", "letter")
# Every printed report's pages: the paper, the bench banner at the top of each page (a
# SIMULATED report must not pass for hardware evidence on any page) and "page N of M".
_PAGE_CSS = """@page{{size:{size};margin:16mm 12mm 14mm;
@top-center{{content:"{banner}";font:bold 10px system-ui,sans-serif;color:{colour}}}
@bottom-right{{content:"page " counter(page) " of " counter(pages);
font:10px system-ui,sans-serif;color:#555}}}}"""


def print_page_css(size: str, banner: str, colour: str) -> str:
    """The @page rule of a printed report (see _PAGE_CSS)."""
    return _PAGE_CSS.format(size=size, banner=banner, colour=colour)
