"""A bad cable: the simulated board's relay drops, corrupts, duplicates and delays bytes,
and is unplugged for a while. The host's retries (same sequence number, same bytes) and the
agent's reply memory make every operation complete exactly once: each authorised change
advances the board's counter by exactly one, and every answer is the right one."""

from __future__ import annotations

import os
import random
import threading
import time

from dbch.gbcs.subghz_config import content_hash
from dbch.link.client import AgentClient
from dbch.sim.bench import Bench
from helpers import ensure_agent, start_deployed, two_records

OPS = int(os.environ.get("DBCH_LINK_OPS", "60"))  # `make soak` raises it
RECORDS = two_records()


def faulty_client(port: str) -> AgentClient:
    hub = AgentClient(port, on_console=None, retries=15, timeout=0.4)
    hub.slow_timeout = 1.5
    return hub


def run_operations(hub: AgentClient, n: int, rng: random.Random) -> dict[str, int]:
    """n operations of four kinds; returns how many of each completed correctly."""
    done = {"changes": 0, "echoes": 0, "reads": 0, "pipelined": 0}
    expected = None
    for i in range(n):
        kind = i % 4
        if kind == 3:  # three requests in one write (a check's): every reply, in order
            hello, cfg, status = hub.call_many("hello", "get_config", "status")
            assert hello["board"] and cfg["hash"] == expected and "uptime_ms" in status
            done["pipelined"] += 1
            continue
        if kind == 0:  # an authorised change: the board's counter moves by exactly one
            record = RECORDS[(i // 4) % 2]
            expected = content_hash(record)
            assert hub.apply_config(record)["hash"] == expected
            done["changes"] += 1
        elif kind == 1:
            data = rng.randbytes(rng.randrange(1, 300))
            assert hub.echo(data) == data
            done["echoes"] += 1
        else:
            assert hub.get_config()["hash"] == expected
            done["reads"] += 1
    return done


def test_every_operation_completes_exactly_once_through_a_bad_cable(
    bench: Bench, soak_counts
) -> None:
    board = start_deployed(bench)
    try:
        with AgentClient(board.port, on_console=None) as hub:
            start_ctr = hub.auth_info()["ctr"]
        board.set_faults(
            link_drop=2e-4, link_corrupt=2e-4, link_dup=2e-4, link_delay_ms=15, link_seed=20181
        )
        with faulty_client(board.port) as hub:
            done = run_operations(hub, OPS, random.Random(5))
            stats = dict(hub.link.stats)
        board.set_faults()
        injected = board.link_stats()
        with AgentClient(board.port, on_console=None) as hub:
            end_ctr = hub.auth_info()["ctr"]
            retried_by_agent = hub.status()["counters"].get("retries", 0)
        assert end_ctr - start_ctr == done["changes"]  # none lost, none done twice
        assert sum(done.values()) == OPS
        for kind in ("dropped", "corrupted", "duplicated", "delayed"):
            assert injected[kind] > 0, injected
        assert stats["retries"] > 0 and retried_by_agent > 0  # the paths were exercised
        soak_counts.add(
            link_faults_injected=injected["injected"],
            operations_completed=OPS,
            operations_lost=0,
            operations_doubled=end_ctr - start_ctr - done["changes"],
        )
    finally:
        board.stop()


def test_an_unplugged_cable_delays_operations_but_loses_none(hub_board) -> None:
    ensure_agent(hub_board)
    with faulty_client(hub_board.port) as hub:
        start_ctr = hub.auth_info()["ctr"]
        hub_board.set_faults(link_down=True)
        replug = threading.Timer(1.0, hub_board.set_faults)
        replug.start()
        t0 = time.monotonic()
        try:
            done = run_operations(hub, 6, random.Random(1))
        finally:
            replug.cancel()
            hub_board.set_faults()
        assert time.monotonic() - t0 >= 0.9  # it really waited for the cable
        assert hub.auth_info()["ctr"] - start_ctr == done["changes"] == 2
    assert hub_board.link_stats()["down_bytes"] > 0
