"""Power cuts at random instants while the agent writes flash: an authorised configuration
change (the counter, the configuration, the event log, in that order) or a refused forgery
(an event-log append). After each cut the board boots to a configuration that is the old
one or the new one (hash-verified, never damaged), a readable event log, and a counter that
never went backwards.

Bounded here (DBCH_POWER_CUTS, default 150 trials); `make soak` runs thousands."""

from __future__ import annotations

import os
import random
import statistics
import time

import cbor2
from conftest import SMALL_BOARD, start_deployed, two_records
from dbch.gbcs.subghz_config import content_hash
from dbch.link import auth as keys
from dbch.link.auth import KeyStore
from dbch.link.client import AgentClient
from dbch.link.frames import encode_request
from dbch.sim.bench import Bench, SimBoard

TRIALS = int(os.environ.get("DBCH_POWER_CUTS", "150"))
RECORDS = two_records()


def signed_set(key: bytes, uid: bytes, ctr: int, record: bytes, seq: int) -> bytes:
    inner = cbor2.dumps(["set_config", {"record": record}])
    return encode_request(
        seq, "auth", {"req": inner, "ctr": ctr, "mac": keys.mac(key, uid, ctr, inner)}
    )


def forged_clear(uid: bytes, ctr: int, seq: int) -> bytes:
    inner = cbor2.dumps(["events_clear", {}])
    return encode_request(
        seq, "auth", {"req": inner, "ctr": ctr, "mac": keys.mac(b"\0" * 32, uid, ctr, inner)}
    )


def test_power_cuts_leave_old_or_new_a_readable_log_and_a_counter_that_only_grows(
    bench: Bench, soak_counts
) -> None:
    board = start_deployed(bench)
    try:
        cut_trials(board, TRIALS, random.Random(2018))
        soak_counts.add(power_cuts_survived=TRIALS)
    finally:
        board.stop()


def test_power_cuts_on_the_wl55s_32_bit_twin(bench: Bench, soak_counts) -> None:
    """The same on the NUCLEO-WL55's QEMU twin: the agent frozen, the board's heap, its own
    24 KB filesystem of 2 KB blocks (flash by semihosting, kept across QEMU being killed)."""
    board = start_deployed(bench, SMALL_BOARD, twin="qemu")
    trials = max(50, TRIALS // 3)
    try:
        cut_trials(board, trials, random.Random(55))
        soak_counts.add(power_cuts_survived=trials)
    finally:
        board.stop()


def cut_trials(board: SimBoard, trials: int, rng: random.Random) -> None:
    """Cut the power at random instants of signed applies and forged requests."""
    with AgentClient(board.port, on_console=None) as hub:
        uid = hub.hello().uid
        key = KeyStore().find(uid, hub.auth_info()["key_id"])
        assert key is not None
        assert hub.apply_config(RECORDS[0])["hash"] == content_hash(RECORDS[0])
        # How long a set takes here, so the cuts land before, inside and after it.
        took = []
        for i in range(5):
            t0 = time.monotonic()
            hub.apply_config(RECORDS[(i + 1) % 2])
            took.append(time.monotonic() - t0)
        window = statistics.median(took) * 1.5
        state = hub.get_config()["hash"]
        ctr = hub.auth_info()["ctr"]
    outcomes = {"old": 0, "new": 0}
    for trial in range(trials):
        new_record = RECORDS[trial % 2]
        with AgentClient(board.port, on_console=None) as hub:
            if trial % 4 == 3:  # a forgery: only the log is written
                hub.transport.write(forged_clear(uid, ctr + 1, hub.link.next_seq()))
                candidates = {state}
            else:
                hub.transport.write(signed_set(key, uid, ctr + 1, new_record, hub.link.next_seq()))
                candidates = {state, content_hash(new_record)}
            time.sleep(rng.uniform(0, window))
        board.kill()  # the power goes, at that instant, and comes back
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            cfg = hub.get_config()
            info = hub.auth_info()
            log = hub.all_events()  # readable, whatever was cut
            st = hub.status()
        assert cfg["configured"] and cfg["hash"] in candidates, f"trial {trial}: {cfg}"
        assert st["config_problem"] is None and st["radio"]["state"] == "ready"
        assert info["ctr"] >= ctr, f"trial {trial}: counter went back {ctr} -> {info}"
        assert info["ctr"] <= ctr + 1
        assert all(len(e) == 4 for e in log)
        outcomes["new" if cfg["hash"] != state else "old"] += 1
        state, ctr = cfg["hash"], info["ctr"]
    print("power cuts:", outcomes)
    assert outcomes["old"] and outcomes["new"], outcomes  # cuts fell on both sides
