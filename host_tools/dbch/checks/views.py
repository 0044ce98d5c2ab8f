"""Checking a board against a table, through three independent views:

1. config  - the configuration the agent reports (compare.py, field by field);
2. radio   - the radio's readback, decoded, against the operating channel and the table;
3. witness - on a simulated bench, what the radio really put on the air (the air log):
             nothing in 915-921 MHz, emissions only on allowed channels, airtime within
             the duty-cycle caps.

Each check is an evidence record. A value that cannot be checked is `unchecked`, never a
pass; a view that does not exist on this bench (no witness on real hardware) is `n/a`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from dbch.checks.targets import Target
from dbch.gbcs import channel_plan as plan
from dbch.gbcs import provenance
from dbch.gbcs.compare import compare
from dbch.gbcs.phy import BITRATE, BITRATE_TOL, FDEV_HZ, FDEV_TOL, FREQ_TOL_HZ, SYNC_WORD
from dbch.gbcs.tables import HOUR_S, TableVersion

if TYPE_CHECKING:
    from dbch.link.client import AgentClient


@dataclass(kw_only=True)
class Evidence:
    """One check, as a record a report or a regulator can read on its own."""

    check: str
    view: str  # config | radio | witness
    field: str
    value: Any
    limit: Any
    unit: str
    rule: str
    result: str  # pass | fail | unchecked | n/a
    reason: str
    table: str = ""
    table_hash: str = ""
    region: str = ""
    fw_hash: str | None = None
    board: str = ""
    time: str = ""
    mode: str = ""  # the question asked: conform or comply (gbcs/compare.py)
    kind: str = ""  # where `limit` comes from: sec_table, zigbee, regulation (provenance.py)
    source: str = ""  # the document and clause, or "placeholder: why" / "unverified: why"
    # Who checked what, where: a simulated pass must never read as a hardware pass.
    simulated: bool | None = None  # None: not known (a port with no bench behind it)
    tool: str = ""  # "dbch 0.1.0"
    host: str = ""
    operator: str = ""
    command: str = ""  # the command line that made this record

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckReport:
    board: str
    table: TableVersion
    region: str
    records: list[Evidence]
    context: dict[str, Any]  # what was read: config, status, emissions (for reports)
    mode: str = "conform"  # the question asked (gbcs/compare.py MODES)
    simulated: bool | None = None  # a simulated twin (True), hardware (False), unknown

    @property
    def failures(self) -> list[Evidence]:
        return [r for r in self.records if r.result == "fail"]

    @property
    def unchecked(self) -> list[Evidence]:
        return [r for r in self.records if r.result == "unchecked"]

    @property
    def result(self) -> str:
        if self.failures:
            return "fail"
        return "incomplete" if self.unchecked else "pass"


def shown(field: str, value: Any, unit: str = "") -> str:
    """A value as people write it (the report, the terminal, the reasons): mask words in
    hex (page in the top five bits), tenths of a dBm as dBm (14.0 dBm, not 140), with the
    unit; nothing for no value."""
    if value is None:
        return ""
    if field.startswith("page") and isinstance(value, int) and not isinstance(value, bool):
        return f"0x{value:08X}"
    if unit == "dBm x 10" and isinstance(value, int):
        return f"{value / 10:.1f} dBm"
    return f"{value} {unit}".strip()


def _allowed_channels_reason(sent: list[dict[str, Any]], off_plan: list[dict[str, Any]]) -> str:
    if off_plan:
        return (
            f"{len(off_plan)} emissions off the allowed channels, e.g. "
            f"{off_plan[0]['freq_hz'] / 1e6:.6f} MHz"
        )
    if not sent:
        return "nothing to see: the witness saw no emission in this check"
    return f"all {len(sent)} emissions on allowed channels"


def _rec(
    *,
    view: str,
    check: str,
    field: str,
    value: Any,
    limit: Any,
    unit: str,
    rule: str,
    ok: bool | None,
    reason: str,
) -> Evidence:
    result = "unchecked" if ok is None else ("pass" if ok else "fail")
    return Evidence(
        check=check,
        view=view,
        field=field,
        value=value,
        limit=limit,
        unit=unit,
        rule=rule,
        result=result,
        reason=reason,
    )


def config_view(
    table: TableVersion, region: str, cfg: dict[str, Any], mode: str = "conform"
) -> list[Evidence]:
    """The configuration the agent reports, against the table region: equal to the table's
    values (conform) or within its rules (comply)."""
    if not cfg.get("configured"):
        return [
            _rec(
                view="config",
                check="config.configured",
                field="config",
                value=None,
                limit=table.id,
                unit="",
                rule="equal",
                ok=False,
                reason=f"the agent has no configuration ({cfg.get('problem') or 'unconfigured'})",
            )
        ]
    out = []
    for r in compare(table, region, cfg.get("fields", {}), mode):
        out.append(
            Evidence(
                check=f"config.{r.field}",
                view="config",
                field=r.field,
                value=r.actual,
                limit=r.expected,
                unit=r.unit,
                rule=r.rule,
                result={True: "pass", False: "fail", None: "unchecked"}[r.passed],
                reason=r.reason + (" (placeholder value)" if r.placeholder and r.passed else ""),
            )
        )
    out += regulatory_view(table, cfg.get("regulatory") or {})
    expected = table.record_hash(region)
    same = cfg.get("hash") == expected
    conforming = all(r.result == "pass" for r in out)
    if mode == "conform":
        rule, ok = "equal", same
        why = (
            "identical to the table's record"
            if same
            else "differs from the table's record (see the fields for what)"
        )
    else:
        rule, ok = "equal, or every field within its rule", same or conforming
        why = (
            "identical to the table's record"
            if same
            else "differs from the table's record, but every field is within its rule"
            if conforming
            else "differs from the table's record (see the fields for what)"
        )
    out.append(
        _rec(
            view="config",
            check="config.hash",
            field="hash",
            value=cfg.get("hash"),
            limit=expected,
            unit="sha256",
            rule=rule,
            ok=ok,
            reason=why,
        )
    )
    return out


# what each regulatory limit is (provenance.py): not "the table's"
_LIMIT_OF = {"max_tx_ddbm": "regulatory limit"} | {
    k: "Zigbee R22 limit"
    for k in ("lbt_threshold_ddbm", *(f"cap_ms_per_hour.page{p}" for p in range(28, 32)))
}


def regulatory_view(table: TableVersion, reg: dict[str, Any]) -> list[Evidence]:
    """The regulatory limits the agent enforces (carried in its record) against the table:
    each may be stricter than the table's, never looser."""
    want = table.regulatory
    items: list[tuple[str, Any, Any, str]] = [
        ("max_tx_ddbm", reg.get("max_tx_ddbm"), want.max_tx_ddbm, "dBm x 10"),
        ("lbt_threshold_ddbm", reg.get("lbt_threshold_ddbm"), want.lbt_threshold_ddbm, "dBm x 10"),
    ]
    caps = reg.get("cap_ms_per_hour")
    for i, page in enumerate(range(28, 32)):
        have = caps[i] if isinstance(caps, list) and len(caps) == 4 else None
        items.append((f"cap_ms_per_hour.page{page}", have, want.cap_ms_per_hour[page], "ms/h"))
    out = []
    for name, have, limit, unit in items:
        ok = None if have is None else have <= limit
        out.append(
            _rec(
                view="config",
                check=f"config.regulatory.{name}",
                field=name,
                value=have,
                limit=limit,
                unit=unit,
                rule="at_most",
                ok=ok,
                reason="not reported by the agent"
                if have is None
                else f"{shown(name, have, unit)} {'within' if ok else 'above'} the "
                f"{_LIMIT_OF[name]} {shown(name, limit, unit)}",
            )
        )
    return out


