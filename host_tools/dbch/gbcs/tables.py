"""DBCH Configuration Table versions: one human-edited TOML file per version (docs/tables.md).

A version has an id, title, status, effective date, what it supersedes, its source, the
regulatory limits, and per CSP region (north, central, south) the required value of each
of the 15 GBCS fields with the rule a device's value is compared by. Values no public
source gives are marked as placeholders, and the tools show them as such. A new version is
a new file: nothing in the code names a table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbch import paths
from dbch.datafile import Fields
from dbch.errors import TableError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.regions import HOUR_S, REGIONS  # noqa: F401  (re-exported)
from dbch.gbcs.subghz_config import (
    FIELD_BY_KEY,
    FIELDS,
    MASK_KEYS,
    ConfigError,
    FieldSpec,
    Regulatory,
    SubGhzConfig,
    agent_record,
    content_hash,
)

STATUSES = ("draft", "in_force", "superseded")
RULES = ("equal", "subset", "at_most", "at_least")
# How a device value is compared with the table's unless the file says otherwise: a mask
# may enable fewer channels than allowed; thresholds and change counts may be stricter.
DEFAULT_RULES = {
    **dict.fromkeys(MASK_KEYS, "subset"),
    "normal_limited_threshold": "at_most",
    "limited_critical_threshold": "at_most",
    "max_channel_changes_per_week": "at_most",
}
REGULATORY_KEYS = ("cap_s_per_hour", "lbt_threshold_dbm", "max_tx_power_dbm")


@dataclass(frozen=True)
class Requirement:
    field: str
    value: int
    rule: str
    placeholder: str | None = None  # why the value is a placeholder, if it is one

    @property
    def spec(self) -> FieldSpec:
        return FIELD_BY_KEY[self.field]


@dataclass(frozen=True)
class RegionTable:
    region: str
    requirements: dict[str, Requirement]

    def config(self) -> SubGhzConfig:
        """The table's own values as a device configuration (what `dbch apply` sends)."""
        return SubGhzConfig.from_dict({k: r.value for k, r in self.requirements.items()})

    def allowed(self) -> list[plan.Channel]:
        return list(self._allowed)

    @functools.cached_property
    def _allowed(self) -> tuple[plan.Channel, ...]:
        # The table never changes once loaded; checks of a fleet ask for this per board.
        return tuple(self.config().enabled())


@dataclass(frozen=True)
class Source:
    document: str
    clause: str
    date: dt.date | None
    url: str | None = None


@dataclass(frozen=True)
class TableVersion:
    id: str
    title: str
    status: str
    effective: dt.date | None
    supersedes: str | None
    source: Source
    regulatory: Regulatory
    regulatory_placeholders: dict[str, str]
    regions: dict[str, RegionTable]
    notes: str = ""
    path: Path | None = field(default=None, compare=False)

    def region(self, name: str) -> RegionTable:
        if name not in self.regions:
            raise TableError(
                self.id, "region", f"unknown region {name!r} (known: {', '.join(REGIONS)})"
            )
        return self.regions[name]

    def record(self, region: str) -> bytes:
        """The agent record of a region: its configuration and this version's limits (what
        `dbch apply` sends and the agent hashes)."""
        return agent_record(self.region(region).config(), self.regulatory)

    def record_hash(self, region: str) -> str:
        return content_hash(self.record(region))

    def duis_problems(self) -> list[str]:
        """Each value of each region a DUIS 6.28 request cannot carry (the DUIS 5.4
        schema's ranges): such a version can be read, not exported or applied."""
        return [
            f"regions.{name}.{key}: {why}"
            for name, region in self.regions.items()
            for key, why in region.config().invalid_for_duis()
        ]

    def require_duis(self, region: str) -> None:
        """TableError when a DUIS 6.28 request cannot carry this version's `region`: it is
        read (to recognise boards configured under it), never exported or applied. Names
        the version that supersedes it, if one does."""
        problems = [p for p in self.duis_problems() if p.startswith(f"regions.{region}.")]
        if not problems:
            return
        successors = [t.id for t in all_tables() if t.supersedes == self.id]
        instead = f"; use {successors[-1]}, which supersedes it" if successors else ""
        raise TableError(
            self.id, "", f"{problems[0]}: this version can be read, not sent{instead}"
        )

    def placeholders(self) -> list[tuple[str, str]]:
        """(where, why) for every placeholder value in this version."""
        out = [(f"regulatory.{k}", why) for k, why in self.regulatory_placeholders.items()]
        for region in self.regions.values():
            for req in region.requirements.values():
                if req.placeholder:
                    out.append((f"regions.{region.region}.{req.field}", req.placeholder))
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "effective": self.effective.isoformat() if self.effective else None,
            "supersedes": self.supersedes,
            "source": {
                "document": self.source.document,
                "clause": self.source.clause,
                "date": self.source.date.isoformat() if self.source.date else None,
                "url": self.source.url,
            },
            "placeholders": len(self.placeholders()),
            "file": str(self.path) if self.path else None,
        }


