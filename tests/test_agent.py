"""The agent on simulated boards: configuration set/read, the transmit gate's every refusal,
channel moves, duty cycle under generated traffic, persistence across resets and power
cuts, and an erased board that transmits nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from dbch.errors import DeviceError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.subghz_config import agent_record
from dbch.gbcs.tables import get_table
from dbch.link.client import AgentClient
from dbch.sim.air import read_air_log
from dbch.sim.bench import Bench, SimBoard
from helpers import HUB_BOARD, apply, ensure_agent, start_deployed, table_variant


@pytest.fixture
def hub(hub_board: SimBoard) -> Iterator[AgentClient]:
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as client:
        yield client


def emissions(board: SimBoard, since: int) -> list[dict]:
    return read_air_log(board.bench.folder.air_log, board.id)[since:]


def air_count(board: SimBoard) -> int:
    return len(read_air_log(board.bench.folder.air_log, board.id))


# --- configuration ------------------------------------------------------------------------
def test_set_and_read_back_every_field(hub: AgentClient) -> None:
    table = get_table("sec-2018-03-r1")
    result = apply(hub, table, "south")
    assert result["radio"]["state"] == "ready"
    cfg = hub.get_config()
    assert cfg["configured"] and cfg["table"] == "sec-2018-03-r1" and cfg["region"] == "south"
    assert cfg["fields"] == table.region("south").config().as_dict()
    reg = table.regulatory
    assert cfg["regulatory"] == {
        "cap_ms_per_hour": [reg.cap_ms_per_hour[p] for p in plan.PAGES],
        "lbt_threshold_ddbm": reg.lbt_threshold_ddbm,
        "max_tx_ddbm": reg.max_tx_ddbm,
    }
    st = hub.status()
    assert st["config"]["hash"] == result["hash"]


def test_operating_channel_is_allowed_and_reported_as_a_mask_word(hub: AgentClient) -> None:
    apply(hub, get_table("sec-2018-03-r1"))
    ch = hub.get_channel()
    assert plan.decode_operating_word(ch["word"]) == plan.Channel(ch["page"], ch["channel"])
    assert ch["page"] in (28, 29, 30) and ch["freq_hz"] == plan.centre_hz(
        ch["page"], ch["channel"]
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda v: v.__setitem__(3, plan.mask_word(31, [0])), "page31"),  # the 915 MHz band
        (lambda v: v.__setitem__(3, plan.all_enabled(31)), "page31"),
        (lambda v: v.__setitem__(0, 0xE8000006), "page28"),  # page 29 bits in page 28
        (lambda v: v.__setitem__(1, 0xE8000200), "page29"),  # reserved bit
        (lambda v: v.__setitem__(5, v[4]), "limited_critical_threshold"),  # not above Limited
        (lambda v: v.__setitem__(5, 9000), "limited_critical_threshold"),  # 90 %: out of range
        (lambda v: v.__setitem__(10, 10001), "non_gsme_poor_comms_threshold"),  # > 100 %
        (lambda v: v.__setitem__(6, 256), "max_channel_changes_per_week"),  # u8
        # The DUIS 5.4 schema's ranges (the agent's last line; the host refuses first):
        (lambda v: v.__setitem__(5, 208), "limited_critical_threshold"),  # one decimal place
        (lambda v: v.__setitem__(5, 250), "limited_critical_threshold"),  # below 2.5 %
        (lambda v: v.__setitem__(4, 40), "normal_limited_threshold"),  # 0.5 % at least
        (lambda v: v.__setitem__(6, 8), "max_channel_changes_per_week"),  # 1..7
        (lambda v: v.__setitem__(7, 1), "gsme_curfew"),  # above 1
        (lambda v: v.__setitem__(9, 21), "channel_noisier_threshold"),  # 0..20
        (lambda v: v.__setitem__(12, 60), "local_ch_noise_period"),  # above 60
        (lambda v: v.__setitem__(14, 99), "local_ch_retry_percentage"),  # 1.00 % at least
        (lambda v: v.__setitem__(0, 28 << 27), "page28"),  # no channel anywhere
    ],
)
def test_invalid_configurations_are_refused_and_change_nothing(hub, mutate, field) -> None:
    import cbor2

    table = get_table("sec-2018-03-r1")
    before = apply(hub, table)["hash"]
    values = table.region("north").config().values()
    if field == "page28" and mutate.__code__.co_consts[-1] == 28 << 27:
        values[1], values[2] = 29 << 27, 30 << 27  # with pages 29 and 30 emptied too
    mutate(values)
    record = cbor2.dumps([1, values, table.regulatory.values()])
    with pytest.raises(DeviceError) as e:
        hub.apply_config(record, "bad", "north")
    assert e.value.code == "invalid_config" and e.value.field == field
    assert hub.get_config()["hash"] == before  # nothing changed
    assert hub.status()["radio"]["state"] == "ready"


def test_a_critical_threshold_at_the_regulated_cap_is_refused(hub) -> None:
    import cbor2

    table = get_table("sec-2018-03-r1")
    before = apply(hub, table)["hash"]
    values = table.region("north").config().values()  # Limited/Critical 2.1 %: 75.6 s/h
    caps = [75_600, 100_000, 90_000, 90_000, -870, 140]
    with pytest.raises(DeviceError) as e:
        hub.apply_config(cbor2.dumps([1, values, caps]), "bad", "north")
    assert (e.value.code, e.value.field) == ("invalid_config", "limited_critical_threshold")
    assert hub.get_config()["hash"] == before


def test_malformed_records_name_the_problem(hub: AgentClient) -> None:
    import cbor2

    for record, field in [
        (b"\xff\xfe", "record"),
        (cbor2.dumps([2, [], []]), "record"),
        (cbor2.dumps([1, [0] * 14, [0] * 6]), "record"),
        (cbor2.dumps([1, [1.5] * 15, [0] * 6]), None),  # floats are refused by the codec
    ]:
        with pytest.raises(DeviceError) as e:
            hub.apply_config(record)
        assert e.value.code in ("invalid_config", "bad_cbor")
        if field:
            assert e.value.field == field


# --- the gate ------------------------------------------------------------------------------
def test_every_frequency_path_refuses_915_to_921_mhz(hub: AgentClient, hub_board) -> None:
    apply(hub, get_table("sec-2018-03-r1"))
    since = air_count(hub_board)
    for f in (915_350_000, 918_000_000, 920_950_000, 915_000_000, 914_950_000):
        res = hub.test_tx(f)
        assert not res["sent"] and res["refused"] == "masked_band", f
    counters = hub.status()["counters"]
    assert counters["refused_masked_band"] >= 5
    hub.scan()  # a scan only visits allowed channels
    hub.traffic(3, 16, 0)
    assert hub.wait_event("traffic_done", 30)["sent"] == 3
    seen = emissions(hub_board, since)
    assert seen and not any(plan.in_masked_band(r["freq_hz"], 100_000) for r in seen)


def test_a_carrier_off_the_allowed_channels_is_refused(hub: AgentClient, tmp_path) -> None:
    table = table_variant(
        tmp_path,
        "few",
        page28='page28 = { channels = "0-3" }',
        page29="page29 = { channels = [] }",
        page30="page30 = { channels = [] }",
    )
    apply(hub, table)
    assert hub.test_tx(plan.centre_hz(28, 2))["sent"]
    assert hub.test_tx(plan.centre_hz(28, 10))["refused"] == "channel_not_allowed"
    assert hub.test_tx(868_000_000)["refused"] == "channel_not_allowed"  # off the grid


def test_unconfigured_board_transmits_nothing(bench: Bench) -> None:
    board = start_deployed(bench, HUB_BOARD)  # erased flash, then the agent
    try:
        with AgentClient(board.port, on_console=None) as hub:
            st = hub.status()
            assert st["config"] is None and st["radio"]["state"] == "off"
            since = air_count(board)
            hub.traffic(5, 16, 0)
            done = hub.wait_event("traffic_done", 30)
            assert done["sent"] == 0 and done["refused"] == {"unconfigured": 5}
            assert hub.test_tx(plan.centre_hz(28, 0))["refused"] == "unconfigured"
            assert emissions(board, since) == []
    finally:
        board.stop()


def test_listen_before_talk_refuses_a_busy_channel(hub: AgentClient, hub_board) -> None:
    from dbch.sim.layout import read_json, write_json

    apply(hub, get_table("sec-2018-03-r1"))
    ch = hub.get_channel()
    cfg_path = hub_board.bench.folder.config
    cfg = read_json(cfg_path)
    try:
        write_json(
            cfg_path, {**cfg, "interferers": [{"freq_hz": ch["freq_hz"], "power_dbm": -70}]}
        )
        assert hub.test_tx(ch["freq_hz"])["refused"] == "channel_busy"
    finally:
        write_json(cfg_path, cfg)
    assert hub.test_tx(ch["freq_hz"])["sent"]


def test_readback_mismatch_locks_the_radio(bench: Bench) -> None:
    # An SX1276 reads back its frequency registers: make them disagree with what was written.
    board = start_deployed(bench, "FEATHER_RP2040_RFM95")
    try:
        with AgentClient(board.port, on_console=None) as hub:
            apply(hub, get_table("sec-2018-03-r1"))
            board.set_faults(skew_readback=True)
            res = hub.apply_config(
                agent_record(
                    get_table("sec-2018-03-r1").region("south").config(),
                    get_table("sec-2018-03-r1").regulatory,
                )
            )
            assert res["radio"]["state"] == "locked" and "readback" in res["radio"]["reason"]
            since = air_count(board)
            assert hub.test_tx(plan.centre_hz(28, 0))["refused"] in ("radio_locked",)
            assert emissions(board, since) == []
            board.set_faults()
            board.reset()  # recovery: the configuration is re-applied and verified at boot
            hub.wait_ready()
            assert hub.status()["radio"]["state"] == "ready"
    finally:
        board.stop()


# --- channels ----------------------------------------------------------------------------
def test_a_configuration_that_drops_the_operating_channel_moves_at_once(hub, tmp_path) -> None:
    low = table_variant(
        tmp_path,
        "low",
        page28='page28 = { channels = "0-1" }',
        page29="page29 = { channels = [] }",
        page30="page30 = { channels = [] }",
    )
    high = table_variant(
        tmp_path,
        "high",
        page28="page28 = { channels = [] }",
        page29="page29 = { channels = [] }",
        page30='page30 = { channels = "40-41" }',
    )
    apply(hub, low)
    assert hub.get_channel()["page"] == 28
    result = apply(hub, high)
    assert result["channel"]["page"] == 30 and result["channel"]["channel"] in (40, 41)
    last = hub.channel_log()[-1]
    assert last[3:] == [30, result["channel"]["channel"], "config"]
    entries = hub.all_events()
    assert any(k == 0x8F26 for _, _, k, _ in entries)  # alert: channel changed


def test_scan_reports_energy_and_respects_agility(hub, hub_board, tmp_path) -> None:
    from dbch.sim.layout import read_json, write_json

    two = table_variant(
        tmp_path,
        "two",
        page28='page28 = { channels = "0-1" }',
        page29="page29 = { channels = [] }",
        page30="page30 = { channels = [] }",
        max_channel_changes_per_week="max_channel_changes_per_week = 1",
    )
    apply(hub, two)
    ch = hub.get_channel()
    res = hub.scan()
    assert {(p, c) for p, c, _ in res["energy"]} == {(28, 0), (28, 1)}
    assert res["outcome"] == "kept"  # both quiet: no reason to move
    # Jam the operating channel: the scan moves to the quiet one (allowed: 1 change/week)
    cfg_path = hub_board.bench.folder.config
    cfg = read_json(cfg_path)
    try:
        write_json(
            cfg_path, {**cfg, "interferers": [{"freq_hz": ch["freq_hz"], "power_dbm": -60}]}
        )
        res = hub.scan()
        assert res["outcome"] == "changed" and res["channel"]["channel"] != ch["channel"]
        # Jam the new one too: a second change this week is blocked (alert 0x8F2B)
        write_json(
            cfg_path,
            {**cfg, "interferers": [{"freq_hz": res["channel"]["freq_hz"], "power_dbm": -60}]},
        )
        assert hub.scan()["outcome"] == "blocked"
    finally:
        write_json(cfg_path, cfg)
    assert any(k == 0x8F2B for _, _, k, _ in hub.all_events())


# --- duty cycle -------------------------------------------------------------------------
# The thresholds are what DUIS can carry (the agent refuses anything else): Limited 1.5 %
# (54 s of airtime an hour), Critical 1.6 % (57.6 s), a regulated cap just above (a
# regulatory value, not a GBCS field). About 4,800 frames of 125 octets reach Critical: on
# a bench whose clock runs 100x (an hour in 36 s) that is about 15 s, well inside the hour.
DUTY_TABLE = {
    "normal_limited_threshold": "normal_limited_threshold = 150",
    "limited_critical_threshold": "limited_critical_threshold = 160",
}


@pytest.fixture
def duty_board(tmp_path_factory) -> Iterator[SimBoard]:
    """A bench of its own whose clock runs 40x: an hour of duty cycle in 90 s. (At 100x,
    36 s, the hundreds of frames a test sends from Limited to a cap, host-bound and as
    slow at any clock rate, outlasted a loaded machine's hour: the usage slid away as fast
    as they added it, and the loop never ended.)"""
    home = tmp_path_factory.mktemp("duty")
    bench = Bench(home)
    (b,) = bench.start(board=HUB_BOARD, erase=True, clock_scale=40)
    from dbch.boards.deploy import deploy

    deploy(b.port, HUB_BOARD)
    yield b
    bench.stop()


def fill_to_limited(hub: AgentClient) -> dict:
    """Client traffic until Limited suspends it; the traffic job's last report."""
    hub.traffic(6000, 125, 0)
    done = hub.wait_event("traffic_done", 180)
    assert done is not None
    return done