_DBI_TO_DBD = 2.15


def radio_view(
    table: TableVersion, region: str, status: dict[str, Any], gain_dbi: float = 0.0
) -> list[Evidence]:
    """The radio's readback against the GB868 PHY, the operating channel and the table."""
    radio = status.get("radio") or {}
    out = [
        _rec(
            view="radio",
            check="radio.state",
            field="state",
            value=radio.get("state"),
            limit="ready",
            unit="",
            rule="equal",
            ok=radio.get("state") == "ready",
            reason=radio.get("reason") or "verified by the agent",
        )
    ]
    rb = radio.get("readback")
    if not rb:
        out.append(
            _rec(
                view="radio",
                check="radio.readback",
                field="readback",
                value=None,
                limit="present",
                unit="",
                rule="equal",
                ok=None,
                reason="the agent reports no radio readback",
            )
        )
        return out
    verified = set(rb.get("verified", []))

    def source(name: str) -> str:
        return "read from the chip" if name in verified else "driver's shadow (no getter)"

    freq = rb.get("freq_hz")
    allowed = {c.freq_hz: c for c in table.region(region).allowed()}
    ch = status.get("channel") or {}
    if freq is None:
        out.append(
            _rec(
                view="radio",
                check="radio.freq_hz",
                field="freq_hz",
                value=None,
                limit="allowed channel",
                unit="Hz",
                rule="subset",
                ok=None,
                reason="frequency not reported",
            )
        )
    else:
        near = min(allowed, key=lambda f: abs(f - freq)) if allowed else None
        ok = near is not None and abs(near - freq) <= FREQ_TOL_HZ
        out.append(
            _rec(
                view="radio",
                check="radio.freq_hz",
                field="freq_hz",
                value=freq,
                limit="allowed channel centre",
                unit="Hz",
                rule="subset",
                ok=ok and not plan.in_masked_band(freq, plan.OCCUPIED_HALF_BW_HZ),
                reason=(
                    f"{freq / 1e6:.6f} MHz is {allowed[near]}"
                    if ok
                    else f"{freq / 1e6:.6f} MHz is no channel the table allows"
                )
                + f"; {source('freq_hz')}",
            )
        )
        if ch:
            op = ch.get("freq_hz")
            same = op is not None and abs(op - freq) <= FREQ_TOL_HZ
            out.append(
                _rec(
                    view="radio",
                    check="radio.operating_channel",
                    field="freq_hz",
                    value=freq,
                    limit=op,
                    unit="Hz",
                    rule="equal",
                    ok=same,
                    reason="radio tuned to the operating channel"
                    if same
                    else f"radio tuned {freq - (op or 0):+d} Hz off the operating channel",
                )
            )
    for name, want, tol, unit in (
        ("bitrate", BITRATE, BITRATE_TOL, "bps"),
        ("fdev_hz", FDEV_HZ, FDEV_TOL, "Hz"),
    ):
        v = rb.get(name)
        ok = None if v is None else abs(v - want) <= tol
        out.append(
            _rec(
                view="radio",
                check=f"radio.{name}",
                field=name,
                value=v,
                limit=want,
                unit=unit,
                rule=f"within {tol}",
                ok=ok,
                reason=(f"{v} {unit}" if v is not None else "not reported") + f"; {source(name)}",
            )
        )
    # The limit is radiated (ERP); the chip sets conducted power: conducted + antenna gain
    # (dBi) - 2.15 (dBi to dBd) is what must stay within it (provenance.TX_POWER).
    power = rb.get("power_dbm")
    limit = table.regulatory.max_tx_ddbm / 10
    erp = None if power is None else round(power + gain_dbi - _DBI_TO_DBD, 2)
    out.append(
        _rec(
            view="radio",
            check="radio.power_dbm",
            field="power_dbm",
            value=power,
            limit=limit,
            unit="dBm",
            rule="at_most (as ERP)",
            ok=None if erp is None else erp <= limit,
            reason=(
                f"{power} dBm conducted, {erp} dBm ERP with a {gain_dbi:g} dBi antenna"
                if power is not None
                else "not reported"
            )
            + f"; {source('power_dbm')}",
        )
    )
    ptype = rb.get("packet_type")
    out.append(
        _rec(
            view="radio",
            check="radio.packet_type",
            field="packet_type",
            value=ptype,
            limit="gfsk/fsk",
            unit="",
            rule="equal",
            ok=None if ptype is None else ptype in ("gfsk", "fsk"),
            reason=f"{ptype}; {source('packet_type')}",
        )
    )
    sync = rb.get("sync_word")
    out.append(
        _rec(
            view="radio",
            check="radio.sync_word",
            field="sync_word",
            value=sync,
            limit=SYNC_WORD,
            unit="",
            rule="equal",
            ok=None if sync is None else sync == SYNC_WORD,
            reason=f"0x{sync:04X}; {source('sync_word')}" if sync is not None else "no sync",
        )
    )
    errors = rb.get("errors")
    out.append(
        _rec(
            view="radio",
            check="radio.errors",
            field="errors",
            value=errors,
            limit=0,
            unit="",
            rule="equal",
            ok=None if errors is None else errors == 0,
            reason="chip reports no errors" if not errors else f"chip errors 0x{errors:04X}",
        )
    )
    return out