def _date(f: Fields, name: str) -> dt.date | None:
    if not f.has(name):
        return None
    value = f.data[name]
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        f.fail(name, "must be a date (YYYY-MM-DD, unquoted)")
    return value


def _deci(f: Fields, name: str) -> int:
    """dBm as written (-87, 13.5) -> deci-dBm (-870, 135): integers on the wire."""
    value = f.number(name)
    deci = round(value * 10)
    if abs(deci - value * 10) > 1e-9:
        f.fail(name, "at most one decimal place")
    return deci


def _requirement(f: Fields, key: str) -> Requirement:
    spec = FIELD_BY_KEY[key]
    raw = f.data[key]
    placeholder = None
    rule = DEFAULT_RULES.get(key, "equal")
    if isinstance(raw, dict):
        item = f.table(key)
        item.only({"value", "channels", "rule", "placeholder"})
        rule = item.text("rule", default=rule, choices=RULES)
        placeholder = item.text("placeholder", default=None)
        if item.has("channels"):
            if spec.page is None:
                item.fail("channels", "only mask fields (page28-page31) take a channel list")
            if item.has("value"):
                item.fail("channels", "give value or channels, not both")
            spec_chans = item.data["channels"]
            if not isinstance(spec_chans, str | list):
                item.fail("channels", "must be a list of numbers or text like '0-26'")
            try:
                value = plan.mask_word(spec.page, plan.parse_channels(spec_chans, spec.page))
            except (plan.ChannelPlanError, ValueError) as e:
                item.fail("channels", str(e))
        else:
            value = item.integer("value")
    else:
        value = f.get(key, int)
    if spec.page is not None:
        try:
            plan.validate_word(value, spec.page)
        except plan.ChannelPlanError as e:
            f.fail(key, str(e))
        if rule in ("at_most", "at_least"):
            f.fail(key, f"rule {rule} does not apply to a mask; use subset or equal")
    elif rule == "subset":
        f.fail(key, "rule subset applies only to masks (page28-page31)")
    elif not 0 <= value <= spec.maximum:
        f.fail(key, f"{value} out of range (0..{spec.maximum})")
    return Requirement(key, value, rule, placeholder)


def _region(name: str, common: Fields, own: Fields, regulatory: Regulatory) -> RegionTable:
    own.only(set(FIELD_BY_KEY))
    reqs = {}
    for spec in FIELDS:
        if own.has(spec.key):
            reqs[spec.key] = _requirement(own, spec.key)
        elif common.has(spec.key):
            reqs[spec.key] = _requirement(common, spec.key)
        else:
            own.fail(spec.key, "required (in this region or in [common])")
    region = RegionTable(name, reqs)
    try:  # what GBCS can carry; what DUIS can is TableVersion.duis_problems (tables validate)
        region.config().validate(regulatory.lowest_cap(), duis=False)
    except ConfigError as e:
        source = own if own.has(e.field) else common
        source.fail(e.field, e.reason)
    return region


