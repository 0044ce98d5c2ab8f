"""The GBCS Sub GHz Configuration Settings (COSEM 0-0:94.44.10.0): 15 fields, their types
and units, validation, and the compact form the agent stores (CBOR with a content hash).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import cbor2

from dbch.errors import DbchError
from dbch.gbcs import channel_plan as plan


@dataclass(frozen=True)
class DuisRange:
    """A scalar's facets in the DUIS 5.4 schema (`DUIS Schema V5.4.xsd`, complexType
    SubGHzConfiguration), in DUIS units: its bounds, whether each is inclusive, and the
    decimal places allowed. The one definition of what DUIS can express; the agent carries
    the same bounds in its own units (firmware/dbchagent/config_check.py, tested equal)."""

    lo: Decimal
    hi: Decimal | None = None  # None: only the DLMS type's own maximum
    lo_inclusive: bool = True
    hi_inclusive: bool = True
    digits: int = 0

    def text(self, unit: str = "") -> str:
        """As the schema says it: "above 1.5 and below 2.5 %, one decimal place"."""
        lo = f"{'at least' if self.lo_inclusive else 'above'} {self.lo}"
        if self.hi is None:
            span = lo
        elif self.lo_inclusive and self.hi_inclusive:
            span = f"{self.lo} to {self.hi}"
        else:
            span = f"{lo} and {'at most' if self.hi_inclusive else 'below'} {self.hi}"
        places = {0: "a whole number", 1: "one decimal place", 2: "two decimal places"}
        return f"{span}{unit}, {places[self.digits]}"

    def problem(self, value: Decimal) -> str | None:
        below = value < self.lo if self.lo_inclusive else value <= self.lo
        above = self.hi is not None and (
            value > self.hi if self.hi_inclusive else value >= self.hi
        )
        inexact = value != value.quantize(Decimal(1).scaleb(-self.digits))
        return "out of range" if below or above else "too precise" if inexact else None


def _range(lo: str, hi: str | None = None, digits: int = 0, excl: str = "") -> DuisRange:
    """`excl`: which bounds are exclusive ("lo", "hi", "lo hi"), as minExclusive/maxExclusive
    in the schema."""
    return DuisRange(
        Decimal(lo),
        Decimal(hi) if hi is not None else None,
        "lo" not in excl.split(),
        "hi" not in excl.split(),
        digits,
    )


@dataclass(frozen=True)
class FieldSpec:
    key: str  # name in table files, JSON and on the wire
    duis: str  # DUIS element name
    dlms: str  # "bitstring32", "u16" or "u8"
    unit: str
    percent: bool = False  # percent x 100 in DLMS; written as a percentage in DUIS
    page: int | None = None  # mask fields: the page the word must carry
    duis_range: DuisRange | None = None  # scalars: what the DUIS schema allows

    @property
    def maximum(self) -> int:
        """The largest value of the field's DLMS type (percentages: 100.00 %)."""
        if self.dlms == "bitstring32":
            return 0xFFFFFFFF
        if self.percent:
            return 10000
        return 0xFFFF if self.dlms == "u16" else 0xFF

    def duis_value(self, value: int) -> Decimal:
        """A value in DUIS units (percent fields: 208 -> 2.08, 150 -> 1.5)."""
        if not self.percent:
            return Decimal(value)
        return Decimal(format(Decimal(value).scaleb(-2).normalize(), "f"))

    def duis_problem(self, value: int) -> str | None:
        """Why DUIS cannot carry `value` (in this field's GBCS units), naming the element,
        the value in DUIS units and the range the schema allows; None when it can."""
        if self.duis_range is None:
            return None
        shown = self.duis_value(value)
        why = self.duis_range.problem(shown)
        if why is None:
            return None
        unit = " %" if self.percent else ""
        return (
            f"{shown}{unit} is {why} for {self.duis} "
            f"(DUIS 5.4 allows {self.duis_range.text(unit)})"
        )

    def gbcs_bounds(self) -> tuple[int, int, int]:
        """(lowest, highest, step) in GBCS units, both inclusive: what the agent checks
        (firmware/dbchagent/config_check.py carries the same figures)."""
        if self.duis_range is None:
            return 0, self.maximum, 1
        r, scale = self.duis_range, 100 if self.percent else 1
        step = max(1, scale // 10**r.digits)
        lo = int(r.lo * scale) + (0 if r.lo_inclusive else step)
        if r.hi is None:
            return lo, self.maximum, step
        return lo, int(r.hi * scale) - (0 if r.hi_inclusive else step), step

    def shown(self, value: int) -> str:
        return f"{self.duis_value(value)}{' %' if self.percent else ''}"


_PERCENTAGE = _range("1.00", "100.00", 2)
# In GBCS order (the DLMS structure and the DUIS body list them this way).
FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("page28", "LowerBandSubGHzChannels0To26", "bitstring32", "mask word", page=28),
    FieldSpec("page29", "LowerBandSubGHzChannels27To34", "bitstring32", "mask word", page=29),
    FieldSpec("page30", "LowerBandSubGHzChannels35To61", "bitstring32", "mask word", page=30),
    FieldSpec("page31", "UpperBandSubGHzChannels0To26", "bitstring32", "mask word", page=31),
    FieldSpec(
        "normal_limited_threshold",
        "NormalLimitedDutyCycleThreshold",
        "u16",
        "% x 100",
        percent=True,
        duis_range=_range("0.5", "2.0", 1),
    ),
    FieldSpec(
        "limited_critical_threshold",
        "LimitedCriticalDutyCycleThreshold",
        "u16",
        "% x 100",
        percent=True,
        duis_range=_range("1.5", "2.5", 1, excl="lo hi"),
    ),
    FieldSpec(
        "max_channel_changes_per_week",
        "MaximumSubGHzChannelChangesPerWeek",
        "u8",
        "count",
        duis_range=_range("1", "7"),
    ),
    FieldSpec("gsme_curfew", "GSMECurfew", "u16", "as sent", duis_range=_range("1", excl="lo")),
    FieldSpec(
        "channel_quieter_threshold",
        "ChannelQuieterThreshold",
        "u8",
        "as sent",
        duis_range=_range("1", "255"),
    ),
    FieldSpec(
        "channel_noisier_threshold",
        "ChannelNoisierThreshold",
        "u8",
        "as sent",
        duis_range=_range("0", "20"),
    ),
    FieldSpec(
        "non_gsme_poor_comms_threshold",
        "NonGSMEPoorCommsPercentageThreshold",
        "u16",
        "% x 100",
        percent=True,
        duis_range=_PERCENTAGE,
    ),
    FieldSpec(
        "non_gsme_poor_comms_periods",
        "NonGSMEPoorCommsMeasurementPeriods",
        "u8",
        "count",
        duis_range=_range("50", "150"),
    ),
    FieldSpec(
        "local_ch_noise_period",
        "LocalCHNoiseMeasurementPeriod",
        "u16",
        "as sent",
        duis_range=_range("60", excl="lo"),
    ),
    FieldSpec(
        "local_ch_failure_percentage",
        "LocalCHFailurePercentage",
        "u16",
        "% x 100",
        percent=True,
        duis_range=_PERCENTAGE,
    ),
    FieldSpec(
        "local_ch_retry_percentage",
        "LocalCHRetryPercentage",
        "u16",
        "% x 100",
        percent=True,
        duis_range=_PERCENTAGE,
    ),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}
