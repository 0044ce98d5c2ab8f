"""Where each number a check compares with comes from. Three kinds, never mixed up:

- `sec_table`: a value the SEC DBCH Configuration Tables set (the 15 GBCS fields, the
  masking of 915-921 MHz). Most are placeholders in the shipped files: no public source
  gives them; each placeholder says why.
- `zigbee`: a Zigbee R22 / GB868 stack constant (the regulated duty-cycle caps, the LBT
  threshold, the PHY's bit rate, deviation and sync word), the same in every table.
- `regulation`: a radio-regulation limit (the maximum transmit power).

Every source names a document and clause, or says "placeholder: why" / "unverified: why".
Reports carry the kind and source of every record (docs/tables.md, "Provenance")."""

from __future__ import annotations

from dataclasses import dataclass

from dbch.gbcs.tables import TableVersion

KINDS = ("sec_table", "zigbee", "regulation")


@dataclass(frozen=True)
class Provenance:
    kind: str  # one of KINDS
    source: str

    def fields(self) -> dict[str, str]:
        """As an evidence record's `kind` and `source`."""
        return {"kind": self.kind, "source": self.source}


ZIGBEE_DUTY = Provenance(
    "zigbee",
    "the Zigbee duty-cycle constants as ZBOSS implements them (zb_config_common.h, "
    "ZB_MAC_DUTY_CYCLE_REGULATED_SYMBOLS_PAGES_28_29/30_31: 100 s/h on pages 28/29, 90 s/h "
    "on pages 30/31; docs/reference.md §3); the LBT threshold -87 dBm is unverified",
)
ZIGBEE_PHY = Provenance(
    "zigbee",
    "GB868 PHY: 2-GFSK 100 kbps, deviation 35 kHz, sync 0x904E: what the drivers set; "
    "unverified against a public document (docs/reference.md §2)",
)
TX_POWER = Provenance(
    "regulation",
    "unverified: +14 dBm is the Zigbee stacks' default for the GB Sub-GHz PHY (ZBOSS "
    "ZB_MAC_DEFAULT_TX_POWER_GB_EU_SUB_GHZ, docs/reference.md §3); ERC Rec 70-03, EN 300 220 "
    "and UK IR 2030 were not read, and the GB legal maximum for the DBCH is not in a public "
    "source read here. The "
    "limit is radiated: conducted power plus antenna gain (dBi - 2.15 for ERP) must stay "
    "within it (board.json antenna_gain_dbi)",
)


def _table(table: TableVersion, placeholder: str | None = None) -> Provenance:
    if placeholder:
        return Provenance("sec_table", f"placeholder: {placeholder}")
    s = table.source
    return Provenance(
        "sec_table", f"{s.document}, {s.clause}" + (f" ({s.date})" if s.date else "")
    )


def of_check(check: str, table: TableVersion, region: str) -> Provenance:
    """The provenance of the number a check record compares with (its `limit`)."""
    name = check.split(".", 1)[1] if "." in check else check
    if check.startswith("config.regulatory."):
        return TX_POWER if name.endswith("max_tx_ddbm") else ZIGBEE_DUTY
    if check.startswith("config."):
        req = table.region(region).requirements.get(name)
        return _table(table, req.placeholder if req else None)
    if check == "radio.power_dbm":
        return TX_POWER
    if check in ("radio.bitrate", "radio.fdev_hz", "radio.packet_type", "radio.sync_word"):
        return ZIGBEE_PHY
    if check == "witness.duty_cycle":
        return ZIGBEE_DUTY
    return _table(table)  # channels, the masked band, the operating channel, states
