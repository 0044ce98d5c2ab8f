"""Evidence from checks: JSON records, JUnit XML for CI, and a self-contained HTML report
with a chart of the channel plan that a person can read at a glance."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dbch.checks.fleet import Outcome
from dbch.checks.views import CheckReport, shown
from dbch.gbcs import channel_plan as plan
from dbch.output import PAPER_SIZES, print_page_css

MODE_TEXT = {
    "conform": "every field equals the table's value for the region",
    "comply": "every field within the table's rules",
}


def records(reports: Iterable[CheckReport]) -> list[dict[str, Any]]:
    return [r.as_dict() for rep in reports for r in rep.records]


def write_json(path: Path, reports: Iterable[CheckReport]) -> None:
    path.write_text(json.dumps(records(reports), indent=1, default=str) + "\n")


def bench_kind(simulated: bool | None) -> str:
    """What the evidence was taken on, as every report says it first."""
    return {True: "SIMULATED", False: "HARDWARE", None: "UNKNOWN BENCH"}[simulated]


def _board_id(label: str) -> str:
    # a classname CI tools read: no spaces or brackets ("sim1 (PICO, uid 01)" -> "sim1")
    return _safe_name(label.split(" (", 1)[0])


def write_junit(path: Path, reports: Iterable[CheckReport]) -> None:
    """One test suite per board, one test case per check: failures fail, unchecked and n/a
    are skipped with their reason. Each suite says whether the board was simulated and
    carries the evidence's identity as properties."""
    suites = ET.Element("testsuites", name="dbch check")
    for rep in reports:
        first = rep.records[0] if rep.records else None
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"[{bench_kind(rep.simulated)}] {rep.board} {rep.table.id} {rep.region} "
            f"{rep.mode}",
            tests=str(len(rep.records)),
            failures=str(len(rep.failures)),
            skipped=str(sum(r.result in ("unchecked", "n/a") for r in rep.records)),
            timestamp=first.time if first else "",
            hostname=first.host if first else "",
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("bench", bench_kind(rep.simulated)),
            ("firmware_hash", first.fw_hash if first else None),
            ("table", rep.table.id),
            ("table_hash", first.table_hash if first else None),
            ("region", rep.region),
            ("mode", rep.mode),
            ("tool", first.tool if first else None),
            ("operator", first.operator if first else None),
            ("command", first.command if first else None),
        ):
            ET.SubElement(props, "property", name=name, value=str(value or ""))
        for r in rep.records:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"dbch.{_board_id(rep.board)}.{r.view}",
                name=r.check,
            )
            if r.result == "fail":
                ET.SubElement(
                    case, "failure", message=r.reason
                ).text = f"value {r.value!r}, limit {r.limit!r} {r.unit} ({r.rule})"
            elif r.result in ("unchecked", "n/a"):
                ET.SubElement(case, "skipped", message=f"{r.result}: {r.reason}")
    ET.indent(suites)
    path.write_bytes(ET.tostring(suites, encoding="UTF-8", xml_declaration=True) + b"\n")