def witness_view(
    table: TableVersion, region: str, emissions: Iterable[dict[str, Any]] | None
) -> list[Evidence]:
    """What the bench's spectrum analyser saw this board emit."""
    if emissions is None:
        return [
            Evidence(
                check="witness",
                view="witness",
                field="emissions",
                value=None,
                limit=None,
                unit="",
                rule="",
                result="n/a",
                reason="no witness on this bench (a real board): only simulated benches have "
                "an air log",
            )
        ]
    records = list(emissions)
    sent = [r for r in records if r.get("emitted")]
    refused = [r for r in records if not r.get("emitted")]
    masked = [r for r in sent if plan.in_masked_band(r["freq_hz"], plan.OCCUPIED_HALF_BW_HZ)]
    allowed = {c.freq_hz for c in table.region(region).allowed()}
    off_plan = [r for r in sent if not any(abs(r["freq_hz"] - f) <= FREQ_TOL_HZ for f in allowed)]
    out = [
        _rec(
            view="witness",
            check="witness.masked_band",
            field="freq_hz",
            value=len(masked),
            limit=0,
            unit="emissions",
            rule="equal",
            ok=not masked,
            reason=f"{len(sent)} emissions, none in 915-921 MHz"
            if not masked
            else f"{len(masked)} emissions in 915-921 MHz, e.g. "
            f"{masked[0]['freq_hz'] / 1e6:.6f} MHz",
        ),
        _rec(
            view="witness",
            check="witness.allowed_channels",
            field="freq_hz",
            value=len(off_plan),
            limit=0,
            unit="emissions",
            rule="subset",
            ok=not off_plan,
            reason=_allowed_channels_reason(sent, off_plan),
        ),
        _rec(
            view="witness",
            check="witness.model_refusals",
            field="violation",
            value=len(refused),
            limit=0,
            unit="attempts",
            rule="equal",
            ok=not refused,
            reason="the chip model refused nothing"
            if not refused
            else f"the chip model refused {len(refused)} "
            f"{'attempt' if len(refused) == 1 else 'attempts'}: {refused[0].get('violation')}",
        ),
    ]
    # Airtime in any hour against the cap of the page the emission was on
    worst, worst_page, worst_cap = 0.0, None, None
    by_page: dict[int, list[tuple[float, float]]] = {}
    for r in sent:
        c = _channel_of(r["freq_hz"])
        if c is not None:
            by_page.setdefault(c.page, []).append((r["t"], r["duration_us"] / 1e6))
    for page, items in by_page.items():
        items.sort()
        cap = table.regulatory.cap_ms_per_hour[page] / 1000
        j, total = 0, 0.0
        for t, d in items:
            total += d
            while items[j][0] < t - HOUR_S:
                total -= items[j][1]
                j += 1
            if total / cap > (worst / worst_cap if worst_cap else -1):
                worst, worst_page, worst_cap = total, page, cap
    ok = worst_cap is None or worst <= worst_cap
    out.append(
        _rec(
            view="witness",
            check="witness.duty_cycle",
            field="airtime_s_per_hour",
            value=round(worst, 3),
            limit=worst_cap,
            unit="s",
            rule="at_most",
            ok=ok,
            reason="no emissions"
            if worst_cap is None
            else f"most airtime in any hour: {worst:.3f} s on page {worst_page} "
            f"(cap {worst_cap:g} s)",
        )
    )
    return out