MASK_KEYS = ("page28", "page29", "page30", "page31")
SECONDS_PER_HOUR = 3600


class ConfigError(DbchError, ValueError):
    """An invalid configuration value; `field` names it (exit 2: the input cannot be used)."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class SubGhzConfig:
    page28: int
    page29: int
    page30: int
    page31: int
    normal_limited_threshold: int
    limited_critical_threshold: int
    max_channel_changes_per_week: int
    gsme_curfew: int
    channel_quieter_threshold: int
    channel_noisier_threshold: int
    non_gsme_poor_comms_threshold: int
    non_gsme_poor_comms_periods: int
    local_ch_noise_period: int
    local_ch_failure_percentage: int
    local_ch_retry_percentage: int

    def values(self) -> list[int]:
        return [getattr(self, f.key) for f in FIELDS]

    def as_dict(self) -> dict[str, int]:
        return {f.key: getattr(self, f.key) for f in FIELDS}

    @classmethod
    def from_values(cls, values: list[int]) -> SubGhzConfig:
        if len(values) != len(FIELDS):
            raise ConfigError("config", f"needs {len(FIELDS)} values, got {len(values)}")
        return cls(*values)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubGhzConfig:
        missing = [f.key for f in FIELDS if f.key not in d]
        if missing:
            raise ConfigError(missing[0], "required")
        unknown = [k for k in d if k not in FIELD_BY_KEY]
        if unknown:
            raise ConfigError(unknown[0], "unknown field")
        return cls(**{f.key: d[f.key] for f in FIELDS})

    def enabled(self) -> list[plan.Channel]:
        """Every channel the masks enable (valid masks assumed)."""
        out = []
        for key in MASK_KEYS:
            page, chans = plan.decode_word(getattr(self, key))
            out += [plan.Channel(page, c) for c in chans]
        return out

    def problems(self) -> list[str]:
        """Every problem at once, each naming its DUIS element, in DUIS units: values GBCS
        or the DUIS schema cannot carry, then what the 2018 decision forbids although GBCS
        allows it (channels enabled in 915-921 MHz)."""
        out = [why for _, why in self._invalid()]
        w = self.page31
        chans = [c for c in range(27) if isinstance(w, int) and w >> 27 == 31 and w >> c & 1]
        if chans:
            one = "channel" if len(chans) == 1 else "channels"
            out.append(
                f"{FIELD_BY_KEY['page31'].duis}: enables {one} {plan.format_channels(chans)} "
                f"({plan.span_mhz(31, chans)} MHz), masked in every region by the 2018 "
                "decision: valid GBCS, not compliant with the SEC"
            )
        return out

    def _invalid(self, duis: bool = True) -> list[tuple[str, str]]:
        """(field key, why) for each value GBCS (and, with `duis`, the DUIS schema) cannot
        carry, and the thresholds' order once each is valid on its own."""
        out = []
        for f in FIELDS:
            v = getattr(self, f.key)
            if why := _field_problem(f, v):
                out.append((f.key, f"{f.duis}: {why}"))
            elif duis and (why := f.duis_problem(v)):
                out.append((f.key, why))
        if not out and self.normal_limited_threshold >= self.limited_critical_threshold:
            normal, critical = (
                FIELD_BY_KEY["normal_limited_threshold"],
                FIELD_BY_KEY["limited_critical_threshold"],
            )
            out.append(
                (
                    critical.key,
                    f"{critical.duis} {critical.shown(self.limited_critical_threshold)} must be "
                    f"above {normal.duis} {normal.shown(self.normal_limited_threshold)}",
                )
            )
        return out

    def invalid_for_duis(self) -> list[tuple[str, str]]:
        """(field key, why) for each value only the DUIS schema refuses."""
        gbcs = set(self._invalid(duis=False))
        return [p for p in self._invalid(duis=True) if p not in gbcs]

    def validate(
        self, regulated_ms_per_hour: int | None = None, duis: bool = True
    ) -> SubGhzConfig:
        """Raise ConfigError naming the first bad field; return self when all is well.
        `duis=False` checks only what GBCS can carry (a historical table version whose
        values DUIS cannot express is still read, to say which boards it configured)."""
        for key, why in self._invalid(duis):
            raise ConfigError(key, why)
        if regulated_ms_per_hour is not None:
            critical_ms = threshold_ms_per_hour(self.limited_critical_threshold)
            if critical_ms >= regulated_ms_per_hour:
                critical = FIELD_BY_KEY["limited_critical_threshold"]
                raise ConfigError(
                    critical.key,
                    f"{critical.duis} {critical.shown(self.limited_critical_threshold)} "
                    f"({critical_ms / 1000:g} s/h) must be below the regulated limit "
                    f"{regulated_ms_per_hour / 1000:g} s/h",
                )
        return self


