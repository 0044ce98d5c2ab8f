"""Radio faults in the middle of a traffic run: BUSY stuck high, the chip gone from the bus,
registers that read back other than written. The gate locks, status says why, nothing more
reaches the air, and a reset with the fault gone brings the radio back verified.

Each board runs on a bench whose clock goes 20x, so the agent's periodic re-verification
(every 10 s of board time) comes round in half a second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbch.boards.deploy import deploy
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.tables import get_table
from dbch.link.client import AgentClient
from dbch.sim.air import read_air_log
from dbch.sim.bench import Bench
from helpers import HUB_BOARD, apply


@pytest.fixture
def fast_bench(tmp_path: Path) -> Iterator[Bench]:
    bench = Bench(tmp_path / "bench")
    yield bench
    bench.stop()


@pytest.mark.parametrize(
    ("board_type", "fault", "why"),
    [
        (HUB_BOARD, "stuck_busy", "busy_timeout"),
        # gone between a BUSY check and a read, MISO reads 1s: the driver says no_chip
        (HUB_BOARD, "gone", "busy_timeout|no_chip"),
        ("FEATHER_RP2040_RFM95", "skew_readback", "readback"),
        ("FEATHER_RP2040_RFM95", "gone", ""),
        ("PICO_CC1101", "gone", ""),
    ],
)
def test_a_radio_fault_mid_run_locks_the_gate_until_reset(fast_bench, board_type, fault, why):
    (board,) = fast_bench.start(board=board_type, erase=True, clock_scale=20)
    deploy(board.port, board_type)
    air = fast_bench.folder.air_log
    with AgentClient(board.port, on_console=None) as hub:
        apply(hub, get_table("sec-2018-03-r1"))
        assert hub.traffic(frames=100000, size=20, interval_ms=50)["started"]
        deadline = time.monotonic() + 10
        while len(read_air_log(air, board.id)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        board.set_faults(**{fault: True})
        deadline = time.monotonic() + 15
        while (st := hub.status())["radio"]["state"] != "locked":
            assert time.monotonic() < deadline, f"{fault}: the gate never locked: {st['radio']}"
            time.sleep(0.05)
        locked_at = len(read_air_log(air, board.id))
        assert any(w in (st["radio"]["reason"] or "") for w in why.split("|")), st["radio"]
        time.sleep(0.5)  # the traffic job keeps asking; the gate keeps refusing
        st = hub.status()
        assert st["counters"].get("refused_radio_locked", 0) > 0
        assert st["radio"]["state"] == "locked"
        hub.call("traffic_stop")
        assert len(read_air_log(air, board.id)) == locked_at  # nothing more on the air
        assert hub.test_tx(plan.centre_hz(28, 0))["refused"] == "radio_locked"

        board.set_faults()
        hub.reset()
        st = hub.status()
        assert st["radio"]["state"] == "ready", st["radio"]
        assert hub.test_tx(st["channel"]["freq_hz"])["sent"]
    assert len(read_air_log(air, board.id)) == locked_at + 1