# --- HTML ------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.pass{color:#137333}.fail{color:#c5221f;font-weight:600}.unchecked,.n\\/a{color:#8a6d00}
table{border-collapse:collapse;margin-top:8px}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;
height:12px;vertical-align:middle;margin-right:4px}
td.v{max-width:260px;font-family:ui-monospace,monospace;font-size:12px}
td{overflow-wrap:normal;word-break:normal;hyphens:manual}
@media print{body{margin:0;font-size:11px}td,th{padding:2px 5px}td.v{font-size:10px}
h2{break-after:avoid}tr{break-inside:avoid}}
"""
# Printed (write_pdf): A4 unless told, the bench banner and "page N of M" on every page,
# in the page's margin boxes (CSS Paged Media, which Chromium prints).
_BANDS = (
    (863_000_000, 876_000_000, "Lower band: pages 28-30"),
    (914_000_000, 922_000_000, "Upper band: page 31 (915-921 MHz masked)"),
)
_W, _H, _PAD = 900, 120, 40


def channel_chart(rep: CheckReport) -> str:
    """SVG: every channel of the plan on a frequency axis; allowed, not allowed, masked;
    the operating channel; and the emissions the witness saw, per channel."""
    allowed = set(rep.table.region(rep.region).allowed())
    ch = (rep.context.get("status") or {}).get("channel") or {}
    operating = plan.Channel(ch["page"], ch["channel"]) if ch else None
    emissions = rep.context.get("emissions") or []
    seen = Counter(round(r["freq_hz"] / 1000) for r in emissions if r.get("emitted"))
    peak = max(seen.values(), default=1)
    parts = [
        f'<svg id="channel-plan" xmlns="http://www.w3.org/2000/svg" width="{_W}" '
        f'height="{len(_BANDS) * (_H + 30)}" role="img" aria-label="channel plan">'
    ]
    for b, (lo, hi, title) in enumerate(_BANDS):
        y0 = b * (_H + 30) + 20
        span = hi - lo

        def x(f: int, lo: int = lo, span: int = span) -> float:
            return _PAD + (f - lo) * (_W - 2 * _PAD) / span

        parts.append(f'<text x="{_PAD}" y="{y0 - 6}" font-size="12">{html.escape(title)}</text>')
        m_lo, m_hi = plan.MASKED_BAND_HZ
        if m_hi > lo and m_lo < hi:
            parts.append(
                f'<rect class="masked" x="{x(max(m_lo, lo)):.1f}" y="{y0}" '
                f'width="{x(min(m_hi, hi)) - x(max(m_lo, lo)):.1f}" height="{_H - 30}" '
                f'fill="#f8d7d5"/>'
            )
        for c in plan.all_channels():
            if not lo <= c.freq_hz <= hi:
                continue
            state = "allowed" if c in allowed else "masked-channel" if c.masked_band else "off"
            colour = {"allowed": "#34a853", "masked-channel": "#c5221f", "off": "#c8c8c8"}[state]
            w = max(2.0, 200_000 * (_W - 2 * _PAD) / span * 0.8)
            parts.append(
                f'<rect class="channel {state}" data-page="{c.page}" '
                f'data-channel="{c.number}" x="{x(c.freq_hz) - w / 2:.1f}" '
                f'y="{y0 + 40}" width="{w:.1f}" height="30" fill="{colour}">'
                f"<title>page {c.page} channel {c.number}: {plan.mhz(c.freq_hz)} MHz, "
                f"{state}</title></rect>"
            )
        if operating is not None and lo <= operating.freq_hz <= hi:
            ox = x(operating.freq_hz)
            parts.append(
                f'<path id="operating" d="M{ox - 6:.1f},{y0 + 30} L{ox + 6:.1f},'
                f'{y0 + 30} L{ox:.1f},{y0 + 39} Z" fill="#1a73e8"><title>operating '
                f"channel {operating}</title></path>"
            )
        for khz, n in sorted(seen.items()):
            f = khz * 1000
            if lo <= f <= hi:
                h = 8 + 28 * n / peak
                parts.append(
                    f'<rect class="emission" x="{x(f) - 1:.1f}" y="{y0 + 36 - h:.1f}"'
                    f' width="2" height="{h:.1f}" fill="#f29900"><title>{n} emissions '
                    f"at {f / 1e6:.6f} MHz</title></rect>"
                )
        for mhz in range(lo // 1_000_000, hi // 1_000_000 + 1):
            fx = x(mhz * 1_000_000)
            parts.append(
                f'<line x1="{fx:.1f}" y1="{y0 + 72}" x2="{fx:.1f}" y2="{y0 + 78}" '
                f'stroke="#555"/><text x="{fx:.1f}" y="{y0 + 90}" font-size="10" '
                f'text-anchor="middle">{mhz}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _fleet_table(reports: list[CheckReport], run_s: float | None, started: int = 0) -> str:
    """A fleet report's opening: one row per board (verdict, failures, a link to its
    section) and the run's time (with the boards it started and deployed, if any)."""
    rows = "".join(
        f'<tr><td><a href="#{_anchor(i)}">{html.escape(rep.board)}</a></td>'
        f'<td class="{html.escape(rep.result)}">{rep.result}</td>'
        f"<td>{len(rep.failures)}</td>"
        f"<td>{html.escape(', '.join(r.check for r in rep.failures[:3]))}</td></tr>"
        for i, rep in enumerate(reports)
    )
    passed = sum(r.result == "pass" for r in reports)
    took = f" in {run_s:.1f} s" if run_s else ""
    if run_s and started:
        took += f" (starting and deploying {started} of them included)"
    return (
        f'<p id="fleet">{len(reports)} boards{took}: {passed} pass, '
        f"{len(reports) - passed} not.</p><table><tr><th>board</th><th>verdict</th>"
        f"<th>failures</th><th>first failed checks</th></tr>{rows}</table>"
    )