def _channel_of(freq_hz: int) -> plan.Channel | None:
    for c in plan.all_channels():
        if abs(c.freq_hz - freq_hz) <= FREQ_TOL_HZ:
            return c
    return None


def run_check(
    table: TableVersion,
    region: str,
    cfg: dict[str, Any],
    status: dict[str, Any],
    emissions: Iterable[dict[str, Any]] | None,
    board: str,
    mode: str = "conform",
    gain_dbi: float = 0.0,
    simulated: bool | None = None,
    operator: str | None = None,
) -> CheckReport:
    """The pure part of `dbch check`: everything read from the board goes in as values.
    `mode`: conform (the table's values) or comply (within its rules); `gain_dbi`: the
    board's antenna gain (board.json), for the radiated power limit."""
    emissions = list(emissions) if emissions is not None else None
    records = config_view(table, region, cfg, mode)
    records += radio_view(table, region, status, gain_dbi)
    records += witness_view(table, region, emissions)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    tool, host, who, command = run_identity(operator)
    context = {
        "table": table.id,
        "table_hash": table.record_hash(region),
        "region": region,
        "fw_hash": (status.get("fw") or {}).get("hash"),
        "board": board,
        "time": stamp,
        "mode": mode,
        "simulated": simulated,
        "tool": tool,
        "host": host,
        "operator": who,
        "command": command,
    }
    records = [
        replace(r, **context, **provenance.of_check(r.check, table, region).fields())
        for r in records
    ]
    return CheckReport(
        board,
        table,
        region,
        records,
        {"config": cfg, "status": status, "emissions": emissions},
        mode,
        simulated,
    )


