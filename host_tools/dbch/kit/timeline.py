"""What a kit's record says: per board, the duty cycle hour by hour against Limited, Critical
and the regulated cap; channel changes with their DUIS ScanTrigger; alerts; resets, power
cuts and outages; which configuration was in force when; and the verdict for the whole
period: conform to the table and region throughout, or the intervals where not and why.

A poll stands for the board's state from its time to the next poll, as long as that comes
within `COVER_INTERVALS` of the recorder's interval and a poll's latency (`LATENCY_S` of
real time: on a bench clock N times faster, N times that); time no poll covers is "not observed"
(with the outage's reason, or "pruned" before what `--keep` deleted), and never counted as
conform: a verdict of conform needs the whole period seen.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from dbch.errors import DbchError
from dbch.gbcs.alerts import alert_name, scan_trigger
from dbch.kit.db import KitDb, iso, seconds

COVER_INTERVALS = 3  # a poll vouches for this many intervals at most
LATENCY_S = 2.0  # and a poll's own time on a slow link or a busy host (real seconds)
HOUR = 3600.0
CHANNEL_CHANGED = 0x8F26
_ENTERED = {0x8F20: "limited", 0x8F22: "critical", 0x8F24: "regulated"}  # GBCS alerts
_ORDER = ("unknown", "normal", "limited", "critical", "regulated")  # duty states, rising


@dataclass
class Interval:
    start: float
    end: float
    what: str  # "conform", "not conform", "not observed", "pruned", or a configuration
    why: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "what": self.what, "why": self.why}


@dataclass
class BoardTimeline:
    uid: str
    board: str | None
    simulated: bool
    start: float
    end: float
    expected: dict[str, Any]  # table, region, hash
    verdict: str = "conform"
    intervals: list[Interval] = field(default_factory=list)  # not conform / not observed
    configurations: list[Interval] = field(default_factory=list)
    hours: list[dict[str, Any]] = field(default_factory=list)
    channel_changes: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    resets: list[dict[str, Any]] = field(default_factory=list)
    outages: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0
    polls: int = 0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"], d["end"] = iso(self.start), iso(self.end)
        d["intervals"] = [i.as_dict() for i in self.intervals]
        d["configurations"] = [i.as_dict() for i in self.configurations]
        return d


def expected_of(table: str | None, region: str | None, polls: list[Any]) -> dict[str, Any]:
    """The table and region to conform to (by default those the last recorded
    configuration names) and the content hash a board configured with them reports."""
    from dbch.checks.configure import prepare_table
    from dbch.gbcs.tables import get_table

    named = [p for p in polls if p["config_table"]]
    if table is None and named:
        table = named[-1]["config_table"]
    if region is None and named:
        region = named[-1]["config_region"]
    if table is None or region is None:
        return {"table": table, "region": region, "hash": None}
    try:
        t = get_table(table)
    except DbchError as e:
        raise DbchError(f"{e} (the table to conform to: give --table ID or FILE)") from None
    return {"table": t.id, "region": region, "hash": prepare_table(t, region).hash}


def _problem(p: Any, want: dict[str, Any]) -> str:
    """Why this poll's state does not conform ("" when it does)."""
    if p["config_hash"] is None:
        return "no configuration in force"
    if want["hash"] is None:
        return "no table and region to conform to (give --table and --region)"
    if p["config_hash"] != want["hash"]:
        named = f"{p['config_table'] or 'unnamed'} {p['config_region'] or ''}".strip()
        return (
            f"configuration {p['config_hash'][:12]} ({named}) in force, not "
            f"{want['table']} {want['region']} ({want['hash'][:12]})"
        )
    if p["channel_allowed"] == 0:
        return f"operating channel page {p['page']} channel {p['channel']} not enabled"
    if p["usage_ms"] is not None and p["regulated_ms"] and p["usage_ms"] > p["regulated_ms"]:
        return f"duty cycle {p['usage_ms']} ms above the regulated cap {p['regulated_ms']} ms"
    return ""