def _field_problem(f: FieldSpec, v: object) -> str | None:
    """Why one value is invalid for its field's GBCS type (or mask word), or None."""
    if not isinstance(v, int) or isinstance(v, bool):
        return "must be an integer"
    if not 0 <= v <= f.maximum:
        what = "a percentage at most 100.00 %" if f.percent else f"0..{f.maximum}"
        return f"{v} out of range (must be {what})"
    if f.page is not None:
        try:
            plan.validate_word(v, f.page)
        except plan.ChannelPlanError as e:
            return str(e)
    return None


def threshold_ms_per_hour(percent_x100: int) -> int:
    """A duty-cycle threshold in % x 100 as airtime per hour in ms (150 -> 54000)."""
    return percent_x100 * SECONDS_PER_HOUR * 1000 // 10000


@dataclass(frozen=True)
class Regulatory:
    """Limits that are not GBCS fields but belong to a table: the regulated duty-cycle cap
    per page, the LBT threshold and the maximum TX power. Integers only on the wire."""

    cap_ms_per_hour: dict[int, int]  # page -> airtime per hour at which sending stops
    lbt_threshold_ddbm: int  # deci-dBm: -870 is -87.0 dBm
    max_tx_ddbm: int

    def values(self) -> list[int]:
        return [
            *(self.cap_ms_per_hour[p] for p in plan.PAGES),
            self.lbt_threshold_ddbm,
            self.max_tx_ddbm,
        ]

    @classmethod
    def from_values(cls, values: list[int]) -> Regulatory:
        if len(values) != 6:
            raise ConfigError("regulatory", f"needs 6 values, got {len(values)}")
        return cls(dict(zip(plan.PAGES, values[:4], strict=True)), values[4], values[5])

    def lowest_cap(self) -> int:
        return min(self.cap_ms_per_hour.values())


AGENT_FORMAT = 1


def agent_record(cfg: SubGhzConfig, reg: Regulatory) -> bytes:
    """The canonical bytes the agent stores and hashes: CBOR [1, [15 fields], [caps x4,
    LBT threshold, max TX power]]. Arrays of integers have one shortest encoding, so host
    and agent compute the same hash from the same values."""
    return cbor2.dumps([AGENT_FORMAT, cfg.values(), reg.values()])


def content_hash(record: bytes) -> str:
    return hashlib.sha256(record).hexdigest()


def parse_agent_record(record: bytes) -> tuple[SubGhzConfig, Regulatory]:
    try:
        fmt, values, reg = cbor2.loads(record)
    except Exception as e:
        raise ConfigError("config", f"not an agent configuration record: {e}") from None
    if fmt != AGENT_FORMAT:
        raise ConfigError("config", f"unknown record format {fmt}")
    return SubGhzConfig.from_values(values), Regulatory.from_values(reg)
