"""A kit's timeline as an HTML page a field engineer reads at a glance: the verdict first, a
chart per board drawn by matplotlib (SVG, text kept as text), then the intervals, changes,
alerts, resets and outages as tables. Printed to PDF by the same Chromium step as a check
report (A4 or letter, the bench banner and page numbers on every page)."""

from __future__ import annotations

import html
import io
from typing import Any

from dbch.kit.db import seconds
from dbch.kit.db import shown_time as _t
from dbch.kit.timeline import HOUR, BoardTimeline
from dbch.output import print_page_css

COLOURS = {
    "conform": "#34a853",
    "not conform": "#c5221f",
    "not observed": "#9aa0a6",
    "pruned": "#dadce0",
    "limited": "#f29900",
    "critical": "#e8710a",
    "regulated": "#c5221f",
}


def chart_svg(tl: BoardTimeline) -> str:
    """Two panels on one time axis: the duty cycle's peak per hour against Limited,
    Critical and the regulated cap; below, lanes for conformity, the configuration in
    force, and markers for channel changes, alerts, resets and power cuts."""
    import matplotlib

    matplotlib.use("svg")
    from datetime import UTC, datetime

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "dbch", "font.size": 8})

    def when(t: float | str) -> datetime:
        return datetime.fromtimestamp(seconds(t) if isinstance(t, str) else t, UTC)

    fig, (duty, lanes) = plt.subplots(
        2, 1, figsize=(10, 4.6), sharex=True, height_ratios=(3, 2), layout="constrained"
    )
    hours = tl.hours
    if hours:
        x = [when(h["hour"]) for h in hours]
        width = HOUR / 86400 * 0.8  # days, as matplotlib's date axis counts
        duty.bar(
            x,
            [h["peak_ms"] / 1000 for h in hours],
            width=width,
            align="edge",
            color=[COLOURS.get(h["state"], "#1a73e8") for h in hours],
            label="peak use in the hour",
        )
        for key, name, style in (
            ("limited_ms", "Limited", ":"),
            ("critical_ms", "Critical", "--"),
            ("regulated_ms", "regulated cap", "-"),
        ):
            ys = [h[key] / 1000 if h.get(key) is not None else float("nan") for h in hours]
            xs = [*x, when(seconds(hours[-1]["hour"]) + HOUR)]
            duty.step(
                xs, [*ys, ys[-1]], where="post", linestyle=style, color="#202124", label=name
            )
    duty.set_ylabel("airtime in the last hour (s)")
    duty.legend(loc="upper left", fontsize=7, ncols=4)
    duty.set_title(f"{tl.board or 'board'} {tl.uid}: duty cycle per hour", loc="left")

    def span(t0: float, t1: float, y: float, colour: str) -> None:
        days = max((t1 - t0) / 86400, 1e-6)  # matplotlib's date axis counts days
        lanes.broken_barh([(mdates.date2num(when(t0)), days)], (y - 0.4, 0.8), color=colour)

    span(tl.start, tl.end, 3.0, COLOURS["conform"])  # beneath the exceptions
    for i in tl.intervals:
        span(i.start, i.end, 3.0, COLOURS.get(i.what, "#9aa0a6"))
    palette = ["#1a73e8", "#a142f4", "#12b5cb", "#f538a0", "#5f6368"]
    names: dict[str, str] = {}
    for c in tl.configurations:  # one colour per configuration
        span(c.start, c.end, 2.0, names.setdefault(c.what, palette[len(names) % len(palette)]))
    marks = [
        ([when(c["time"]) for c in tl.channel_changes], "^", "#1a73e8", "channel change"),
        ([when(a["time"]) for a in tl.alerts], "|", "#f29900", "alert"),
        ([when(r["time"]) for r in tl.resets if not r["power_cut"]], "o", "#5f6368", "reset"),
        ([when(r["time"]) for r in tl.resets if r["power_cut"]], "X", "#c5221f", "power cut"),
    ]
    for xs, marker, colour, label in marks:
        if xs:
            lanes.scatter(xs, [1.0] * len(xs), marker=marker, color=colour, label=label, s=36)
    lanes.set_yticks([1.0, 2.0, 3.0], ["events", "configuration", "verdict"])
    lanes.set_ylim(0.4, 3.6)
    if any(xs for xs, *_ in marks):
        lanes.legend(loc="lower right", fontsize=7, ncols=4)
    lanes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(lanes.xaxis.get_major_locator()))
    lanes.set_xlabel("UTC")
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]  # no XML prolog inside HTML


