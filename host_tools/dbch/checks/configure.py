"""A table region put on a board, and whether it is there: one definition for `dbch apply`,
`dbch fleet apply`, the labgrid driver and regression suites (the pytest plugin's
`dbch_configured_hub` fixture, or `apply_table(hub, table, region)` in a test)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dbch.gbcs.subghz_config import Regulatory, SubGhzConfig, agent_record, content_hash
from dbch.gbcs.tables import TableVersion, get_table
from dbch.link.client import AgentClient


@dataclass(frozen=True)
class Applied:
    reply: dict[str, Any]  # the agent's set_config reply
    expected_hash: str  # the record's content hash: what the agent must confirm

    @property
    def radio_state(self) -> str | None:
        return (self.reply.get("radio") or {}).get("state")

    @property
    def ok(self) -> bool:
        """The agent confirmed this record and its radio is ready on it."""
        return self.reply.get("hash") == self.expected_hash and self.radio_state == "ready"


def record_to_send(cfg: SubGhzConfig, regulatory: Regulatory) -> bytes:
    """The agent record of `cfg`, refused here (ConfigError naming the DUIS element, the
    value and the range) when GBCS, the DUIS schema or the regulated cap does not allow it:
    the host refuses before sending, the agent refuses again as the last line."""
    cfg.validate(regulatory.lowest_cap())
    return agent_record(cfg, regulatory)


def apply_table(hub: AgentClient, table: TableVersion | str, region: str) -> Applied:
    """Apply `table`'s `region` (signed with the board's bench key); a version DUIS
    cannot carry is refused before anything is sent."""
    t = get_table(table) if isinstance(table, str) else table
    t.require_duis(region)
    record = record_to_send(t.region(region).config(), t.regulatory)
    return Applied(hub.apply_config(record, t.id, region), content_hash(record))


def is_configured(hub: AgentClient, table: TableVersion | str, region: str) -> bool:
    """True when the configuration in force is `table`'s `region`, byte for byte."""
    t = get_table(table) if isinstance(table, str) else table
    cfg = hub.get_config()
    return bool(cfg.get("configured")) and cfg.get("hash") == t.record_hash(region)
