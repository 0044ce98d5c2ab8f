"""What changed between two table versions, and which devices a new version leaves out of
line (`dbch tables diff`, `dbch tables impact`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbch.errors import TableError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.compare import FieldResult, changes_needed, compare, conforms, describe
from dbch.gbcs.subghz_config import FIELDS, MASK_KEYS, agent_record, content_hash
from dbch.gbcs.tables import REGIONS, Requirement, TableVersion


@dataclass(frozen=True)
class FieldChange:
    region: str
    field: str
    old: Requirement
    new: Requirement
    opened: tuple[plan.Channel, ...] = ()  # channels the new version allows and the old did not
    closed: tuple[plan.Channel, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        def chans(cs: tuple[plan.Channel, ...]) -> list[dict[str, int]]:
            return [{"page": c.page, "channel": c.number, "freq_hz": c.freq_hz} for c in cs]

        return {
            "region": self.region,
            "field": self.field,
            "old": {
                "value": self.old.value,
                "rule": self.old.rule,
                "placeholder": self.old.placeholder,
            },
            "new": {
                "value": self.new.value,
                "rule": self.new.rule,
                "placeholder": self.new.placeholder,
            },
            "opened": chans(self.opened),
            "closed": chans(self.closed),
        }

    def text(self) -> str:
        parts = []
        if self.old.value != self.new.value:
            parts.append(
                f"{describe(self.field, self.old.value)} -> {describe(self.field, self.new.value)}"
            )
        if self.old.rule != self.new.rule:
            parts.append(f"rule {self.old.rule} -> {self.new.rule}")
        if self.old.placeholder != self.new.placeholder:
            parts.append("placeholder " + ("removed" if not self.new.placeholder else "changed"))
        for verb, cs in (("opens", self.opened), ("closes", self.closed)):
            if cs:
                page = cs[0].page
                lo, hi = cs[0].freq_hz, cs[-1].freq_hz
                parts.append(
                    f"{verb} page {page} channels "
                    f"{plan.format_channels([c.number for c in cs])} "
                    f"({plan.mhz(lo)}-{plan.mhz(hi)} MHz)"
                )
        return "; ".join(parts)


@dataclass
class TableDiff:
    old: TableVersion
    new: TableVersion
    changes: list[FieldChange] = field(default_factory=list)
    other: list[tuple[str, Any, Any]] = field(default_factory=list)  # metadata, regulatory

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.id,
            "new": self.new.id,
            "fields": [c.as_dict() for c in self.changes],
            "other": [{"what": w, "old": o, "new": n} for w, o, n in self.other],
        }


def diff(old: TableVersion, new: TableVersion) -> TableDiff:
    d = TableDiff(old, new)
    for what, a, b in (
        ("status", old.status, new.status),
        ("effective", old.effective, new.effective),
        (
            "regulatory.cap_ms_per_hour",
            old.regulatory.cap_ms_per_hour,
            new.regulatory.cap_ms_per_hour,
        ),
        (
            "regulatory.lbt_threshold_ddbm",
            old.regulatory.lbt_threshold_ddbm,
            new.regulatory.lbt_threshold_ddbm,
        ),
        ("regulatory.max_tx_ddbm", old.regulatory.max_tx_ddbm, new.regulatory.max_tx_ddbm),
    ):
        if a != b:
            d.other.append(
                (what, str(a) if a is not None else None, str(b) if b is not None else None)
            )
    for region in REGIONS:
        for spec in FIELDS:
            a = old.region(region).requirements[spec.key]
            b = new.region(region).requirements[spec.key]
            if (a.value, a.rule, a.placeholder) == (b.value, b.rule, b.placeholder):
                continue
            opened: tuple[plan.Channel, ...] = ()
            closed: tuple[plan.Channel, ...] = ()
            if spec.key in MASK_KEYS:
                page, was = plan.decode_word(a.value)
                _, now = plan.decode_word(b.value)
                opened = tuple(plan.Channel(page, c) for c in sorted(set(now) - set(was)))
                closed = tuple(plan.Channel(page, c) for c in sorted(set(was) - set(now)))
            d.changes.append(FieldChange(region, spec.key, a, b, opened, closed))
    return d


@dataclass(frozen=True)
class DeviceRecord:
    """A saved device configuration: `dbch config --json` output (the fields), `dbch status
    --json` output (the hash, table and region in force, no fields), or
    {"device": name, "region": r, "config": {field: value, ...}}."""

    name: str
    region: str | None
    config: dict[str, int | None]
    file: str
    hash: str | None = None  # the content hash the device reported, if it did


def _record(data: Any, file: str, index: int | None) -> DeviceRecord:
    where = f"{file}[{index}]" if index is not None else file
    if not isinstance(data, dict):
        raise TableError(where, "", "a device record must be a JSON object")
    cfg = data.get("config")
    digest = None
    if isinstance(data.get("fields"), dict):  # dbch config --json
        region, fields_, digest = data.get("region"), data["fields"], data.get("hash")
    elif isinstance(cfg, dict) and isinstance(cfg.get("fields"), dict):
        region = cfg.get("region") or data.get("region")
        fields_, digest = cfg["fields"], cfg.get("hash")
    elif isinstance(cfg, dict) and "hash" in cfg and "uptime_ms" in data:  # dbch status --json
        region, fields_, digest = cfg.get("region") or data.get("region"), {}, cfg.get("hash")
    elif isinstance(cfg, dict):
        region = data.get("region")
        fields_ = cfg
    elif data.get("configured") is False or ("config" in data and "uptime_ms" in data):
        region, fields_ = data.get("region"), {}  # an unconfigured board: nothing to check
    else:
        raise TableError(
            where,
            "config",
            "missing: expected `dbch config --json` or `dbch status --json` output, or "
            '{"device": ..., "region": ..., "config": {field: value}}',
        )
    values: dict[str, int | None] = {}
    for spec in FIELDS:
        v = fields_.get(spec.key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise TableError(where, f"config.{spec.key}", "must be an integer")
        values[spec.key] = v
    name = data.get("device") or data.get("uid") or data.get("board") or Path(file).stem
    if index is not None and not (data.get("device") or data.get("uid")):
        name = f"{name}[{index}]"
    return DeviceRecord(str(name), region, values, file, digest)


def load_device_records(path: Path) -> list[DeviceRecord]:
    """Records from a JSON file (one object or a list) or every *.json in a folder."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise TableError(str(path), "", "no *.json device records found")
    out = []
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise TableError(str(f), "", f"not readable JSON: {e}") from None
        if isinstance(data, list):
            out += [_record(d, str(f), i) for i, d in enumerate(data)]
        else:
            out.append(_record(data, str(f), None))
    return out