def run_identity(operator: str | None = None) -> tuple[str, str, str, str]:
    """(tool, host, operator, command line) for evidence: the operator is `--operator`,
    else $DBCH_OPERATOR, else the login name."""
    import getpass
    import shlex
    import socket
    import sys

    from dbch import __version__

    who = operator or os.environ.get("DBCH_OPERATOR")
    if not who:
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
    command = shlex.join([os.path.basename(sys.argv[0]), *sys.argv[1:]]) if sys.argv else ""
    return f"dbch {__version__}", socket.gethostname(), who, command


def check_client(
    hub: AgentClient,
    table: TableVersion,
    region: str,
    emissions: Iterable[dict[str, Any]] | None,
    name: str | None = None,
    mode: str = "conform",
    simulated: bool | None = None,
    operator: str | None = None,
) -> CheckReport:
    """Check the agent behind an open connection; `emissions`: the witness's records for
    this board, or None where there is no witness (real hardware)."""
    from dbch.link.client import Hello

    # One round trip for the three (each is a few milliseconds through a network port).
    hello_reply, cfg, status = hub.call_many("hello", "get_config", "status")
    hello = Hello.from_wire(hello_reply)
    label = f"{name or hub.port} ({hello.board}, uid {hello.uid.hex()})"
    if hello.simulated:  # the board itself says so, whatever port or place reached it
        simulated = True
    return run_check(
        table, region, cfg, status, emissions, label, mode, _gain(hello.board), simulated, operator
    )


def _gain(board_id: str | None) -> float:
    """The board definition's antenna gain (0 dBi when the board is not known)."""
    from dbch.boards.definitions import get_board
    from dbch.errors import BoardDefinitionError

    try:
        return get_board(board_id).antenna_gain_dbi if board_id else 0.0
    except BoardDefinitionError:
        return 0.0


def check_target(
    target: Target,
    table: TableVersion,
    region: str,
    since_s: float | None = HOUR_S,
    mode: str = "conform",
    operator: str | None = None,
) -> CheckReport:
    """Read a board (and the witness, where its bench has one) and check it. `since_s`: how
    far back the witness looks, in bench seconds (None: everything it saw)."""
    from dbch.link.client import AgentClient

    with AgentClient(target.port, on_console=None) as hub:
        emissions = target.emissions(since_s)
        return check_client(
            hub, table, region, emissions, target.name, mode, target.simulated, operator
        )