@pytest.mark.slow
def test_duty_cycle_states_alerts_and_the_actions_a_hub_takes(duty_board, tmp_path) -> None:
    # GBCS 0x8F20/22 say the hub took action towards a Device: the traffic job stands for
    # its client traffic and is suspended at Limited (and Critical); the hub's own test
    # frames still go until Regulated, where everything is discarded (0x8F2C).
    table = table_variant(
        tmp_path,
        "tight",
        # 57.624 s: 4,802 frames of 12 ms, so the hub's frames can reach it exactly
        cap_s_per_hour="cap_s_per_hour = { page28 = 57.624, page29 = 57.624, page30 = 57.624, "
        "page31 = 57.624 }",
        **DUTY_TABLE,
    )
    with AgentClient(duty_board.port, on_console=None) as hub:
        apply(hub, table)
        uid = hub.hello().uid.hex()
        hub.events_clear()
        done = fill_to_limited(hub)
        st = hub.status()
        assert st["duty"]["state"] == "limited", st["duty"]
        assert 54_000 <= st["duty"]["usage_ms"] < 57_600
        assert done["sent"] >= 4400 and done["refused"].get("suspended", 0) > 100, done
        freq = hub.get_channel()["freq_hz"]
        while hub.status()["duty"]["state"] != "regulated":  # the hub's own frames still go
            sent = hub.test_tx(freq, 125)
            assert sent["sent"], (sent, hub.status()["duty"])
        assert hub.test_tx(freq, 125) == {"sent": False, "refused": "duty_regulated"}
        alerts = [(k, f) for _, _, k, f in hub.all_events() if isinstance(k, int)]
        duty = [(k, f) for k, f in alerts if 0x8F20 <= k <= 0x8F25]
        assert [k for k, _ in duty] == [0x8F20, 0x8F22, 0x8F24]
        assert {f["entity_id"] for _, f in duty} == {uid}  # the Device: the hub itself
        discarded = [f for k, f in alerts if k == 0x8F2C]
        assert discarded and discarded[0]["entity_id"] == uid
        # Usage survives a reset: a reboot must not refill the budget
        before = hub.status()["duty"]["usage_ms"]
        duty_board.reset()
        hub.wait_ready()
        after = hub.status()["duty"]
        assert after["usage_ms"] >= before and after["state"] == "regulated"
        # An hour later (90 s at 40x) the buckets have aged out: back to Normal
        deadline = time.monotonic() + 240
        while hub.status()["duty"]["state"] != "normal" and time.monotonic() < deadline:
            time.sleep(1)
        assert hub.status()["duty"]["state"] == "normal"


