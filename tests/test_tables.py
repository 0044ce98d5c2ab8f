"""Table versions: the shipped files, schema errors that name file and field, the pure
comparison, diff and impact between the 2017 draft and the 2018 conclusion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dbch.errors import TableError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.compare import compare, conforms
from dbch.gbcs.subghz_config import SubGhzConfig
from dbch.gbcs.table_diff import diff, impact, load_device_records
from dbch.gbcs.tables import REGIONS, all_tables, get_table, in_force, load_table_file

DBCH = str(Path(sys.executable).parent / "dbch")
TABLES = Path(__file__).parents[1] / "tables"
SHIPPED = TABLES / "sec-2018-03.toml"  # superseded: DUIS cannot carry one of its values
IN_FORCE = TABLES / "sec-2018-03-r1.toml"


def dbch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DBCH, *args], capture_output=True, text=True, timeout=60)


def test_the_shipped_versions_load_each_superseded_by_the_next() -> None:
    ids = [t.id for t in all_tables()]
    assert ids == ["sec-2017-12-draft", "sec-2018-03", "sec-2018-03-r1"]
    old, new = get_table("sec-2018-03"), get_table("sec-2018-03-r1")
    assert old.supersedes == "sec-2017-12-draft" and new.supersedes == "sec-2018-03"
    # A shipped version is never edited: its successor makes it superseded.
    assert 'status = "in_force"' in SHIPPED.read_text()
    assert (old.status, new.status, in_force().id) == ("superseded", "in_force", new.id)
    assert get_table("sec-2017-12-draft").status == "superseded"
    # The correction changes the one value DUIS cannot carry, and nothing else.
    assert [(c.region, c.field) for c in diff(old, new).changes] == [
        (r, "limited_critical_threshold") for r in REGIONS
    ]


def test_915_masking_per_region_follows_the_record() -> None:
    draft, final = get_table("sec-2017-12-draft"), get_table("sec-2018-03")
    masked = plan.none_enabled(31)
    assert draft.region("central").config().page31 == masked
    assert draft.region("south").config().page31 == masked
    assert draft.region("north").config().page31 != masked
    assert all(final.region(r).config().page31 == masked for r in REGIONS)


def test_unconfirmed_values_are_marked_placeholders() -> None:
    t = get_table("sec-2018-03-r1")
    where = dict(t.placeholders())
    assert "regions.north.page28" in where and "regulatory.max_tx_power_dbm" in where
    assert "regions.north.page31" not in where  # the masking is confirmed


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "x.toml"
    f.write_text(text)
    return f


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("[regions.north]", "[regions.north]\npage31 = 0xE8000006"),
            "regions.north.page31: top bits give page 29, expected 31",
        ),
        (
            ("[regions.north]", "[regions.north]\npage29 = 0xE8000200"),
            "regions.north.page29: reserved bits set",
        ),
        (
            ("[regions.south]", "[regions.south]\nlimited_critical_threshold = 100"),
            "regions.south.limited_critical_threshold: LimitedCriticalDutyCycleThreshold 1 % "
            "must be above NormalLimitedDutyCycleThreshold 1.5 %",
        ),
        (
            ("[regions.south]", "[regions.south]\nlimited_critical_threshold = 2600"),
            "below the regulated limit",
        ),
        (
            ("[regions.south]", "[regions.south]\nlocal_ch_retry_percentage = 10001"),
            "regions.south.local_ch_retry_percentage: 10001 out of range",
        ),
        (
            ("[regions.south]", '[regions.south]\ngsme_curfew = "seven"'),
            "regions.south.gsme_curfew: must be an integer",
        ),
        (
            ("[regions.south]", '[regions.south]\ngsme_curfew = { value = 7, rule = "subset" }'),
            "regions.south.gsme_curfew: rule subset applies only to masks",
        ),
        (
            ("[regions.south]", "[regions.south]\nwibble = 1"),
            "regions.south.wibble: unknown field",
        ),
        (("[regions.south]\n", ""), "regions.south: every CSP region needs an entry"),
        (("[regions.south]", "[regions.east]"), "regions.east: unknown field"),
        (('status = "in_force"', 'status = "maybe"'), "status: must be one of"),
        (("effective = 2018-05-26", 'effective = "soon"'), "effective: must be a date"),
        (
            ("lbt_threshold_dbm = -87", "lbt_threshold_dbm = -87.25"),
            "regulatory.lbt_threshold_dbm: at most one decimal place",
        ),
        (
            ('page28 = { channels = "0-26"', 'page28 = { channels = "0-27"'),
            "common.page28.channels: channel 27 is not on page 28",
        ),
        (('id = "sec-2018-03"', 'id = "other"'), "id: must match the file name ('x')"),
    ],
)
def test_bad_table_files_name_file_field_and_reason(tmp_path: Path, edit, message: str) -> None:
    old, new = edit
    text = IN_FORCE.read_text().replace('id = "sec-2018-03-r1"', 'id = "x"', 1)
    if old.startswith("id = "):
        text = text.replace('id = "x"', new, 1)
    else:
        assert old in text
        text = text.replace(old, new, 1)
    f = _write(tmp_path, text)
    with pytest.raises(TableError) as e:
        load_table_file(f)
    assert f"{f}: " in str(e.value) and message in str(e.value)


def test_malformed_toml_is_reported_and_nothing_is_loaded(tmp_path: Path) -> None:
    f = _write(tmp_path, 'id = "x"\n[broken')
    with pytest.raises(TableError, match="not valid TOML"):
        load_table_file(f)


def test_a_user_version_is_picked_up_without_code(tmp_path: Path, monkeypatch) -> None:
    text = IN_FORCE.read_text().replace('id = "sec-2018-03-r1"', 'id = "sec-2026-01"')
    text = text.replace('supersedes = "sec-2018-03"', 'supersedes = "sec-2018-03-r1"')
    (tmp_path / "sec-2026-01.toml").write_text(text)
    monkeypatch.setenv("DBCH_TABLES_PATH", str(tmp_path))
    assert "sec-2026-01" in [t.id for t in all_tables()]
    assert get_table("sec-2026-01").supersedes == "sec-2018-03-r1"


def test_compare_passes_the_table_itself_and_names_failing_fields() -> None:
    t = get_table("sec-2018-03-r1")
    cfg = t.region("north").config()
    assert conforms(compare(t, "north", cfg))
    bad = SubGhzConfig(
        **{
            **cfg.as_dict(),
            "page31": plan.mask_word(31, [0, 1]),
            "normal_limited_threshold": 200,
            "gsme_curfew": 9,
        }
    )
    results = {r.field: r for r in compare(t, "north", bad)}
    assert results["page31"].passed is False
    assert "915.35-915.55 MHz" in results["page31"].reason
    assert results["normal_limited_threshold"].passed is False
    assert results["gsme_curfew"].passed is False
    assert results["page28"].passed is True


def test_a_field_the_device_did_not_report_is_unchecked_not_passed() -> None:
    t = get_table("sec-2018-03-r1")
    values = t.region("south").config().as_dict()
    values["gsme_curfew"] = None
    results = {r.field: r for r in compare(t, "south", values)}
    assert results["gsme_curfew"].passed is None
    assert not conforms(list(results.values()))


def test_diff_shows_north_page31_closing_with_frequencies() -> None:
    d = diff(get_table("sec-2017-12-draft"), get_table("sec-2018-03"))
    changes = [(c.region, c.field) for c in d.changes]
    assert changes == [("north", "page31")]
    closed = d.changes[0].closed
    assert [c.number for c in closed] == list(range(27))
    assert closed[0].freq_hz == 915_350_000 and closed[-1].freq_hz == 920_550_000
    assert "closes page 31 channels 0-26 (915.35-920.55 MHz)" in d.changes[0].text()


def test_impact_lists_north_devices_the_2018_version_leaves_out(tmp_path: Path) -> None:
    draft = get_table("sec-2017-12-draft")
    north_2017 = draft.region("north").config().as_dict()
    south_2017 = draft.region("south").config().as_dict()
    records = [
        {"device": "hub-north", "region": "north", "config": north_2017},
        {"device": "hub-south", "region": "south", "config": south_2017},
        # the shape `dbch status --json` writes: config nested with its region
        {
            "uid": "a1b2",
            "config": {
                "region": "north",
                "fields": get_table("sec-2018-03").region("north").config().as_dict(),
            },
        },
    ]
    (tmp_path / "bench.json").write_text(json.dumps(records))
    results = impact(draft, get_table("sec-2018-03"), load_device_records(tmp_path))
    left = [r for r in results if r.left_out]
    assert [r.device.name for r in left] == ["hub-north"]
    assert any("page31" in line and "915.35-920.55 MHz" in line for line in left[0].changes())


def test_tables_cli(tmp_path: Path) -> None:
    out = dbch("tables", "list", "--json")
    assert [t["id"] for t in json.loads(out.stdout)] == [
        "sec-2017-12-draft",
        "sec-2018-03",
        "sec-2018-03-r1",
    ]
    out = dbch("tables", "show", "sec-2018-03-r1", "--region", "north")
    assert out.returncode == 0 and "915.35" in out.stdout and "placeholder" in out.stdout
    shown = json.loads(dbch("tables", "show", "sec-2018-03-r1", "--json").stdout)
    north = shown["regions"]["north"]["channels"]
    assert not any(c["allowed"] for c in north if c["page"] == 31)
    assert len(shown["regions"]["north"]["hash"]) == 64
    out = dbch("tables", "diff", "sec-2017-12-draft", "sec-2018-03")
    assert "north" in out.stdout and "915.35-920.55 MHz" in out.stdout
    out = dbch("tables", "validate", str(IN_FORCE))
    assert out.returncode == 0 and "ok (sec-2018-03-r1" in out.stdout
    # Readable, but a value DUIS cannot carry: refused by name, in DUIS units, exit 1.
    out = dbch("tables", "validate", str(SHIPPED))
    assert out.returncode == 1 and "refused (sec-2018-03)" in out.stdout
    assert (
        "regions.north.limited_critical_threshold: 2.08 % is too precise for "
        "LimitedCriticalDutyCycleThreshold (DUIS 5.4 allows above 1.5 and below 2.5 %, one "
        "decimal place)"
    ) in out.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(
        IN_FORCE.read_text().replace("[regions.north]", "[regions.north]\npage31 = 0xE8000006")
    )
    out = dbch("tables", "validate", str(bad))
    assert out.returncode == 2
    assert "bad.toml: regions.north.page31: top bits give page 29, expected 31" in out.stderr
    records = tmp_path / "devices"
    records.mkdir()
    (records / "n.json").write_text(
        json.dumps(
            {
                "device": "n",
                "region": "north",
                "config": get_table("sec-2017-12-draft").region("north").config().as_dict(),
            }
        )
    )
    out = dbch("tables", "impact", "sec-2017-12-draft", "sec-2018-03", "--status", str(records))
    assert out.returncode == 1 and "n (north" in out.stdout


def test_gbcs_and_duis_cli(tmp_path: Path) -> None:
    data = Path(__file__).parent / "data" / "set_config_6_28.xml"
    out = dbch("gbcs", "encode", "--duis", str(data), "--pretty")
    assert out.stdout.strip() == (
        "020F 0420E0000006 0420E8000006 0420F0000006 0420F8000006 120082 1200DC 1105 "
        "120007 1107 110C 121770 1182 120064 120FA0 120BB8"
    )
    hexstr = dbch("gbcs", "encode", "--table", "sec-2018-03-r1", "--region", "south").stdout
    decoded = json.loads(dbch("gbcs", "decode", "AABB" + hexstr.strip(), "--json").stdout)
    assert decoded["offset"] == 2 and decoded["valid"]
    assert decoded["fields"]["page31"] == 0xF8000000
    out = dbch("gbcs", "encode", "--table", "sec-2018-03-r1")
    assert out.returncode == 2 and "--region" in out.stderr
    xml = tmp_path / "south.xml"
    out = dbch("duis", "export", "sec-2018-03-r1", "--region", "south", "-o", str(xml))
    assert out.returncode == 0 and "unsigned" in out.stderr
    imported = json.loads(dbch("duis", "import", str(xml), "--json").stdout)
    assert imported["fields"] == get_table("sec-2018-03-r1").region("south").config().as_dict()
    broken = tmp_path / "broken.xml"
    broken.write_text("<sr:Request")
    out = dbch("duis", "import", str(broken))
    assert out.returncode == 2 and "malformed XML" in out.stderr


def test_conform_mode_fails_a_difference_from_a_placeholder_and_says_so() -> None:
    t = get_table("sec-2018-03-r1")
    cfg = t.region("north").config().as_dict()
    field = "max_channel_changes_per_week"  # a placeholder in the shipped table
    req = t.region("north").requirements[field]
    assert req.placeholder and req.rule == "at_most"
    other = {**cfg, field: req.value - 1}  # narrower: within the rule, not the table's
    conform = {r.field: r for r in compare(t, "north", other)}[field]
    assert conform.passed is False and "placeholder" in conform.reason
    comply = {r.field: r for r in compare(t, "north", other, "comply")}[field]
    assert comply.passed is True and comply.rule == req.rule  # the table's own rule
    with pytest.raises(ValueError, match="conform, comply"):
        compare(t, "north", other, "agree")


def test_impact_takes_the_records_config_and_status_write(hub_board, tmp_path: Path) -> None:
    # The review: `config --json` records were refused ("record holds no configuration");
    # `status --json` records lost their region and, with --region, boards were said to
    # "already not conform" to the table they run.
    from dbch.link.client import AgentClient
    from helpers import apply, ensure_agent, table_variant

    old = get_table("sec-2018-03-r1")
    stricter = table_variant(
        tmp_path, "sec-2099-01", max_channel_changes_per_week="max_channel_changes_per_week = 3"
    )
    new = str(tmp_path / "sec-2099-01.toml")
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        apply(hub, old)
    port = f"sim:{hub_board.id}"
    records = tmp_path / "saved"
    records.mkdir()
    for kind in ("config", "status"):
        out = dbch(kind, "--port", port, "--json")
        assert out.returncode == 0, out.stderr
        (records / f"{kind}.json").write_text(out.stdout)
    unknown = json.loads(dbch("status", "--port", port, "--json").stdout)
    unknown["config"]["hash"] = "0" * 64  # a configuration neither version sets
    (records / "other.json").write_text(json.dumps(unknown))
    assert stricter.id == "sec-2099-01"
    out = dbch("tables", "impact", old.id, new, "--status", str(records), "--json")
    assert out.returncode == 1, out.stderr
    devices = {Path(d["file"]).stem: d for d in json.loads(out.stdout)["devices"]}
    for kind in ("config", "status"):
        assert devices[kind]["region"] == "north" and devices[kind]["left_out"] is True
    assert devices["other"]["cannot_be_checked"] is True and not devices["other"]["left_out"]
    text = dbch("tables", "impact", old.id, new, "--status", str(records)).stdout
    assert "1 cannot be checked" in text and "already did not conform" not in text


def test_gbcs_decode_reports_problems_of_a_well_formed_structure(tmp_path: Path) -> None:
    # The review: a well-formed structure with its pages swapped was refused (exit 2)
    # instead of decoded with its problems; masked channels must read as a departure from
    # the 2018 decision, not as invalid GBCS.
    good = bytes.fromhex(
        dbch("gbcs", "encode", "--table", "sec-2018-03-r1", "--region", "north").stdout.strip()
    )
    words = [good[2 + 6 * i : 8 + 6 * i] for i in range(4)]
    swapped = good[:2] + words[1] + words[0] + words[2] + words[3] + good[26:]
    out = dbch("gbcs", "decode", swapped.hex(), "--json")
    assert out.returncode == 1, out.stderr
    got = json.loads(out.stdout)
    assert got["problems"] == [
        "LowerBandSubGHzChannels0To26: top bits give page 29, expected 28",
        "LowerBandSubGHzChannels27To34: top bits give page 28, expected 29",
    ]
    masked = bytearray(good)
    masked[22:26] = (0xF8000003).to_bytes(4, "big")  # page 31 channels 0 and 1
    out = dbch("gbcs", "decode", masked.hex(), "--json")
    assert out.returncode == 1
    (problem,) = json.loads(out.stdout)["problems"]
    assert "915.35-915.55 MHz" in problem and "valid GBCS, not compliant with the SEC" in problem
    data = Path(__file__).parent / "data" / "set_config_6_28.xml"  # enables page 31 1-2
    out = dbch("duis", "import", str(data))
    assert out.returncode == 1 and "not compliant with the SEC" in out.stderr


# SmartDCC's own 6.28 template (@smartdcc/duis-templates), read from ../shared/dcc.
@pytest.fixture
def template(dcc: Path) -> Path:
    return dcc / "duis-templates" / "DBCH04_6.28_SUCCESS_REQUEST_DUIS.XML"


def test_duis_export_writes_what_the_dcc_templates_carry(tmp_path: Path, template: Path) -> None:
    import xml.etree.ElementTree as ET

    from dbch.gbcs import duis

    cfg = duis.read_file(template)
    template = ET.parse(template).getroot()
    rid = duis.request_id("90-b3-d5-1f-30-01-00-00", "00-DB-12-34-56-78-90-A2", 1000)
    ours = ET.fromstring(duis.write_set_config(cfg, rid, signature_placeholder=True))
    assert ours.get("schemaVersion") == template.get("schemaVersion") == "5.4"

    def shape(el: ET.Element) -> list:
        return [(c.tag, (c.text or "").strip(), shape(c)) for c in el if isinstance(c.tag, str)]

    # Header and body element for element and text for text; the signature's structure.
    assert shape(ours)[:2] == shape(template)[:2]
    sig = [c.tag for c in ours.iter() if c.tag.startswith(f"{{{duis.DS_NS}}}")]
    assert sig[:4] == [c.tag for c in template.iter() if c.tag.startswith(f"{{{duis.DS_NS}}}")][:4]
    out = dbch("duis", "export", "sec-2018-03-r1", "--region", "north", "--target", "nonsense")
    assert out.returncode == 2 and "not an EUI-64" in out.stderr


def test_duis_import_refuses_channel_62_in_the_27_to_34_element(
    tmp_path: Path, template: Path
) -> None:
    text = template.read_text().replace("<sr:Channel29/>", "<sr:Channel62/>")
    bad = tmp_path / "sixty-two.xml"
    bad.write_text(text)
    out = dbch("duis", "import", str(bad))
    assert out.returncode == 2 and "LowerBandSubGHzChannels27To34.Channel62" in out.stderr
