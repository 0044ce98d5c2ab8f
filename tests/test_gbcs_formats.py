"""GBCS DLMS and DUIS XML: the worked example byte for byte, round trips for any valid
configuration, and clear refusals of invalid input."""

from __future__ import annotations

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


def _sample_config(draw) -> SubGhzConfig:
    masks = []
    for page in plan.PAGES:
        chans = draw(st.lists(st.sampled_from(plan.channels(page)), unique=True))
        masks.append(plan.mask_word(page, chans))
    nl = draw(st.integers(0, 9999))
    lc = draw(st.integers(nl + 1, 10000))
    return SubGhzConfig(
        *masks,
        nl,
        lc,
        draw(st.integers(0, 255)),
        draw(st.integers(0, 65535)),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 10000)),
        draw(st.integers(0, 255)),
        draw(st.integers(0, 65535)),
        draw(st.integers(0, 10000)),
        draw(st.integers(0, 10000)),
    )


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
    with pytest.raises(ConfigError, match="must be above normal_limited_threshold"):
        SubGhzConfig(**{**WORKED.as_dict(), "limited_critical_threshold": 130}).validate()
    with pytest.raises(ConfigError, match="below the regulated limit 90 s/h"):
        SubGhzConfig(**{**WORKED.as_dict(), "limited_critical_threshold": 2500}).validate(
            REG.lowest_cap()
        )


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
            lambda x: x.replace(b">60.00<", b">160.00<"),
            "NonGSMEPoorCommsPercentageThreshold",
            "out of range",
        ),
        (
            lambda x: x.replace(b">12<", b">twelve<"),
            "ChannelNoisierThreshold",
            "not a decimal number",
        ),
        (
            lambda x: x.replace(b">5<", b">300<"),
            "MaximumSubGHzChannelChangesPerWeek",
            "out of range",
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
