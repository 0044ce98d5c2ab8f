"""The agent as a labgrid driver, and a strategy that brings a board to "configured".

Labgrid users name this module in their environment file (`imports: [dbch.lg.driver]`) and
bind `DbchAgentDriver` to the board's serial resource (a local `USBSerialPort` or
`RawSerialPort`, or a `NetworkSerialPort` from a remote exporter's ser2net). The driver
speaks our link (dbch.link) over that port, in this process: the agent's operations
(hello, status, config, apply, check, deploy) as labgrid steps.

`DbchStrategy` walks off -> repl -> agent -> configured: power (when the target has a power
driver), the agent deployed with mpremote when the board's firmware hash is not this
checkout's, then the table region applied when the board's configuration is not already
it. See docs/labs.md for an environment file and a test suite using them.
"""

from __future__ import annotations

import enum
from typing import Any

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource import NetworkSerialPort, SerialPort
from labgrid.step import step
from labgrid.strategy.common import Strategy, StrategyError, never_retry
from labgrid.util.proxy import proxymanager

from dbch.errors import DbchError
from dbch.lg.places import serial_url


def resource_url(port: Any) -> str:
    """The pyserial URL of a bound serial resource (through LG_PROXY when one is set)."""
    if isinstance(port, NetworkSerialPort):
        host, tcp_port = proxymanager.get_host_and_port(port)
        return serial_url(
            "NetworkSerialPort", {"host": host, "port": tcp_port, "protocol": port.protocol}
        )
    assert isinstance(port, SerialPort)
    return serial_url("SerialPort", {"port": port.port})


@target_factory.reg_driver
@attr.s(eq=False)
class DbchAgentDriver(Driver):
    """The DBCH configuration agent on the board behind `port`.

    Args:
        board (str): board definition id, for deploying to a board whose agent cannot say
            (a blank one); default: what the agent says
        timeout (float): seconds to wait for the agent to answer after a reset (15)
    """

    bindings = {"port": {"SerialPort", "NetworkSerialPort"}}  # noqa: RUF012  (labgrid's form)
    board = attr.ib(
        default=None, validator=attr.validators.optional(attr.validators.instance_of(str))
    )
    timeout = attr.ib(default=15.0, validator=attr.validators.instance_of(float))

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.url: str | None = None
        self._hub: Any = None

    def on_activate(self) -> None:
        self.url = resource_url(self.port)

    def on_deactivate(self) -> None:
        self.close()

    # --- the connection ------------------------------------------------------------------
    @Driver.check_active
    def hub(self) -> Any:
        """The open AgentClient (opened on first use, kept until deactivated)."""
        from dbch.link.client import AgentClient

        if self._hub is None:
            self._hub = AgentClient(self.url, on_console=None)
        return self._hub

    def close(self) -> None:
        if self._hub is not None:
            hub, self._hub = self._hub, None
            hub.close()

    # --- the agent's operations ----------------------------------------------------------
    @Driver.check_active
    @step()
    def hello(self) -> dict[str, Any]:
        return self.hub().hello().as_dict()

    @Driver.check_active
    @step()
    def status(self) -> dict[str, Any]:
        return self.hub().status()

    @Driver.check_active
    @step()
    def config(self) -> dict[str, Any]:
        return self.hub().get_config()

    @Driver.check_active
    @step(args=["table", "region"])
    def apply(self, table: str, region: str) -> dict[str, Any]:
        """Apply a table version's region (signed with the board's bench key); the reply."""
        from dbch.checks.configure import apply_table

        return apply_table(self.hub(), table, region).reply

    @Driver.check_active
    @step(args=["table", "region"])
    def check(self, table: str, region: str, mode: str = "conform") -> Any:
        """`dbch check` (config and readback views; no witness on a labgrid target): the
        CheckReport, whose `result` is pass, fail or incomplete."""
        from dbch.checks.views import check_client
        from dbch.gbcs.tables import get_table

        return check_client(self.hub(), get_table(table), region, None, self.target.name, mode)

    @Driver.check_active
    def configured_as(self, table: str, region: str) -> bool:
        """True when the configuration in force is `table`'s `region`, byte for byte."""
        from dbch.checks.configure import is_configured

        return is_configured(self.hub(), table, region)

    @Driver.check_active
    def firmware_current(self) -> bool:
        """True when the agent answers and runs this checkout's firmware."""
        from dbch.boards.deploy import firmware_hash

        try:
            return self.hub().wait_ready(3.0, give_up_at_repl=True).fw_hash == firmware_hash()
        except DbchError:
            return False

    @Driver.check_active
    @step()
    def deploy(self) -> Any:
        """Deploy this checkout's firmware with mpremote (the link is closed meanwhile)."""
        from dbch.boards.deploy import deploy

        self.close()
        report = deploy(self.url, self.board)
        self.hub().wait_ready(self.timeout)
        return report


class Status(enum.Enum):
    unknown = 0
    off = 1
    repl = 2  # powered, its port reachable (a blank board: MicroPython's REPL)
    agent = 3  # this checkout's agent answering
    configured = 4  # and the table region in force


@target_factory.reg_driver
@attr.s(eq=False)
class DbchStrategy(Strategy):
    """Bring the board to a state: off, repl, agent or configured.

    Args:
        table (str): table version for "configured" (e.g. sec-2018-03-r1)
        region (str): CSP region for "configured" (north, central, south)
    """

    bindings = {"agent": "DbchAgentDriver", "power": {"PowerProtocol", None}}  # noqa: RUF012
    table = attr.ib(
        default=None, validator=attr.validators.optional(attr.validators.instance_of(str))
    )
    region = attr.ib(default="north", validator=attr.validators.instance_of(str))
    status = attr.ib(default=Status.unknown)

    @never_retry
    @step(args=["status"])
    def transition(self, status: Status | str, *, step: Any) -> None:
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError(f"can not transition to {status}")
        if status == self.status:
            step.skip("nothing to do")
            return
        if status == Status.off:
            self.target.deactivate(self.agent)
            if self.power is None:
                raise StrategyError("no power driver: the board cannot be turned off")
            self.target.activate(self.power)
            self.power.off()
        elif status == Status.repl:
            if self.power is not None:
                self.target.activate(self.power)
                self.power.on()
            self.target.activate(self.agent)
        elif status == Status.agent:
            self.transition(Status.repl)
            if not self.agent.firmware_current():
                self.agent.deploy()
        elif status == Status.configured:
            if not self.table:
                raise StrategyError("DbchStrategy needs `table` to reach configured")
            self.transition(Status.agent)
            if not self.agent.configured_as(self.table, self.region):
                reply = self.agent.apply(self.table, self.region)
                if (reply.get("radio") or {}).get("state") != "ready":
                    raise StrategyError(f"applied, but the radio is not ready: {reply}")
            if not self.agent.configured_as(self.table, self.region):
                raise StrategyError(f"{self.table} {self.region} is not in force after apply")
        else:
            raise StrategyError(f"no transition found from {self.status} to {status}")
        self.status = status