def _anchor(i: int) -> str:
    return f"board-{i + 1}"


def render_html(reports: list[CheckReport], run_s: float | None = None, started: int = 0) -> str:
    kinds = {bench_kind(r.simulated) for r in reports} or {"UNKNOWN BENCH"}
    banner = " and ".join(sorted(kinds))
    warning = (
        " (simulated twins: evidence about the agent and the tools, not about hardware)"
        if "SIMULATED" in kinds
        else ""
    )
    page_css = print_page_css(
        size=PAPER_SIZES[0],
        banner=f"{banner}{' (simulated twins)' if 'SIMULATED' in kinds else ''}",
        colour="#c5221f" if "SIMULATED" in kinds else "#137333",
    )
    body = [
        f'<p class="{"fail" if "SIMULATED" in kinds else "pass"}" id="bench">'
        f"{banner}{warning}</p><h1>DBCH configuration check</h1>"
    ]
    if len(reports) > 1:
        body.append(_fleet_table(reports, run_s, started))
    for i, rep in enumerate(reports):
        cls = {"pass": "pass", "fail": "fail"}.get(rep.result, "unchecked")
        body.append(
            f'<h2 id="{_anchor(i)}">{html.escape(rep.board)}: '
            f'<span class="{cls}">{rep.result}</span></h2>'
            f"<p>Table <b>{html.escape(rep.table.id)}</b> "
            f"({html.escape(rep.table.title)}), region <b>{rep.region}</b>, question "
            f"<b>{rep.mode}</b> ({MODE_TEXT[rep.mode]}). "
            f"{len(rep.failures)} failed, {len(rep.unchecked)} unchecked of "
            f"{len(rep.records)} checks.</p>"
        )
        placeholders = rep.table.placeholders()
        if placeholders:  # next to the verdict: nobody should mistake it for SEC evidence
            body.append(
                f'<p class="fail">{len(placeholders)} of this table\'s values are placeholders '
                "(no public source gives them): checks against them prove agreement with "
                "the file, not with the SEC.</p>"
            )
        body.append(
            '<div class="legend"><span><i class="sw" style="background:#34a853"></i>'
            'allowed</span><span><i class="sw" style="background:#c8c8c8"></i>not '
            'allowed</span><span><i class="sw" style="background:#c5221f"></i>'
            'masked channel</span><span><i class="sw" style="background:#f8d7d5">'
            '</i>masked band</span><span><i class="sw" style="background:#1a73e8"></i>operating '
            'channel</span><span><i class="sw" style="background:#f29900"></i>'
            "emissions seen by the witness</span></div>"
        )
        body.append(channel_chart(rep))
        rows = "".join(
            f"<tr><td>{html.escape(r.view)}</td><td>{html.escape(r.check)}</td>"
            f'<td class="{html.escape(r.result)}">{r.result}</td>'
            f'<td class="v">{html.escape(shown(r.field, r.value, r.unit))}</td>'
            f'<td class="v">{html.escape(shown(r.field, r.limit, r.unit))}</td>'
            f'<td title="{html.escape(r.source)}">{html.escape(r.kind)}</td>'
            f"<td>{html.escape(r.rule)}</td><td>{html.escape(r.reason)}</td></tr>"
            for r in rep.records
        )
        body.append(
            "<table><tr><th>view</th><th>check</th><th>result</th><th>value</th>"
            "<th>limit</th><th>limit's kind</th><th>rule</th><th>reason</th></tr>"
            + rows
            + "</table>"
        )
        first = rep.records[0] if rep.records else None
        if first is not None:
            body.append(
                f"<p>{bench_kind(rep.simulated)} board. Table hash {first.table_hash} "
                f"({html.escape(rep.table.source.document)}); firmware {first.fw_hash}; "
                f"checked {first.time} by {html.escape(first.operator)} on "
                f"{html.escape(first.host)} with {html.escape(first.tool)}: "
                f"<code>{html.escape(first.command)}</code>.</p>"
            )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>DBCH check</title>'
        f"<style>{_CSS}{page_css}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_html(
    path: Path, reports: list[CheckReport], run_s: float | None = None, started: int = 0
) -> None:
    path.write_text(render_html(reports, run_s, started))


