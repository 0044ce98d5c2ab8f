"""The exception tree. Only the CLI entry turns these into a message and an exit code."""

from __future__ import annotations


class DbchError(Exception):
    """Base of every error the tools raise on purpose. Exit code 2: could not run."""

    exit_code = 2


class TransportError(DbchError):
    """The port could not be opened, went away, or did not answer in time."""


class AtReplError(TransportError):
    """The board answers at the MicroPython REPL: its agent is not running."""


class PortBusyError(TransportError):
    """Another program holds the port (e.g. a second `dbch` run)."""


class ProtocolError(DbchError):
    """The device sent something that is not a valid frame or reply."""


class DeviceError(DbchError):
    """The agent answered with a typed error (docs/protocol.md lists the codes)."""

    exit_code = 1

    def __init__(self, code: str, field: str | None = None, msg: str | None = None):
        self.code = code
        self.field = field
        self.msg = msg
        where = f" ({field})" if field else ""
        super().__init__(f"device refused: {code}{where}" + (f": {msg}" if msg else ""))


class AuthError(DbchError):
    """No key for a board that needs one for this request (provision or find the key)."""


class DataFileError(DbchError):
    """A data file (board definition, table) is malformed: names file, field and reason."""

    def __init__(self, file: str, field: str, reason: str):
        self.file = file
        self.field = field
        self.reason = reason
        super().__init__(f"{file}: {field}: {reason}" if field else f"{file}: {reason}")


class BoardDefinitionError(DataFileError):
    """A board definition under boards/ is invalid."""


class TableError(DataFileError):
    """A configuration table file (tables/*.toml), DUIS or GBCS input is invalid."""


class SimError(DbchError):
    """A simulated board could not be started, found or controlled."""


class DeployError(DbchError):
    """Firmware could not be built or copied to the board."""
