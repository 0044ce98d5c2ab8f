"""Comparing a device's configuration with a table: a pure function, one result per field.

    results = compare(table, "north", device_config)           # mode "conform"
    results = compare(table, "north", device_config, "comply")
    all(r.passed for r in results)

Two questions (MODES): **conform**, the default: every GBCS field equals the value the
table gives for the region (what a DBCH04 built from the table would set), which is what
"appropriately configured" means for a supplier; **comply**: every field is within the
table's rule (channels a subset of those allowed, thresholds at most / at least), for
boards deliberately configured more narrowly.

A field the device did not report is a result with passed=None (could not be checked),
never a pass. Later checks (dbch check, evidence reports) are built on this.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from dbch.gbcs import channel_plan as plan
from dbch.gbcs.subghz_config import FIELDS, SubGhzConfig
from dbch.gbcs.tables import Requirement, TableVersion


@dataclass(frozen=True)
class FieldResult:
    field: str
    expected: int
    actual: int | None
    rule: str
    passed: bool | None  # None: could not be checked
    reason: str
    unit: str
    placeholder: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "expected": self.expected,
            "actual": self.actual,
            "rule": self.rule,
            "result": result_word(self.passed),
            "reason": self.reason,
            "unit": self.unit,
            "placeholder": self.placeholder,
        }


def result_word(passed: bool | None) -> str:
    return {True: "pass", False: "fail", None: "unchecked"}[passed]


# describe and _check are pure functions of immutable values, and a fleet check asks the
# same questions of every board: cached, 32 boards cost little more host CPU than one.
@functools.lru_cache(maxsize=4096)
def describe(field: str, value: int) -> str:
    """A value as people read it: mask words with their channels, percentages as %."""
    spec = next(f for f in FIELDS if f.key == field)
    if spec.page is not None:
        try:
            page, chans = plan.decode_word(value)
            return f"0x{value:08X} (page {page}: {plan.format_channels(chans)})"
        except plan.ChannelPlanError:
            return f"0x{value:08X} (invalid)"
    if spec.percent:
        return f"{value / 100:.2f} %"
    return str(value)


def channel_list(page: int, chans: list[int]) -> str:
    if not chans:
        return "none"
    return f"page {page} channels {plan.format_channels(chans)} ({plan.span_mhz(page, chans)} MHz)"


MODES = ("conform", "comply")


def _channels_differ(want: int, got: int, page: int) -> str:
    """Which channels a mask word enables beyond the table's, and which it leaves out."""
    try:
        _, have = plan.decode_word(got, page)
        _, allowed = plan.decode_word(want)
    except plan.ChannelPlanError as e:
        return f": not a valid mask ({e})"
    extra, missing = sorted(set(have) - set(allowed)), sorted(set(allowed) - set(have))
    parts = [f"{channel_list(page, extra)} enabled but not in the table"] if extra else []
    parts += [f"{channel_list(page, missing)} in the table but not enabled"] if missing else []
    return ": " + "; ".join(parts) if parts else ""


@functools.lru_cache(maxsize=4096)
def _check(req: Requirement, actual: int | None, mode: str = "conform") -> FieldResult:
    spec = req.spec
    rule = "equal" if mode == "conform" else req.rule

    def result(passed: bool | None, reason: str) -> FieldResult:
        if passed is False and req.placeholder:
            reason += f"; the table's value is a placeholder ({req.placeholder})"
        return FieldResult(
            req.field, req.value, actual, rule, passed, reason, spec.unit, req.placeholder
        )

    if actual is None:
        return result(None, "not reported by the device: cannot be checked")
    want, got = describe(req.field, req.value), describe(req.field, actual)
    if mode == "conform":
        ok = actual == req.value
        why = f"{got} {'equals' if ok else 'differs from'} the table's {want}"
        if not ok and spec.page is not None:
            why += _channels_differ(req.value, actual, spec.page)
        return result(ok, why)
    if req.rule == "subset":
        try:
            page, have = plan.decode_word(actual, spec.page)
        except plan.ChannelPlanError as e:
            return result(False, f"device value 0x{actual:08X} is not a valid mask: {e}")
        allowed = set(plan.decode_word(req.value)[1])
        extra = sorted(set(have) - allowed)
        if extra:
            return result(False, f"{channel_list(page, extra)} enabled but not allowed")
        return result(
            True,
            f"enables {plan.format_channels(have)} of allowed "
            f"{plan.format_channels(sorted(allowed))}",
        )
    if req.rule == "equal":
        ok = actual == req.value
        return result(ok, f"{got} {'equals' if ok else 'differs from'} required {want}")
    if req.rule == "at_most":
        ok = actual <= req.value
        return result(ok, f"{got} {'is within' if ok else 'is above'} the maximum {want}")
    ok = actual >= req.value  # at_least
    return result(ok, f"{got} {'meets' if ok else 'is below'} the minimum {want}")


def compare(
    table: TableVersion,
    region: str,
    config: SubGhzConfig | dict[str, int | None],
    mode: str = "conform",
) -> list[FieldResult]:
    """One result per GBCS field, in GBCS order; `mode` one of MODES."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {', '.join(MODES)}")
    values = config.as_dict() if isinstance(config, SubGhzConfig) else config
    reqs = table.region(region).requirements
    return [_check(reqs[f.key], values.get(f.key), mode) for f in FIELDS]


def conforms(results: list[FieldResult]) -> bool:
    return all(r.passed is True for r in results)


def changes_needed(results: list[FieldResult]) -> list[str]:
    """What a non-conforming device must change, one line per field."""
    out = []
    for r in results:
        if r.passed is True:
            continue
        target = describe(r.field, r.expected)
        verb = {
            "subset": "enable at most",
            "equal": "set to",
            "at_most": "lower to at most",
            "at_least": "raise to at least",
        }[r.rule]
        out.append(f"{r.field}: {verb} {target} ({r.reason})")
    return out
