"""DUIS the DCC's schema accepts: every `dbch duis export` of every table version, region and
option is held against the DUIS 5.4 XSD (SmartDCCInnovation/dccboxed-signing-tool, read from
../shared/dcc/duis-xsd with xmlschema, a real validator); a version DUIS cannot carry is
refused by name instead of written; and a request whose values break the schema's ranges
imports with every one of them named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dbch.gbcs.tables import REGIONS, all_tables

DBCH = str(Path(sys.executable).parent / "dbch")
OPTIONS = {
    "plain": [],
    "signature": ["--signature-placeholder"],
    "request-id": [
        "--originator",
        "90-B3-D5-1F-30-01-00-00",
        "--target",
        "00-DB-12-34-56-78-90-A2",
        "--counter",
        "1000",
    ],
}


def dbch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DBCH, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def schema(dcc: Path):  # type: ignore[no-untyped-def]
    import xmlschema

    return xmlschema.XMLSchema(str(dcc / "duis-xsd" / "DUIS Schema V5.4.xsd"))


def errors(schema, xml: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{e.path}: {e.reason}" for e in schema.iter_errors(xml)]


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("table", [t.id for t in all_tables()])
def test_every_export_is_valid_duis_or_refused_by_name(
    schema, table: str, option: str, tmp_path: Path
) -> None:
    versions = {t.id: t for t in all_tables()}
    for region in REGIONS:
        out = dbch("duis", "export", table, "--region", region, *OPTIONS[option])
        problems = [p for p in versions[table].duis_problems() if f".{region}." in p]
        if problems:  # e.g. sec-2018-03's 2.08 %: refused, naming the field and the successor
            assert out.returncode == 2 and out.stdout == "", out
            assert "LimitedCriticalDutyCycleThreshold" in out.stderr
            assert "Traceback" not in out.stderr
            continue
        assert out.returncode == 0, out.stderr
        assert errors(schema, out.stdout) == [], (table, region, option)


def test_the_in_force_version_exports_for_every_region(schema) -> None:
    live = [t for t in all_tables() if t.status == "in_force"]
    assert live and not live[-1].duis_problems()
    for region in REGIONS:
        out = dbch("duis", "export", live[-1].id, "--region", region)
        assert out.returncode == 0 and errors(schema, out.stdout) == []


def test_the_validator_would_refuse_the_old_placeholder(schema) -> None:
    # The check can fail: the in-force export with its 2.1 put back to 2.08 is refused.
    xml = dbch("duis", "export", "sec-2018-03-r1", "--region", "north").stdout
    old = xml.replace(">2.1</", ">2.08</")
    assert old != xml
    assert any("LimitedCriticalDutyCycleThreshold" in e for e in errors(schema, old))


def test_a_request_breaking_six_ranges_imports_with_each_named(
    dcc: Path, schema, tmp_path: Path
) -> None:
    # The review: a DBCH04 with six values out of range imported with only the page-31
    # problem reported.
    text = (dcc / "duis-templates" / "DBCH04_6.28_SUCCESS_REQUEST_DUIS.XML").read_text()
    for element, value in (
        ("MaximumSubGHzChannelChangesPerWeek", "9"),
        ("GSMECurfew", "1"),
        ("ChannelNoisierThreshold", "30"),
        ("NonGSMEPoorCommsMeasurementPeriods", "200"),
        ("LocalCHNoiseMeasurementPeriod", "30"),
        ("LocalCHRetryPercentage", "0.50"),
    ):
        start, end = text.index(f"<sr:{element}>"), text.index(f"</sr:{element}>")
        text = text[: start + len(element) + 5] + value + text[end:]
    bad = tmp_path / "six.xml"
    bad.write_text(text)
    assert len(errors(schema, str(bad))) >= 6  # the DCC would refuse it too
    out = dbch("duis", "import", str(bad))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    problems = [ln for ln in out.stderr.splitlines() if ln.startswith("problem: ")]
    for expected in (
        "9 is out of range for MaximumSubGHzChannelChangesPerWeek (DUIS 5.4 allows 1 to 7",
        "1 is out of range for GSMECurfew (DUIS 5.4 allows above 1",
        "30 is out of range for ChannelNoisierThreshold (DUIS 5.4 allows 0 to 20",
        "200 is out of range for NonGSMEPoorCommsMeasurementPeriods (DUIS 5.4 allows 50 to 150",
        "30 is out of range for LocalCHNoiseMeasurementPeriod (DUIS 5.4 allows above 60",
        "0.5 % is out of range for LocalCHRetryPercentage (DUIS 5.4 allows 1.00 to 100.00 %",
        "UpperBandSubGHzChannels0To26: enables channels",
    ):
        assert any(expected in p for p in problems), (expected, problems)
    assert len(problems) == 7