def _merge(spans: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s in spans:
        if out and out[-1].what == s.what and out[-1].why == s.why and s.start <= out[-1].end:
            out[-1].end = max(out[-1].end, s.end)
        else:
            out.append(Interval(s.start, s.end, s.what, s.why))
    return out


def board_timeline(
    db: KitDb,
    uid: str,
    since: float | None,
    table: str | None,
    region: str | None,
) -> BoardTimeline:
    b = db.rows("SELECT * FROM boards WHERE uid = ?", uid)[0]
    lo = iso(since) if since is not None else ""
    polls = db.rows(
        "SELECT polls.*, runs.interval_s, runs.clock_scale FROM polls "
        "JOIN runs ON runs.id = polls.run "
        "WHERE uid = ? AND t >= ? ORDER BY t",
        uid,
        lo,
    )
    outages = db.rows(
        "SELECT * FROM outages WHERE who = ? AND (end IS NULL OR end >= ?) ORDER BY start",
        uid,
        lo,
    )
    pruned = db.meta("pruned_before")
    resets = db.rows("SELECT * FROM resets WHERE uid = ? AND t >= ? ORDER BY t", uid, lo)
    times = [seconds(p["t"]) for p in polls]
    first = min(times + [seconds(o["start"]) for o in outages], default=seconds(b["first_seen"]))
    start = since if since is not None else first
    end = max(times + [seconds(o["end"]) for o in outages if o["end"]] + [start])
    want = expected_of(table, region, polls)
    tl = BoardTimeline(uid, b["board"], bool(b["simulated"]), start, end, want, polls=len(polls))

    # What each poll vouches for, and what no poll does
    seen: list[Interval] = []
    configs: list[Interval] = []
    for i, p in enumerate(polls):
        reach = COVER_INTERVALS * p["interval_s"] + LATENCY_S * p["clock_scale"]
        until = min(times[i + 1], times[i] + reach) if i + 1 < len(polls) else times[i]
        problem = _problem(p, want)
        seen.append(Interval(times[i], until, "not conform" if problem else "conform", problem))
        cfg = f"{p['config_table'] or '-'} {p['config_region'] or '-'} {p['config_hash'] or ''}"
        configs.append(Interval(times[i], until, cfg.strip()))
    tl.configurations = _merge(configs)
    seen = _merge(seen)
    unseen: list[Interval] = []
    t = start
    for s in [*seen, Interval(end, end, "")]:
        if s.start > t:
            last = max((x for x in times if x <= t), default=t)
            unseen.append(_unobserved(t, s.start, last, outages, resets, pruned))
        t = max(t, s.end)
    tl.intervals = sorted([s for s in seen if s.what != "conform"] + unseen, key=lambda i: i.start)
    if tl.intervals or not polls:
        tl.verdict = (
            "not conform" if any(i.what == "not conform" for i in tl.intervals) else ("not shown")
        )
    tl.hours = _hours(polls, times)
    _events(db, tl, uid, lo)
    _states_from_alerts(tl)
    tl.resets = [
        {"time": r["t"], "cause": r["cause"], "power_cut": r["cause"] == "power_on"}
        for r in resets
    ]
    tl.outages = [{"start": o["start"], "end": o["end"], "reason": o["reason"]} for o in outages]
    tl.gaps = [
        {
            "generation": g["gen"],
            "first_seq": g["first_seq"],
            "last_seq": g["last_seq"],
            "noticed": g["noticed"],
        }
        for g in db.rows("SELECT * FROM gaps WHERE uid = ? AND noticed >= ?", uid, lo)
    ]
    return tl


def _unobserved(
    t0: float, t1: float, since: float, outages: list[Any], resets: list[Any], pruned: str | None
) -> Interval:
    """Why nobody saw [t0, t1]; `since`: the last poll before it."""
    if pruned is not None and t0 < seconds(pruned):
        return Interval(t0, t1, "pruned", f"deleted by --keep (before {pruned})")
    reasons = [
        o["reason"]
        for o in outages
        if seconds(o["start"]) < t1 and (o["end"] is None or seconds(o["end"]) > t0)
    ]
    # A board that restarted after the last poll answered late or not at all
    reasons += [
        "the board was starting again after a "
        + ("power cut" if r["cause"] == "power_on" else f"reset ({r['cause']})")
        for r in resets
        if since <= seconds(r["t"]) <= t1
    ]
    why = "; ".join(dict.fromkeys(reasons)) or "no poll covers this time"
    return Interval(t0, t1, "not observed", why)


def _hours(polls: list[Any], times: list[float]) -> list[dict[str, Any]]:
    """The duty cycle's peak in each clock hour as polled (its usage is over the last
    hour), the highest state polled, and the thresholds in force."""
    hours: dict[float, dict[str, Any]] = {}
    for p, t in zip(polls, times, strict=True):
        if p["usage_ms"] is None:
            continue
        h = math.floor(t / HOUR) * HOUR
        cur = hours.setdefault(h, {"hour": iso(h), "peak_ms": 0, "state": "normal"})
        if p["usage_ms"] >= cur["peak_ms"]:
            cur["peak_ms"] = p["usage_ms"]
        cur.update(
            limited_ms=p["limited_ms"],
            critical_ms=p["critical_ms"],
            regulated_ms=p["regulated_ms"],
        )
        state = p["duty_state"] if p["duty_state"] in _ORDER else "unknown"
        if _ORDER.index(state) > _ORDER.index(cur["state"]):
            cur["state"] = state
    return [hours[h] for h in sorted(hours)]


def _states_from_alerts(tl: BoardTimeline) -> None:
    # A poll samples the duty cycle; the board's alerts say every state it entered. An
    # hour's state is the highest either shows (a short Critical between two polls too).
    by_hour = {h["hour"]: h for h in tl.hours}
    for a in tl.alerts:
        state = _ENTERED.get(int(a["code"], 16))
        if state is None:
            continue
        hour = iso(math.floor(seconds(a["time"]) / HOUR) * HOUR)
        h = by_hour.get(hour)
        if h is not None and _ORDER.index(state) > _ORDER.index(h["state"]):
            h["state"] = state


def _events(db: KitDb, tl: BoardTimeline, uid: str, lo: str) -> None:
    rows = db.rows(
        "SELECT * FROM events WHERE uid = ? AND coalesce(t, recorded) >= ? ORDER BY gen, seq",
        uid,
        lo,
    )
    tl.events = len(rows)
    for e in rows:
        when = e["t"] or e["recorded"]
        if e["code"] is None:
            continue
        fields = json.loads(e["fields"])
        if e["code"] == CHANNEL_CHANGED and isinstance(fields, dict):
            tl.channel_changes.append(
                {
                    "time": when,
                    "page": fields.get("page"),
                    "channel": fields.get("channel"),
                    "ScanTrigger": scan_trigger(fields.get("reason")),
                    "reason": fields.get("reason"),
                }
            )
        tl.alerts.append(
            {
                "time": when,
                "code": f"0x{e['code']:04X}",
                "name": alert_name(e["code"]),
                "seq": e["seq"],
                "generation": e["gen"],
            }
        )


def timeline(
    db: KitDb,
    since_s: float | None = None,
    table: str | None = None,
    region: str | None = None,
    now: float | None = None,
) -> list[BoardTimeline]:
    """Every recorded board's timeline. `since_s`: only the last so many seconds before
    the record's end."""
    uids = [r["uid"] for r in db.rows("SELECT uid FROM boards ORDER BY first_seen")]
    since = None
    if since_s is not None:
        last = db.rows("SELECT max(t) AS t FROM polls")[0]["t"]
        end = now if now is not None else (seconds(last) if last else 0.0)
        since = end - since_s
    return [board_timeline(db, u, since, table, region) for u in uids]


def verdict(boards: list[BoardTimeline]) -> str:
    """The kit's verdict: conform only when every board conformed and was seen throughout."""
    if not boards:
        return "not shown"
    if any(b.verdict == "not conform" for b in boards):
        return "not conform"
    return "conform" if all(b.verdict == "conform" for b in boards) else "not shown"