@dataclass(frozen=True)
class Impact:
    device: DeviceRecord
    region: str
    conforms_old: bool | None  # None: cannot be checked (no fields, an unknown hash)
    conforms_new: bool | None
    new_results: tuple[FieldResult, ...]

    @property
    def left_out(self) -> bool:
        """Conformed to the old version, does not to the new: needs reconfiguring."""
        return self.conforms_old is True and self.conforms_new is False

    @property
    def unknown(self) -> bool:
        return self.conforms_old is None or self.conforms_new is None

    def changes(self) -> list[str]:
        return changes_needed(list(self.new_results))

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device.name,
            "region": self.region,
            "file": self.device.file,
            "conforms_old": self.conforms_old,
            "conforms_new": self.conforms_new,
            "left_out": self.left_out,
            "cannot_be_checked": self.unknown,
            "changes": self.changes(),
        }


def impact(
    old: TableVersion,
    new: TableVersion,
    records: list[DeviceRecord],
    default_region: str | None = None,
) -> list[Impact]:
    out = []
    for rec in records:
        region = rec.region or default_region
        if region is None:
            raise TableError(
                rec.file, "region", f"{rec.name}: no region in the record; give --region"
            )
        if region not in REGIONS:
            raise TableError(rec.file, "region", f"{rec.name}: unknown region {region!r}")
        # whether each version's rules allow the device (a narrower board is not affected)
        values = rec.config
        if all(v is None for v in values.values()) and rec.hash:
            # Only the hash was reported (status): it names the fields if it is one of the
            # two versions' own records for the region.
            for t in (old, new):
                cfg = t.region(region).config()
                if content_hash(agent_record(cfg, t.regulatory)) == rec.hash:
                    values = cfg.as_dict()
        old_res = compare(old, region, values, "comply")
        new_res = compare(new, region, values, "comply")
        out.append(Impact(rec, region, _verdict(old_res), _verdict(new_res), tuple(new_res)))
    return out


def _verdict(results: list[FieldResult]) -> bool | None:
    if any(r.passed is None for r in results):
        return None
    return conforms(results)
