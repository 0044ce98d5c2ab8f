"""The board under test and what its bench can do with it (labgrid draws it the same way).

A target always has a console (its port). The rest is optional and depends on the bench:
a simulated board has power, reset and a witness (the bench's own view of the air); a
real board has what its bench file gives it (a relay to cut power, nothing at all). Code
asks for a protocol (`target.reset is not None`), never "is this simulated?".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from dbch.errors import DbchError
from dbch.link.client import AgentClient


@runtime_checkable
class Console(Protocol):
    """The board's serial console: a URL pyserial opens."""

    port: str


@runtime_checkable
class Power(Protocol):
    def power_cut(self) -> None:
        """Cut the board's power at this instant and restore it (the board boots again)."""


@runtime_checkable
class Reset(Protocol):
    def reset(self) -> None:
        """Press the board's reset button (it boots again; flash is kept)."""


@runtime_checkable
class Witness(Protocol):
    def emissions(self, since_s: float | None) -> list[dict[str, Any]]:
        """What the board put on the air in the last `since_s` bench seconds (None: all),
        as seen by something other than the board itself."""


@dataclass(frozen=True)
class Target:
    """One board: a name for reports, its console port, a CSP region of its own (from a
    bench file) and the bench protocols it has. One type for `check`, `fleet` and pytest."""

    name: str
    port: str
    region: str | None = None
    board: str | None = None  # board definition id, when known before asking the agent
    power: Power | None = None
    reset: Reset | None = None
    witness: Witness | None = None
    simulated: bool = False  # a simulated twin, not hardware (said in every report)
    # Why the board cannot be used, found while choosing boards (a labgrid place another
    # user holds): the job reports it for this board instead of stopping the whole run.
    unavailable: DbchError | None = None

    def emissions(self, since_s: float | None) -> list[dict[str, Any]] | None:
        """The witness's records, or None where the bench has no witness."""
        return None if self.witness is None else self.witness.emissions(since_s)


@dataclass(frozen=True)
class CommandPower:
    """Power through a bench's own commands (a USB relay, a switched hub port), as labgrid's
    ExternalPowerDriver: `off` then `on`, each a shell-free command line."""

    on: str
    off: str
    timeout_s: float = 10.0

    def power_cut(self) -> None:
        import shlex
        import subprocess

        for cmd in (self.off, self.on):
            try:
                subprocess.run(shlex.split(cmd), check=True, timeout=self.timeout_s)
            except (OSError, subprocess.SubprocessError) as e:
                raise DbchError(f"power command {cmd!r} failed: {e}") from None


def ready_agent(port: str, reset: Reset | None, first_wait: float = 3.0) -> AgentClient:
    """A connection to the board's agent, answering. A board whose agent is silent (a test
    left it at the REPL) is reset first when it has a reset button to press; else the
    error stands. The one rule for the pytest plugin and the project's own tests."""
    hub = AgentClient(port, on_console=None)
    try:
        hub.wait_ready(first_wait)
        return hub
    except DbchError:
        hub.close()
        if reset is None:
            raise
    reset.reset()
    hub = AgentClient(port, on_console=None)
    try:
        hub.wait_ready()
    except BaseException:
        hub.close()
        raise
    return hub