_CSS = """
body{font-family:sans-serif;font-size:11px;margin:0 12px}
table{border-collapse:collapse;margin:6px 0 12px}td,th{border:1px solid #ccc;padding:2px 5px;
text-align:left;vertical-align:top;overflow-wrap:normal;word-break:normal}
.conform{color:#137333;font-weight:bold}.notconform,.notshown{color:#c5221f;font-weight:bold}
#bench{font-weight:bold;font-size:13px}svg{max-width:100%;height:auto}
"""


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(boards: list[BoardTimeline], kit_verdict: str, db_name: str, paper: str) -> str:
    from dbch.checks.evidence import bench_kind

    kinds = {bench_kind(b.simulated) for b in boards} or {"UNKNOWN BENCH"}
    banner = " and ".join(sorted(kinds))
    simulated = "SIMULATED" in kinds
    page_css = print_page_css(
        size=paper,
        banner=banner + (" (simulated twins)" if simulated else ""),
        colour="#c5221f" if simulated else "#137333",
    )
    cls = kit_verdict.replace(" ", "")
    body = [
        f'<p id="bench" class="{"notconform" if simulated else "conform"}">{banner}'
        + (
            " (simulated twins: evidence about the agent and the tools, not hardware)"
            if simulated
            else ""
        )
        + "</p>",
        f"<h1>Field kit record: <span id='verdict' class='{cls}'>{kit_verdict}</span></h1>",
        f"<p>From {html.escape(db_name)}.</p>",
    ]
    for b in boards:
        want = b.expected
        body.append(
            f"<h2>{html.escape(b.board or 'board')} {b.uid}: "
            f"<span class='{b.verdict.replace(' ', '')}'>{b.verdict}</span></h2>"
            f"<p>{b.start and _t(b.start)} to {_t(b.end)}; table "
            f"<b>{html.escape(str(want['table']))}</b> region "
            f"<b>{html.escape(str(want['region']))}</b> (hash {want['hash'] or '-'}); "
            f"{b.polls} polls, {b.events} events.</p>"
        )
        body.append(chart_svg(b))
        body.append("<h3>Where it did not conform, or was not seen</h3>")
        body.append(
            _table(
                ["from", "to", "what", "why"],
                [[_t(i.start), _t(i.end), i.what, i.why] for i in b.intervals],
            )
        )
        body.append("<h3>Configurations in force</h3>")
        body.append(
            _table(
                ["from", "to", "table region hash"],
                [[_t(c.start), _t(c.end), c.what] for c in b.configurations],
            )
        )
        body.append("<h3>Channel changes</h3>")
        body.append(
            _table(
                ["time", "page", "channel", "ScanTrigger", "agent's reason"],
                [
                    [c["time"], c["page"], c["channel"], c["ScanTrigger"], c["reason"]]
                    for c in b.channel_changes
                ],
            )
        )
        body.append("<h3>Alerts</h3>")
        body.append(
            _table(
                ["time", "code", "alert"], [[a["time"], a["code"], a["name"]] for a in b.alerts]
            )
        )
        body.append("<h3>Resets, power cuts and outages</h3>")
        body.append(
            _table(
                ["from", "to", "what"],
                [
                    [r["time"], "", "power cut" if r["power_cut"] else f"reset ({r['cause']})"]
                    for r in b.resets
                ]
                + [[o["start"], o["end"] or "(open)", o["reason"]] for o in b.outages],
            )
        )
        if b.gaps:
            body.append("<h3>Events the board's log no longer had when read</h3>")
            body.append(
                _table(
                    ["generation", "first", "last", "noticed"],
                    [
                        [g["generation"], g["first_seq"], g["last_seq"], g["noticed"]]
                        for g in b.gaps
                    ],
                )
            )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>DBCH field kit</title>'
        f"<style>{_CSS}{page_css}</style></head><body>{''.join(body)}</body></html>\n"
    )