@pytest.mark.slow
def test_the_cap_is_the_carriers_page_not_the_operating_channels(duty_board, tmp_path) -> None:
    # The review: a test frame on page 30 (cap 90 s) while operating on page 28 (cap
    # 100 s) was checked against 100 s. Caps here 100 s (page 28) and 58 s (page 30):
    # usage brought just below 58 s, then one frame each way.
    table = table_variant(
        tmp_path,
        "two-caps",
        cap_s_per_hour="cap_s_per_hour = { page28 = 100, page29 = 100, page30 = 58, "
        "page31 = 100 }",
        page28='page28 = { channels = "5" }',
        **DUTY_TABLE,
    )
    with AgentClient(duty_board.port, on_console=None) as hub:
        apply(hub, table)
        assert hub.get_channel()["page"] == 28
        fill_to_limited(hub)  # 54 s by client traffic, then the hub's own frames
        start = hub.status()["duty"]["usage_ms"]
        assert hub.test_tx(plan.centre_hz(28, 5), 125)["sent"]
        frame_ms = hub.status()["duty"]["usage_ms"] - start  # one test frame, as counted
        while hub.status()["duty"]["usage_ms"] + frame_ms <= 58_000:
            assert hub.test_tx(plan.centre_hz(28, 5), 125)["sent"]
        used = hub.status()["duty"]["usage_ms"]
        assert 58_000 - frame_ms < used <= 58_000
        page30 = hub.test_tx(plan.centre_hz(30, 35), 125)
        assert page30 == {"sent": False, "refused": "duty_regulated"}, used
        assert hub.test_tx(plan.centre_hz(28, 5), 125)["sent"]  # page 28's cap is 100 s
