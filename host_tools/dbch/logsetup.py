"""The tools' loggers, with `logging` imported only when something is logged.

`logging` (with `traceback`, `threading` and `weakref`) is 5 ms of a query's start-up, and
a query that goes well logs nothing. The CLI's set-up (handlers, the `[device]` prefix) is
registered here and runs before the first line; `dbch -v` runs it at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

on_first_log: Callable[[], None] | None = None


def logger(name: str) -> Any:
    """`logging.getLogger(name)`, after the CLI's set-up if one is waiting."""
    global on_first_log
    import logging

    if on_first_log is not None:
        setup, on_first_log = on_first_log, None
        setup()
    return logging.getLogger(name)


def debug(name: str, msg: str, *args: Any) -> None:
    """A debug line: until `logging` is imported nobody can have asked for one."""
    if "logging" in sys.modules:
        log = logger(name)
        if log.isEnabledFor(10):  # logging.DEBUG
            log.debug(msg, *args)