def parse_table(data: Any, file: str, stem: str | None = None) -> TableVersion:
    """Validate one table version; raises TableError naming file, field and reason."""
    f = Fields(data, file, error=TableError)
    f.only(
        {
            "id",
            "title",
            "status",
            "effective",
            "supersedes",
            "notes",
            "source",
            "regulatory",
            "common",
            "regions",
        }
    )
    table_id = f.text("id")
    if stem is not None and table_id != stem:
        f.fail("id", f"must match the file name ({stem!r})")
    status = f.text("status", choices=STATUSES)
    s = f.table("source")
    s.only({"document", "clause", "date", "url"})
    source = Source(
        s.text("document"), s.text("clause"), _date(s, "date"), s.text("url", default=None)
    )

    r = f.table("regulatory")
    r.only({*REGULATORY_KEYS, "placeholders"})
    caps = r.table("cap_s_per_hour")
    caps.only({f"page{p}" for p in plan.PAGES})
    cap_ms = {}
    for p in plan.PAGES:
        seconds = caps.number(f"page{p}")
        if not 0 < seconds <= 3600:
            caps.fail(f"page{p}", "must be 0 < seconds per hour <= 3600")
        cap_ms[p] = round(seconds * 1000)
    regulatory = Regulatory(cap_ms, _deci(r, "lbt_threshold_dbm"), _deci(r, "max_tx_power_dbm"))
    ph = r.table("placeholders", default={})
    ph.only(set(REGULATORY_KEYS))
    reg_placeholders = {k: ph.text(k) for k, _ in ph.items()}

    common = f.table("common", default={})
    common.only(set(FIELD_BY_KEY))
    regions_f = f.table("regions")
    regions_f.only(set(REGIONS))
    regions = {}
    for name in REGIONS:
        if not regions_f.has(name):
            regions_f.fail(name, "every CSP region needs an entry (it may be empty)")
        regions[name] = _region(name, common, regions_f.table(name), regulatory)

    supersedes = f.text("supersedes", default=None)
    if supersedes == table_id:
        f.fail("supersedes", "a version cannot supersede itself")
    return TableVersion(
        id=table_id,
        title=f.text("title"),
        status=status,
        effective=_date(f, "effective"),
        supersedes=supersedes,
        source=source,
        regulatory=regulatory,
        regulatory_placeholders=reg_placeholders,
        regions=regions,
        notes=f.text("notes", default=""),
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.project_root()))
    except ValueError:
        return str(path)


def load_table_file(path: Path, check_name: bool = True) -> TableVersion:
    file = _display(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise TableError(file, "", "not found") from None
    except tomllib.TOMLDecodeError as e:
        raise TableError(file, "", f"not valid TOML ({e})") from None
    except UnicodeDecodeError:
        raise TableError(file, "", "not UTF-8 text") from None
    table = parse_table(data, file, path.stem if check_name else None)
    object.__setattr__(table, "path", path)
    return table


def table_dirs() -> list[Path]:
    """tables/ of the project, then any folders in $DBCH_TABLES_PATH (os.pathsep-separated),
    where users keep versions of their own."""
    extra = [Path(p) for p in os.environ.get("DBCH_TABLES_PATH", "").split(os.pathsep) if p]
    return [paths.tables_dir(), *extra]


def all_tables() -> list[TableVersion]:
    found: dict[str, TableVersion] = {}
    for d in table_dirs():
        for p in sorted(d.glob("*.toml")):
            t = load_table_file(p)
            if t.id in found:
                raise TableError(
                    _display(p),
                    "id",
                    f"{t.id!r} is also defined in {_display(found[t.id].path or p)}",
                )
            found[t.id] = t
    # A version an in-force version supersedes is superseded, whatever its own file says:
    # a shipped version is never edited, its successor names it.
    replaced = {t.supersedes for t in found.values() if t.status == "in_force"}
    for ref in replaced & found.keys():
        found[ref] = dataclasses.replace(found[ref], status="superseded")
    return sorted(
        found.values(), key=lambda t: (t.effective or t.source.date or dt.date.min, t.id)
    )


@dataclass(frozen=True)
class Chosen:
    """A configuration a command was told to use, with the table version whose limits go
    with it and a label for it."""

    config: SubGhzConfig
    table: TableVersion
    region: str | None
    label: str


def choose_configuration(table: str | None, region: str | None, duis_file: Path | None) -> Chosen:
    """`--table ID --region R`, or `--duis FILE` (with the limits of `--table`, else of the
    version in force): the one reading of those options for every command."""
    if duis_file is not None:
        from dbch.gbcs import duis  # DUIS XML is read only when asked for

        t = get_table(table) if table else in_force()
        return Chosen(duis.read_file(duis_file), t, region, str(duis_file))
    if not table:
        raise TableError("--table", "", "give --table and --region, or --duis FILE")
    if not region:
        raise TableError("--region", "", "required with --table (north, central or south)")
    t = get_table(table)
    return Chosen(t.region(region).config(), t, region, f"{t.id} {region}")


def in_force() -> TableVersion:
    """The newest version in force: what a DUIS request's limits and a suite's default
    table come from."""
    live = [t for t in all_tables() if t.status == "in_force"]
    if not live:
        raise TableError("tables", "", "no table version is in force; give --table")
    return live[-1]


def get_table(ref: str) -> TableVersion:
    """A version by id, or a .toml file path (which need not live in tables/)."""
    if ref.endswith(".toml") or os.sep in ref:
        return load_table_file(Path(ref), check_name=False)
    tables = all_tables()  # with the status its successors give it
    for t in tables:
        if t.id == ref:
            return t
    known = ", ".join(t.id for t in tables)
    raise TableError(ref, "", f"no such table version (known: {known})")
