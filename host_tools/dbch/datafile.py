"""Typed access to parsed JSON/TOML data that reports the file and field path of a fault.

Board definitions and table files are edited by hand; every error must say which file,
which field and why (`boards/X/board.json: radio.busy: required for sx1262`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from dbch.errors import DataFileError


class Fields:
    """A mapping from a data file, read field by field with its dotted path."""

    def __init__(
        self,
        data: Any,
        file: str,
        path: str = "",
        error: type[DataFileError] = DataFileError,
    ):
        self.file = file
        self.path = path
        self._error = error
        if not isinstance(data, dict):
            self.fail("", "must be a table/object")
        self.data: dict[str, Any] = data

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path and name else (self.path or name)

    def fail(self, name: str, reason: str) -> NoReturn:
        raise self._error(self.file, self.where(name), reason)

    def has(self, name: str) -> bool:
        return name in self.data

    def only(self, allowed: set[str] | frozenset[str]) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(key, "unknown field")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.data:
            if default is ...:
                self.fail(name, "required")
            return default
        value = self.data[name]
        # bool is an int in Python; a true/false where a number belongs is an error.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(name, f"must be {_kind_name(kind)}, not a boolean")
        if not isinstance(value, kind):
            self.fail(name, f"must be {_kind_name(kind)}")
        return value

    def text(self, name: str, default: Any = ..., choices: Any = None) -> Any:
        if name not in self.data and default is not ...:
            return default
        value = self.get(name, str)
        if choices is not None and value not in choices:
            self.fail(name, f"must be one of {', '.join(sorted(choices))}")
        return value

    def integer(
        self, name: str, lo: int | None = None, hi: int | None = None, default: Any = ...
    ) -> Any:
        if name not in self.data and default is not ...:
            return default
        value = self.get(name, int)
        if lo is not None and value < lo:
            self.fail(name, f"must be at least {lo}")
        if hi is not None and value > hi:
            self.fail(name, f"must be at most {hi}")
        return value

    def number(self, name: str, default: Any = ...) -> Any:
        return self.get(name, (int, float), default)

    def flag(self, name: str, default: Any = ...) -> Any:
        return self.get(name, bool, default)

    def array(self, name: str, default: Any = ...) -> Any:
        return self.get(name, list, default)

    def table(self, name: str, default: Any = ...) -> Fields:
        value = self.get(name, dict, default)
        return Fields(value if value is not None else {}, self.file, self.where(name), self._error)

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self.data.items())

    def each(self, name: str, parse: Callable[[Any, str], Any]) -> list[Any]:
        return [parse(v, f"{self.where(name)}[{i}]") for i, v in enumerate(self.array(name))]


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "text",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table/object",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(names.get(k, k.__name__) for k in kinds)
