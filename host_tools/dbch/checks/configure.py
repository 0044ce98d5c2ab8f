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


@dataclass(frozen=True)
class Prepared:
    """A configuration ready to send: its agent record (checked) and its labels."""

    record: bytes
    label: str | None
    region: str | None

    @property
    def hash(self) -> str:
        return content_hash(self.record)


def prepare(
    cfg: SubGhzConfig, regulatory: Regulatory, label: str | None = None, region: str | None = None
) -> Prepared:
    """The record of `cfg` with a table's limits, refused here (ConfigError naming the DUIS
    element, the value and the range) when GBCS, the DUIS schema or the regulated cap does
    not allow it: the host refuses before sending, the agent refuses again as the last line."""
    cfg.validate(regulatory.lowest_cap())
    return Prepared(agent_record(cfg, regulatory), label, region)


def prepare_table(table: TableVersion | str, region: str) -> Prepared:
    """A table region ready to send; a version DUIS cannot carry is refused, naming the
    version that supersedes it."""
    t = get_table(table) if isinstance(table, str) else table
    t.require_duis(region)
    return prepare(t.region(region).config(), t.regulatory, t.id, region)


def send(hub: AgentClient, prepared: Prepared) -> Applied:
    """Put a prepared configuration on the board (signed with its bench key)."""
    reply = hub.apply_config(prepared.record, prepared.label, prepared.region)
    return Applied(reply, prepared.hash)


def apply_table(hub: AgentClient, table: TableVersion | str, region: str) -> Applied:
    """Apply `table`'s `region`: prepare_table, then send."""
    return send(hub, prepare_table(table, region))


def is_configured(hub: AgentClient, table: TableVersion | str, region: str) -> bool:
    """True when the configuration in force is `table`'s `region`, byte for byte."""
    t = get_table(table) if isinstance(table, str) else table
    cfg = hub.get_config()
    return bool(cfg.get("configured")) and cfg.get("hash") == t.record_hash(region)
