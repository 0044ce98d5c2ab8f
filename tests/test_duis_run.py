"""A bench that answers DUIS requests (`dbch duis run`): each DBCH01-05 template of the DCC
(../shared/dcc/duis-templates) executed on a simulated board, its DUIS Response valid
against the DUIS 5.4 XSD, its GBCS payload read back by `gbcs decode`; the 6.28 template
(page-31 channels) refused as a GBCS error result; without them it puts the configuration
in force and the board's DBCH04 alert decodes to it."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbch.gbcs import duis, messages
from dbch.gbcs.tables import in_force
from dbch.link.client import AgentClient
from dbch.sim.bench import Bench, SimBoard
from helpers import apply, ensure_agent, start_deployed

DBCH = str(Path(sys.executable).parent / "dbch")
NS = {"sr": duis.NS}
TEMPLATES = {
    "DBCH01_6.31": "DBCH01",
    "DBCH02_6.32": "DBCH02",
    "DBCH03_6.30": "DBCH03",
    "DBCH04_6.28": "DBCH04",
    "DBCH05_6.29": "DBCH05",
}


@pytest.fixture(scope="module")
def schema(dcc: Path):  # type: ignore[no-untyped-def]
    import xmlschema

    return xmlschema.XMLSchema(str(dcc / "duis-xsd" / "DUIS Schema V5.4.xsd"))


@pytest.fixture(scope="module")
def board(bench: Bench) -> Iterator[SimBoard]:
    """A board configured with the table in force, so every read has something to read."""
    b = start_deployed(bench)
    with AgentClient(b.port, on_console=None) as hub:
        apply(hub, in_force())
    yield b
    b.stop()


def run(board: SimBoard, request: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    ensure_agent(board)
    return subprocess.run(
        [DBCH, "duis", "run", str(request), "--port", f"sim:{board.id}", "-o", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


def payload(xml: Path) -> dict:
    text = ET.parse(xml).getroot().findtext(".//sr:GBCSPayload", namespaces=NS)
    assert text
    return messages.decode(base64.b64decode(text))


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_gets_a_schema_valid_response_from_the_board(
    dcc: Path, schema, board: SimBoard, template: str, tmp_path: Path
) -> None:
    request = dcc / "duis-templates" / f"{template}_SUCCESS_REQUEST_DUIS.XML"
    out = tmp_path / "response.xml"
    got = run(board, request, out, "--alerts", str(tmp_path / "alerts"))
    refused = template == "DBCH04_6.28"  # the template enables page-31 channels
    assert got.returncode == (1 if refused else 0), got.stderr
    assert "Traceback" not in got.stderr
    assert [str(e) for e in schema.iter_errors(str(out))] == []
    header = ET.parse(out).getroot().find("sr:Header", NS)
    assert header is not None
    req = duis.parse_request(request.read_bytes())
    assert header.findtext("sr:RequestID", namespaces=NS) == req.request_id
    assert header.findtext("sr:ResponseCode", namespaces=NS) == "I0"
    decoded = payload(out)
    assert decoded["use_case"] == TEMPLATES[template]
    assert decoded["header"]["cra_flag"] == "Response"
    assert decoded["header"]["originator"] == req.target  # answers as the request's target
    assert decoded["header"]["supplementary_remote_party_id"] == req.originator
    assert decoded["header"]["supplementary_remote_party_counter"] == req.counter
    record = json.loads(out.with_name(out.name + ".board.json").read_text())
    assert record["answered_as"] == req.target and record["eui64"] != req.target
    if refused:
        (res,) = decoded["results"]
        assert (res["access"], res["result"], res["name"]) == ("set", 250, "other-reason")
        assert "page31" in got.stderr
    else:
        assert decoded["result"] == "success"
    with AgentClient(board.port, on_console=None) as hub:
        if template == "DBCH01_6.31":
            assert decoded["channel"]["word"] == f"{hub.get_channel()['word']:08X}"
        if template == "DBCH03_6.30":
            assert decoded["configuration"] == hub.get_config()["fields"]
    if template == "DBCH02_6.32":  # the template asks for December 2014: nothing then
        assert decoded["entries"] == []


def test_the_628_template_without_its_upper_band_is_put_in_force_and_alerted(
    dcc: Path, schema, board: SimBoard, tmp_path: Path
) -> None:
    text = (dcc / "duis-templates" / "DBCH04_6.28_SUCCESS_REQUEST_DUIS.XML").read_text()
    start = text.index("<sr:UpperBandSubGHzChannels0To26>")
    end = text.index("</sr:UpperBandSubGHzChannels0To26>") + len(
        "</sr:UpperBandSubGHzChannels0To26>"
    )
    request = tmp_path / "no-upper-band.xml"
    request.write_text(text[:start] + "<sr:UpperBandSubGHzChannels0To26/>" + text[end:])
    wanted = duis.parse_request(request.read_bytes()).config
    assert wanted is not None and not wanted.problems()
    out = tmp_path / "response.xml"
    got = run(board, request, out, "--alerts", str(tmp_path / "alerts"))
    assert got.returncode == 0, got.stderr
    assert payload(out)["results"] == [{"access": "set", "result": 0, "name": "success"}]
    with AgentClient(board.port, on_console=None) as hub:
        assert hub.get_config()["fields"] == wanted.as_dict()
    alerts = sorted((tmp_path / "alerts").glob("alert-8F2A-*.xml"))
    assert len(alerts) == 1, sorted(p.name for p in (tmp_path / "alerts").iterdir())
    assert [str(e) for e in schema.iter_errors(str(alerts[0]))] == []
    alert = payload(alerts[0])
    assert (alert["use_case"], alert["alert_code"]) == ("DBCH09", 0x8F2A)
    assert alert["configuration"] == wanted.as_dict()  # the DBCH04 alert decodes to it
    for other in (tmp_path / "alerts").glob("alert-*.xml"):  # 0x8F26 too, when it moved
        assert [str(e) for e in schema.iter_errors(str(other))] == []
        payload(other)


def test_a_board_that_is_not_the_target_is_refused_with_strict_target(
    dcc: Path, board: SimBoard, tmp_path: Path
) -> None:
    request = dcc / "duis-templates" / "DBCH01_6.31_SUCCESS_REQUEST_DUIS.XML"
    got = run(board, request, tmp_path / "r.xml", "--strict-target")
    assert got.returncode == 2 and "the request targets 00-DB-12-34-56-78-90-A2" in got.stderr
    assert not (tmp_path / "r.xml").exists()


def test_a_board_that_does_not_answer_is_exit_2_and_writes_nothing(
    dcc: Path, tmp_path: Path
) -> None:
    request = dcc / "duis-templates" / "DBCH03_6.30_SUCCESS_REQUEST_DUIS.XML"
    out = tmp_path / "r.xml"
    got = subprocess.run(
        [DBCH, "duis", "run", str(request), "--port", "socket://127.0.0.1:9", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert got.returncode == 2 and "did not answer" in got.stderr, got.stderr
    assert "Traceback" not in got.stderr and not out.exists()