CHROMIUM_PROGRAMS = ("chromium", "chromium-browser")
PRINT_TIMEOUT_S = 120


def write_pdf(html_path: Path, pdf_path: Path, paper: str = PAPER_SIZES[0]) -> None:
    """The HTML report printed to PDF by headless Chromium: a file an auditor opens
    anywhere, on A4 (or `paper`: letter), the bench banner and page numbers on every page.
    Raises DbchError when Chromium is missing or fails."""
    import shutil
    import subprocess
    import tempfile

    from dbch.errors import DbchError

    if paper not in PAPER_SIZES:
        raise DbchError(f"paper {paper!r}: one of {', '.join(PAPER_SIZES)}")
    program = next((p for p in map(shutil.which, CHROMIUM_PROGRAMS) if p), None)
    if program is None:
        raise DbchError("printing a PDF needs Chromium (Debian: apt install chromium)")
    with tempfile.TemporaryDirectory(prefix="dbch-chromium-") as profile:
        if paper != PAPER_SIZES[0]:  # the report's own @page rule says A4: a later one wins
            printed = Path(profile) / html_path.name
            printed.write_text(html_path.read_text() + f"<style>@page{{size:{paper}}}</style>")
            html_path = printed
        out = subprocess.run(
            [
                program,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={pdf_path.resolve()}",
                html_path.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=PRINT_TIMEOUT_S,
        )
    if out.returncode != 0 or not pdf_path.exists():
        raise DbchError(f"Chromium could not print {html_path}: {out.stderr.strip()[-300:]}")


# --- fleets ---------------------------------------------------------------------------
def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "board"


def fleet_summary(
    action: str,
    table_id: str,
    outcomes: list[Outcome],
    wall: float,
    work: float | None = None,
    region: str | None = None,
    started: int = 0,
    interrupted_of: int | None = None,
) -> dict[str, Any]:
    """A fleet run, as summary.json and `fleet --json` give it. `wall_s`: the whole run
    (with starting and deploying the `started` simulated boards it started); `work_s`:
    applying or checking them. `interrupted_of`: Ctrl-C stopped the run, and `outcomes`
    are the boards done of that many."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.result] = counts.get(o.result, 0) + 1
    return {
        "action": action,
        "table": table_id,
        "wall_s": round(wall, 3),
        "work_s": round(wall if work is None else work, 3),
        "region": region,
        "counts": counts,
        "started_boards": started,
        "interrupted": interrupted_of is not None,
        "boards_in_run": len(outcomes) if interrupted_of is None else interrupted_of,
        "boards": [outcome_dict(o, region) for o in outcomes],
    }


def outcome_dict(o: Outcome, region: str | None = None) -> dict[str, Any]:
    return {
        "name": o.target.name,
        "port": o.target.port,
        "simulated": o.target.simulated,
        "region": o.target.region or region,
        "result": o.result,
        "detail": o.detail,
        "seconds": round(o.seconds, 3),
    }


def write_fleet(out: Path, summary: dict[str, Any], outcomes: list[Outcome]) -> None:
    """Per board: NAME.json (the evidence records, or the apply reply); for all: summary.json
    (fleet_summary), and for checks junit.xml and report.html."""
    reports = [o.data for o in outcomes if isinstance(o.data, CheckReport)]
    for o in outcomes:
        path = out / f"{_safe_name(o.target.name)}.json"
        if isinstance(o.data, CheckReport):
            body: Any = records([o.data])
        else:
            body = {**outcome_dict(o, summary["region"]), "reply": o.data}
        path.write_text(json.dumps(body, indent=1, default=jsonable) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if reports:
        write_junit(out / "junit.xml", reports)
        write_html(out / "report.html", reports, summary["wall_s"], summary["started_boards"])


def jsonable(v: Any) -> Any:
    return v.hex() if isinstance(v, bytes | bytearray) else str(v)
