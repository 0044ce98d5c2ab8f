"""A sample regression suite written with the dbch pytest plugin. It runs on a simulated
board by default (CI) and on a real board when given one:

    pytest tests/regression --dbch-port=/dev/ttyACM0 --junitxml=build/bench-a.xml

(Give the port with "=": pytest takes a separate path argument as a test location.)

Each test leaves evidence records (build/bench-a.evidence.json next to the JUnit file).
"""

from __future__ import annotations

import time

import cbor2
import pytest
from dbch.boards.deploy import firmware_hash
from dbch.errors import DeviceError
from dbch.gbcs import channel_plan as plan
from dbch.pytest_plugin import apply_table, check_now


def test_the_agent_runs_this_checkouts_firmware(dbch_hub, dbch_target, dbch_evidence):
    hello = dbch_hub.hello()
    dbch_evidence.note(
        "firmware.hash",
        hello.fw_hash,
        firmware_hash(),
        hello.fw_hash == firmware_hash(),
        "agent firmware vs this checkout",
    )
    assert hello.board == dbch_target.board
    assert hello.fw_hash == firmware_hash(), "deploy this checkout: dbch deploy --port PORT"


def test_the_table_applies_and_the_board_conforms(
    dbch_configured_hub, dbch_target, dbch_table, dbch_evidence
):
    dbch_hub = dbch_configured_hub
    traffic = dbch_hub.traffic(frames=5, size=24, interval_ms=20)
    assert traffic["started"]
    assert dbch_hub.wait_event("traffic_done", timeout=10.0) is not None
    report = dbch_evidence.add(check_now(dbch_hub, dbch_target, dbch_table))
    assert report.result == "pass", [f"{r.check}: {r.reason}" for r in report.failures]
    if dbch_target.simulated:  # the witness saw the frames, on allowed channels
        assert any(
            r.check == "witness.allowed_channels" and r.result == "pass" for r in report.records
        )


@pytest.mark.parametrize("freq_hz", [915_000_000, 917_300_000, 920_900_000])
def test_the_masked_band_is_refused_whatever_asks(
    dbch_configured_hub, dbch_target, dbch_evidence, freq_hz
):
    dbch_hub = dbch_configured_hub
    before = dbch_hub.get_config()["hash"]
    start = time.time()
    res = dbch_hub.test_tx(freq_hz)
    dbch_evidence.note(
        "gate.masked_band",
        res["refused"],
        "refused",
        not res["sent"],
        f"test frame at {plan.mhz(freq_hz)} MHz",
        "Hz",
    )
    assert not res["sent"] and res["refused"]
    assert dbch_hub.get_config()["hash"] == before
    seen = [
        r
        for r in dbch_target.emissions(60) or []
        if r["t"] >= start - 1 and plan.in_masked_band(r["freq_hz"], 100_000)
    ]
    assert seen == [], "the witness saw an emission in 915-921 MHz"


def test_a_configuration_opening_page_31_is_refused_and_changes_nothing(
    dbch_configured_hub, dbch_table, dbch_evidence
):
    dbch_hub = dbch_configured_hub
    before = dbch_hub.get_config()["hash"]
    values = dbch_table.table.region(dbch_table.region).config().values()
    values[3] = plan.mask_word(31, [0, 1, 2])
    with pytest.raises(DeviceError) as e:
        dbch_hub.apply_config(cbor2.dumps([1, values, dbch_table.table.regulatory.values()]))
    dbch_evidence.note(
        "config.page31_policy", e.value.field, "page31", e.value.field == "page31", str(e.value)
    )
    assert (e.value.code, e.value.field) == ("invalid_config", "page31")
    assert dbch_hub.get_config()["hash"] == before
    assert dbch_hub.status()["radio"]["state"] == "ready"


def test_configuration_survives_a_reset(dbch_hub, dbch_table):
    applied = apply_table(dbch_hub, dbch_table.table, dbch_table.region)  # a fresh apply
    assert applied.ok, applied.reply
    before = applied.reply["hash"]
    dbch_hub.reset()
    assert dbch_hub.get_config()["hash"] == before
    assert dbch_hub.status()["radio"]["state"] == "ready"


@pytest.mark.dbch_requires("freq_readback")
def test_the_chip_reports_its_frequency(dbch_configured_hub):
    """Only chips with a frequency getter (SX127x, CC1101): the readback frequency comes
    from the chip's registers, not the driver's memory."""
    dbch_hub = dbch_configured_hub
    st = dbch_hub.status()
    rb = st["radio"]["readback"]
    assert "freq_hz" in rb["verified"]
    assert abs(rb["freq_hz"] - st["channel"]["freq_hz"]) < 100
