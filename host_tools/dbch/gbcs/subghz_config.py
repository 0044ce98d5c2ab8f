"""The GBCS Sub GHz Configuration Settings (COSEM 0-0:94.44.10.0): 15 fields, their types
and units, validation, and the compact form the agent stores (CBOR with a content hash).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2

from dbch.gbcs import channel_plan as plan


@dataclass(frozen=True)
class FieldSpec:
    key: str  # name in table files, JSON and on the wire
    duis: str  # DUIS element name
    dlms: str  # "bitstring32", "u16" or "u8"
    unit: str
    percent: bool = False  # percent x 100 in DLMS; written as a percentage in DUIS
    page: int | None = None  # mask fields: the page the word must carry

    @property
    def maximum(self) -> int:
        if self.dlms == "bitstring32":
            return 0xFFFFFFFF
        if self.percent:
            return 10000
        return 0xFFFF if self.dlms == "u16" else 0xFF


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
    ),
    FieldSpec(
        "limited_critical_threshold",
        "LimitedCriticalDutyCycleThreshold",
        "u16",
        "% x 100",
        percent=True,
    ),
    FieldSpec("max_channel_changes_per_week", "MaximumSubGHzChannelChangesPerWeek", "u8", "count"),
    FieldSpec("gsme_curfew", "GSMECurfew", "u16", "unit uncertain"),
    FieldSpec("channel_quieter_threshold", "ChannelQuieterThreshold", "u8", "dB (probably)"),
    FieldSpec("channel_noisier_threshold", "ChannelNoisierThreshold", "u8", "dB (probably)"),
    FieldSpec(
        "non_gsme_poor_comms_threshold",
        "NonGSMEPoorCommsPercentageThreshold",
        "u16",
        "% x 100",
        percent=True,
    ),
    FieldSpec("non_gsme_poor_comms_periods", "NonGSMEPoorCommsMeasurementPeriods", "u8", "count"),
    FieldSpec("local_ch_noise_period", "LocalCHNoiseMeasurementPeriod", "u16", "unit uncertain"),
    FieldSpec(
        "local_ch_failure_percentage", "LocalCHFailurePercentage", "u16", "% x 100", percent=True
    ),
    FieldSpec(
        "local_ch_retry_percentage", "LocalCHRetryPercentage", "u16", "% x 100", percent=True
    ),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}
MASK_KEYS = ("page28", "page29", "page30", "page31")
SECONDS_PER_HOUR = 3600


class ConfigError(ValueError):
    """An invalid configuration value; `field` names it."""

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
        """Every problem at once, each naming its field: invalid GBCS values, then what the
        2018 decision forbids although GBCS allows it (channels enabled in 915-921 MHz)."""
        out = [
            f"{f.key}: {why}" for f in FIELDS if (why := _field_problem(f, getattr(self, f.key)))
        ]
        if not out and self.normal_limited_threshold >= self.limited_critical_threshold:
            out.append(
                "limited_critical_threshold: must be above normal_limited_threshold "
                f"({self.limited_critical_threshold} <= {self.normal_limited_threshold})"
            )
        w = self.page31
        chans = [c for c in range(27) if isinstance(w, int) and w >> 27 == 31 and w >> c & 1]
        if chans:
            lo, hi = plan.centre_hz(31, chans[0]), plan.centre_hz(31, chans[-1])
            out.append(
                f"page31: enables channels {plan.format_channels(chans)} "
                f"({plan.mhz(lo)}-{plan.mhz(hi)} MHz), masked in every region by the 2018 "
                "decision: valid GBCS, not compliant with the SEC"
            )
        return out

    def validate(self, regulated_ms_per_hour: int | None = None) -> SubGhzConfig:
        """Raise ConfigError naming the first bad field; return self when all is well."""
        for f in FIELDS:
            why = _field_problem(f, getattr(self, f.key))
            if why:
                raise ConfigError(f.key, why)
        if self.normal_limited_threshold >= self.limited_critical_threshold:
            raise ConfigError(
                "limited_critical_threshold",
                f"must be above normal_limited_threshold ({self.limited_critical_threshold} "
                f"<= {self.normal_limited_threshold})",
            )
        if regulated_ms_per_hour is not None:
            critical_ms = threshold_ms_per_hour(self.limited_critical_threshold)
            if critical_ms >= regulated_ms_per_hour:
                raise ConfigError(
                    "limited_critical_threshold",
                    f"{critical_ms / 1000:g} s/h must be below the regulated limit "
                    f"{regulated_ms_per_hour / 1000:g} s/h",
                )
        return self


def _field_problem(f: FieldSpec, v: object) -> str | None:
    """Why one GBCS value is invalid for its field, or None."""
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


def masks_enable_page31(cfg: SubGhzConfig) -> bool:
    return plan.decode_word(cfg.page31)[1] != []


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
