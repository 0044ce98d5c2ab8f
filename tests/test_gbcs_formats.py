"""GBCS DLMS and DUIS XML: the worked example byte for byte, round trips for any valid
configuration, and clear refusals of invalid input."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import cbor2
import pytest
from dbch.errors import TableError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs import dlms, duis
from dbch.gbcs.subghz_config import (
    FIELDS,
    ConfigError,
    Regulatory,
    SubGhzConfig,
    agent_record,
    content_hash,
    parse_agent_record,
)
from hypothesis import given
from hypothesis import strategies as st

DATA = Path(__file__).parent / "data"
WORKED_HEX = (
    "020F 0420E0000006 0420E8000006 0420F0000006 0420F8000006 120082 1200DC 1105 "
    "120007 1107 110C 121770 1182 120064 120FA0 120BB8"
)
WORKED = SubGhzConfig(
    0xE0000006,
    0xE8000006,
    0xF0000006,
    0xF8000006,
    130,
    220,
    5,
    7,
    7,
    12,
    6000,
    130,
    100,
    4000,
    3000,
)
REG = Regulatory({28: 100_000, 29: 100_000, 30: 90_000, 31: 90_000}, -870, 140)


def test_worked_example_encodes_byte_for_byte() -> None:
    assert dlms.encode(WORKED) == dlms.parse_hex(WORKED_HEX)


def test_worked_example_decodes() -> None:
    cfg, end = dlms.decode(dlms.parse_hex(WORKED_HEX))
    assert cfg == WORKED and end == 55


def test_decode_finds_the_structure_inside_a_longer_payload() -> None:
    payload = bytes.fromhex("DD000000000000 0F 020F04") + dlms.encode(WORKED) + b"\x00\x01"
    offset, cfg = dlms.find(payload)
    assert cfg == WORKED and payload[offset : offset + 2] == b"\x02\x0f"


def test_duis_request_reads_as_the_worked_example() -> None:
    assert duis.read_file(DATA / "set_config_6_28.xml") == WORKED


def test_duis_export_then_import_round_trips() -> None:
    assert duis.parse_set_config(duis.write_set_config(WORKED)) == WORKED


def _in(spec_key: str, draw) -> int:
    """A value the DUIS schema allows for the field (its GBCS bounds and step)."""
    lo, hi, step = next(f for f in FIELDS if f.key == spec_key).gbcs_bounds()
    return draw(st.integers(0, (hi - lo) // step)) * step + lo


def _sample_config(draw) -> SubGhzConfig:
    masks = []
    for page in plan.PAGES:
        chans = draw(st.lists(st.sampled_from(plan.channels(page)), unique=True))
        masks.append(plan.mask_word(page, chans))
    nl = _in("normal_limited_threshold", draw)
    lc = draw(st.integers(max(nl, 150) // 10 + 1, 24)) * 10  # above nl and 1.5 %, below 2.5
    return SubGhzConfig(*masks, nl, lc, *(_in(f.key, draw) for f in FIELDS[6:]))


valid_configs = st.composite(_sample_config)()


@given(valid_configs)
def test_any_valid_configuration_round_trips_every_format(cfg: SubGhzConfig) -> None:
    cfg.validate()
    assert dlms.decode(dlms.encode(cfg))[0] == cfg
    if 62 in plan.decode_word(cfg.page29, 29)[1]:  # GBCS can say it, DUIS cannot
        with pytest.raises(ConfigError, match="channel 62"):
            duis.write_set_config(cfg)
    else:
        assert duis.parse_set_config(duis.write_set_config(cfg)) == cfg
    record = agent_record(cfg, REG)
    assert parse_agent_record(record) == (cfg, REG)
    assert content_hash(record) == content_hash(cbor2.dumps(cbor2.loads(record)))


@given(valid_configs, st.sampled_from(FIELDS), st.data())
def test_any_invalid_configuration_is_refused(cfg: SubGhzConfig, spec, data) -> None:
    values = cfg.as_dict()
    if spec.page is not None:
        bad = data.draw(
            st.one_of(
                # wrong page in the top bits
                st.sampled_from([p for p in range(32) if p != spec.page]).map(
                    lambda p: (p << 27) | (values[spec.key] & plan.BITMAP_MASK)
                ),
                # page 29's reserved bits
                st.integers(9, 26).map(lambda b: (29 << 27) | (1 << b))
                if spec.page == 29
                else st.just(-1),
            )
        )
    else:
        bad = data.draw(
            st.integers(spec.maximum + 1, spec.maximum + 100_000) | st.integers(-1000, -1)
        )
    values[spec.key] = bad
    with pytest.raises(ConfigError) as e:
        SubGhzConfig.from_dict(values).validate()
    assert e.value.field == spec.key


def test_thresholds_must_be_ordered_and_below_the_regulated_limit() -> None:
    # Both in DUIS's ranges, in the wrong order: the message blames the right field, in %.
    swapped = {
        **WORKED.as_dict(),
        "normal_limited_threshold": 200,
        "limited_critical_threshold": 160,
    }
    with pytest.raises(ConfigError) as e:
        SubGhzConfig(**swapped).validate()
    assert e.value.field == "limited_critical_threshold"
    assert e.value.reason == (
        "LimitedCriticalDutyCycleThreshold 1.6 % must be above NormalLimitedDutyCycleThreshold 2 %"
    )
    # 2.2 % of an hour is 79.2 s: below an 80 s/h cap, not below a 79 s/h one.
    WORKED.validate(80_000)
    with pytest.raises(ConfigError, match=r"2\.2 % \(79\.2 s/h\) must be below .* 79 s/h"):
        WORKED.validate(79_000)


# The DUIS 5.4 schema's range of each scalar, read from the schema by hand (complexType
# SubGHzConfiguration): a value just outside, and the DUIS element the problem names.
JUST_OUTSIDE = [
    ("normal_limited_threshold", 40, "0.4 % is out of range", "0.5 to 2.0 %"),
    ("normal_limited_threshold", 210, "2.1 % is out of range", "0.5 to 2.0 %"),
    ("normal_limited_threshold", 125, "1.25 % is too precise", "0.5 to 2.0 %, one decimal"),
    ("limited_critical_threshold", 150, "1.5 % is out of range", "above 1.5 and below 2.5 %"),
    ("limited_critical_threshold", 250, "2.5 % is out of range", "above 1.5 and below 2.5 %"),
    ("limited_critical_threshold", 208, "2.08 % is too precise", "above 1.5 and below 2.5 %,"),
    ("max_channel_changes_per_week", 0, "0 is out of range", "1 to 7"),
    ("max_channel_changes_per_week", 8, "8 is out of range", "1 to 7"),
    ("gsme_curfew", 1, "1 is out of range", "above 1"),
    ("channel_quieter_threshold", 0, "0 is out of range", "1 to 255"),
    ("channel_noisier_threshold", 21, "21 is out of range", "0 to 20"),
    ("non_gsme_poor_comms_threshold", 99, "0.99 % is out of range", "1.00 to 100.00 %"),
    ("non_gsme_poor_comms_periods", 49, "49 is out of range", "50 to 150"),
    ("non_gsme_poor_comms_periods", 151, "151 is out of range", "50 to 150"),
    ("local_ch_noise_period", 60, "60 is out of range", "above 60"),
    ("local_ch_failure_percentage", 0, "0 % is out of range", "1.00 to 100.00 %"),
    ("local_ch_retry_percentage", 99, "0.99 % is out of range", "1.00 to 100.00 %"),
]


@pytest.mark.parametrize(("key", "value", "why", "allowed"), JUST_OUTSIDE)
def test_a_value_duis_cannot_carry_is_named_in_duis_terms(
    key: str, value: int, why: str, allowed: str
) -> None:
    cfg = SubGhzConfig(**{**WORKED.as_dict(), key: value})
    spec = next(f for f in FIELDS if f.key == key)
    (problem,) = [p for p in cfg.problems() if spec.duis in p]
    assert problem.startswith(f"{why} for {spec.duis} (DUIS 5.4 allows {allowed}")
    with pytest.raises(ConfigError) as e:
        cfg.validate()
    assert e.value.field == key
    cfg.validate(duis=False)  # GBCS can carry it: a historical table still reads


def test_the_ranges_are_the_duis_schemas(dcc: Path) -> None:
    """Each scalar's facets, read from the DUIS 5.4 XSD with a real schema parser, equal
    the one definition (FieldSpec.duis_range)."""
    import xmlschema

    schema = xmlschema.XMLSchema(str(dcc / "duis-xsd" / "DUIS Schema V5.4.xsd"))
    config = schema.types["SubGHzConfiguration"]
    elements = {e.local_name: e.type for e in config.content.iter_elements()}
    assert list(elements) == [f.duis for f in FIELDS]
    for spec in FIELDS:
        t = elements[spec.duis]
        if spec.duis_range is None:
            assert t.local_name.startswith("Channels"), spec.duis
            continue
        r = spec.duis_range
        facets = {k.split("}")[-1]: v.value for k, v in t.facets.items() if v is not None}
        lo_facet = "minInclusive" if r.lo_inclusive else "minExclusive"
        assert Decimal(str(facets[lo_facet])) == r.lo, spec.duis
        if r.hi is not None:
            hi_facet = "maxInclusive" if r.hi_inclusive else "maxExclusive"
            assert Decimal(str(facets[hi_facet])) == r.hi, spec.duis
        else:
            assert not {"maxInclusive", "maxExclusive"} & facets.keys(), spec.duis
        assert facets.get("fractionDigits", 0) == r.digits, spec.duis


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            lambda x: x.replace(b"<sr:Channel28/>", b"<sr:Channel3/>"),
            "LowerBandSubGHzChannels27To34.Channel3",
            "channel 3 is not on page 29",
        ),
        (
            lambda x: x.replace(
                b"<sr:Channel1/><sr:Channel2/></sr:LowerBand",
                b"<sr:Channel1/><sr:Channel1/></sr:LowerBand",
            ),
            "LowerBandSubGHzChannels0To26.Channel1",
            "listed twice",
        ),
        (
            lambda x: x.replace(b">1.3<", b">1.345<"),
            "NormalLimitedDutyCycleThreshold",
            "more precision than 0.01 %",
        ),
        (
            lambda x: x.replace(b">12<", b">twelve<"),
            "ChannelNoisierThreshold",
            "not a decimal number",
        ),
        (
            lambda x: x.replace(b">6.28</sr:ServiceReference>", b">6.30</sr:ServiceReference>"),
            "Header.ServiceReference",
            "is not 6.28",
        ),
        (
            lambda x: x.replace(b"<sr:GSMECurfew>7</sr:GSMECurfew>", b""),
            "SetCHFSubGHzConfiguration[8]",
            "expected GSMECurfew",
        ),
        (lambda x: x.replace(b"</sr:Body>", b""), "", "malformed XML"),
    ],
)
def test_bad_duis_requests_name_the_element(change, field: str, message: str) -> None:
    xml = change((DATA / "set_config_6_28.xml").read_bytes())
    with pytest.raises(TableError) as e:
        duis.parse_set_config(xml, "x.xml")
    assert field in e.value.field and message in e.value.reason


def test_duis_refuses_entities() -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>'
    with pytest.raises(TableError, match="DTDs and entities"):
        duis.parse_set_config(xml)


def test_dlms_refuses_wrong_types_and_truncation() -> None:
    data = bytearray(dlms.encode(WORKED))
    with pytest.raises(dlms.DlmsError, match="truncated"):
        dlms.decode(bytes(data[:-1]))
    data[2] = 0x12  # first element claims to be long-unsigned
    with pytest.raises(dlms.DlmsError, match=r"element 1 .* should have tag 04"):
        dlms.decode(bytes(data))
    with pytest.raises(dlms.DlmsError, match="no 15-element structure"):
        dlms.find(b"\x01\x02\x03")
