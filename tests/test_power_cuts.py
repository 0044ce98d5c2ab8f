"""Power cuts at random instants while the agent writes flash: an authorised configuration
change (the counter, the configuration, the event log, in that order) or a refused forgery
(an event-log append). After each cut the board boots to a configuration that is the old
one or the new one (hash-verified, never damaged), a readable event log, and a counter that
never went backwards.

Bounded here (DBCH_POWER_CUTS, default 150 trials on the unix twin, and DBCH_WL55_POWER_CUTS,
50 on the WL55's); `make soak` runs 2,000 and 1,000."""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any

import cbor2
import pytest
from dbch.errors import DbchError, SimError
from dbch.gbcs.subghz_config import content_hash
from dbch.link import auth as keys
from dbch.link.auth import KeyStore
from dbch.link.client import AgentClient
from dbch.link.frames import encode_request
from dbch.link.spec import SLOW_TIMEOUT_S
from dbch.sim.bench import Bench, SimBoard
from helpers import SMALL_BOARD, start_deployed, two_records

TRIALS = int(os.environ.get("DBCH_POWER_CUTS", "150"))
WL55_TRIALS = int(os.environ.get("DBCH_WL55_POWER_CUTS", "50"))  # on its QEMU twin
RECORDS = two_records()
CONFIG_CHANGED = 0x8F2A


def signed_set(key: bytes, uid: bytes, ctr: int, record: bytes, seq: int) -> bytes:
    return signed(key, uid, ctr, "set_config", {"record": record}, seq)


def signed(key: bytes, uid: bytes, ctr: int, command: str, args: dict, seq: int) -> bytes:
    inner = cbor2.dumps([command, args])
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


@pytest.mark.micropython_source
def test_power_cuts_on_the_wl55s_32_bit_twin(bench: Bench, soak_counts) -> None:
    """The same on the NUCLEO-WL55's QEMU twin: the agent frozen, the board's heap, its own
    24 KB filesystem of 2 KB blocks (flash by semihosting, kept across QEMU being killed)."""
    board = start_deployed(bench, SMALL_BOARD, twin="qemu")
    try:
        cut_trials(board, WL55_TRIALS, random.Random(55))
        soak_counts.add(power_cuts_survived=WL55_TRIALS)
    finally:
        board.stop()


def cut_trials(board: SimBoard, trials: int, rng: random.Random) -> None:
    """Cut the power at random instants of what writes flash: signed applies, forged
    requests (an event-log append), key rotations, lock and unlock, and boot itself (a
    second cut while the board starts after the first)."""
    store = KeyStore()
    with AgentClient(board.port, on_console=None) as hub:
        uid = hub.hello().uid
        key = store.find(uid, hub.auth_info()["key_id"])
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
        locked = hub.status()["lock"]["in_force"]
        t0 = time.monotonic()
        hub.reset()
        boot = time.monotonic() - t0
    outcomes = {"old": 0, "new": 0}
    kinds = dict.fromkeys(("apply", "forgery", "rotate", "lock", "boot"), 0)
    for trial in range(trials):
        new_record = RECORDS[trial % 2]
        kind = ("apply", "apply", "forgery", "rotate", "lock", "boot")[trial % 6]
        kinds[kind] += 1
        keys_ok, locks_ok, candidates = {key}, {locked}, {state}
        with AgentClient(board.port, on_console=None) as hub:
            seq = hub.link.next_seq()
            if kind == "forgery":  # only the log is written
                hub.transport.write(forged_clear(uid, ctr + 1, seq))
            elif kind == "rotate":
                new_key = keys.new_key()
                store.add(uid, new_key)  # on the host first, as `dbch key rotate` does
                pad = keys.rotation_pad(key, uid, ctr + 1)
                masked = bytes(a ^ b for a, b in zip(new_key, pad, strict=True))
                args = {"new": masked, "ctr": ctr + 1}
                hub.transport.write(signed(key, uid, ctr + 1, "rotate_key", args, seq))
                keys_ok.add(new_key)
            elif kind == "lock":
                command, args = ("unlock", {"forget": True}) if locked else ("lock", {})
                hub.transport.write(signed(key, uid, ctr + 1, command, args, seq))
                locks_ok.add(not locked)
            elif kind == "apply" or kind == "boot":
                hub.transport.write(signed_set(key, uid, ctr + 1, new_record, seq))
                candidates.add(content_hash(new_record))
            time.sleep(rng.uniform(0, window))
        board.kill()  # the power goes, at that instant, and comes back
        if kind == "boot":
            time.sleep(rng.uniform(0, boot))
            board.kill()  # and goes again while the board starts
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            cfg = hub.get_config()
            info = hub.auth_info()
            log = hub.all_events()  # readable, whatever was cut
            st = hub.status()
        assert cfg["configured"] and cfg["hash"] in candidates, f"trial {trial}: {cfg}"
        assert st["config_problem"] is None and st["radio"]["state"] == "ready", (
            f"trial {trial} ({kind}): {st['config_problem']}, radio {st['radio']}; "
            f"the board's log:\n{board.log_tail()}"
        )
        assert info["ctr"] >= ctr, f"trial {trial}: counter went back {ctr} -> {info}"
        assert info["ctr"] <= ctr + 1
        assert st["auth"] == {"counter_copies": 2, "counter_damaged": False}, st["auth"]
        key = store.find(uid, info["key_id"])
        assert key in keys_ok, f"trial {trial}: the board's key is neither old nor new"
        store.add(uid, key)  # the key the board holds stays current (as `dbch key rotate`)
        assert st["lock"]["in_force"] in locks_ok and st["lock"]["stored"] in locks_ok
        assert all(len(e) == 4 for e in log)
        outcomes["new" if cfg["hash"] != state else "old"] += 1
        if kind == "apply":
            # The window follows the commit point (a loaded machine slows the board more
            # than the host's clock): longer after a cut that fell before it, shorter after.
            window *= 1.15 if cfg["hash"] == state else 0.9
        state, ctr, locked = cfg["hash"], info["ctr"], st["lock"]["in_force"]
    print("power cuts:", outcomes, kinds)
    assert outcomes["old"] and outcomes["new"], outcomes  # cuts fell on both sides
    if locked:  # leave the board as it was found
        with AgentClient(board.port, on_console=None) as hub:
            hub.call("unlock", forget=True)


def test_an_apply_cut_by_a_power_cut_runs_once_and_the_host_retries_at_once(
    bench: Bench, soak_counts
) -> None:
    """The review: the counter was written before the command ran and the reply cache was
    in RAM, so after a cut the host re-signed and set_config ran again (186 of 240 cuts),
    each such apply stalling 15.2 s. Now the same signed request sent again is answered
    from the configuration it produced (or run for the first time, if the cut came before
    it was stored), and the host resends as soon as the board says it started again.
    Every configuration change is an audit record carrying its request's counter (written
    at boot if the cut fell between the two): a request run twice shows as a counter seen
    twice."""
    board = start_deployed(bench)
    trials = max(30, TRIALS // 5)
    rng = random.Random(915)
    seen: list[int] = []
    took: list[float] = []
    repeats = 0
    try:
        with AgentClient(board.port, on_console=None) as hub:
            uid = hub.hello().uid
            key = KeyStore().find(uid, hub.auth_info()["key_id"])
            assert key is not None
            for i in range(5):  # how long a set takes, so cuts land before, in and after it
                t0 = time.monotonic()
                hub.apply_config(RECORDS[i % 2])
                took.append(time.monotonic() - t0)
            window = statistics.median(took) * 1.5
            took.clear()
            after = hub.status()["events"]["last_seq"]
        # Until both kinds were seen: a cut between storing and replying (a repeat) is one
        # in ten or so, and 30 trials once saw none under a loaded `make test`
        trial = 0
        while trial < trials or not 0 < repeats < trial:
            assert trial < 10 * trials, f"no repeat in {trial} cuts"
            record = RECORDS[trial % 2]
            with AgentClient(board.port, on_console=None) as hub:
                hub.wait_ready()
                ctr = hub.auth_info()["ctr"] + 1
                seq = hub.link.next_seq()
                line = signed_set(key, uid, ctr, record, seq)
                hub.transport.write(line)  # what the client sends, then the power goes
                time.sleep(rng.uniform(0, window))
                board.kill()
                # The client's retry: the same bytes, resent when the board says it is up.
                t0 = time.monotonic()
                reply = hub.link.exchange(line, seq, timeout=SLOW_TIMEOUT_S, retries=2)
                took.append(time.monotonic() - t0)
                assert reply["hash"] == content_hash(record), f"trial {trial}"
                repeats += reply["repeat"]
                log = hub.all_events(after)
            after = log[-1][0] if log else after
            seen += [e[3]["req"] for e in log if e[2] == CONFIG_CHANGED and e[3].get("req")]
            trial += 1
    finally:
        board.stop()
    doubled = len(seen) - len(set(seen))
    soak_counts.add(power_cuts_survived=trial, operations_doubled=doubled)
    print(
        f"applies cut: {trial}, answered as a repeat: {repeats}, ran twice: {doubled}, "
        f"slowest retry {max(took):.1f} s"
    )
    assert doubled == 0
    assert len(seen) == trial  # every apply ran, exactly once
    assert 0 < repeats < trial  # cuts fell after the change was stored, and before
    assert max(took) < SLOW_TIMEOUT_S / 2, "a retry waited out a whole reply timeout"


def transactions_of_a_transmission(board: SimBoard, hub: AgentClient, freq: int) -> int:
    """The fewest radio transactions (the SPI trace's lines) of three test transmissions:
    listen-before-talk reads the RSSI as often as the CPU allows for 5 ms, so the count
    moves with the twin's speed (the QEMU twin's are fewer than the unix twin's)."""
    counts = []
    for _ in range(3):
        before = len(board.folder.spi_log.read_bytes().splitlines())
        assert hub.test_tx(freq, 16)["sent"]
        counts.append(len(board.folder.spi_log.read_bytes().splitlines()) - before)
    return min(counts)


@pytest.mark.parametrize("twin", ["unix", "qemu"])
@pytest.mark.parametrize("kind", ["reset", "power"])
def test_a_cut_inside_a_radio_transaction_leaves_the_radio_ready(
    bench: Bench, kind: str, twin: str
) -> None:
    # The soak once saw the WL55 twin's radio come back `locked` after a power cut (1 in
    # 1,000). Suspected: a cut with the radio's chip select low, leaving the chip model a
    # half-done transaction for the next boot. A reset or power cut is injected inside a
    # chosen transaction (the supervisor's `cut_in_spi`), deterministically: the radio
    # must come back ready. (It does, on both twins: the suspicion did not hold; the cause
    # is still not found.)
    board = start_deployed(bench, SMALL_BOARD, twin=twin, trace_spi=True)
    try:
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            hub.apply_config(RECORDS[0])
            freq = hub.get_channel()["freq_hz"]
            n = transactions_of_a_transmission(board, hub, freq)
            # each transaction of a transmission (the soak), or two of them here
            for after in range(n) if TRIALS > 150 else (0, min(8, n - 1)):
                assert hub.status()["radio"]["state"] == "ready"
                old_vm = board.vm_pid
                board.set_faults(cut_in_spi={"kind": kind, "after": after})
                try:
                    said: Any = hub.test_tx(freq, 16)
                except DbchError as e:  # its reply is lost with the cut
                    said = e
                try:
                    board.wait_for_vm(old_vm)
                except SimError:
                    pytest.fail(
                        f"no cut within the transmission's first {after + 1} "
                        f"transactions (test_tx: {said!r})"
                    )
                board.set_faults()
                hub.wait_ready()
                radio = hub.status()["radio"]
                assert radio["state"] == "ready", (after, radio)
    finally:
        board.stop()


@pytest.mark.parametrize("twin", ["unix", "qemu"])
def test_a_late_supervisor_cannot_make_the_radio_look_stuck(bench: Bench, twin: str) -> None:
    # The WL55 twin's radio came back `locked` after 1 in 1,000 power cuts on a loaded
    # machine (`busy_timeout: no response within 50000 us`), while the radio model never
    # held BUSY for 20 ms. The step: the VM's chip-select write went unanswered, so a VM
    # whose supervisor was late ran on and began timing the calibration's BUSY before the
    # model had even run the command; the first answer then came 50 ms later by the VM's
    # clock, with BUSY (rightly) still high. Made deterministic: the supervisor gets to the
    # calibration's chip-select edge 80 ms late at the radio's start-up after a reset.
    board = start_deployed(bench, SMALL_BOARD, twin=twin)
    try:
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            hub.apply_config(RECORDS[0])
        board.set_faults(late_op=0x89, late_ms=80)  # Calibrate (SX126x §13.1.12)
        try:
            board.reset()
            with AgentClient(board.port, on_console=None) as hub:
                hub.wait_ready()
                radio = hub.status()["radio"]
        finally:
            board.set_faults()
        assert radio["state"] == "ready", f"{radio}; the board's log:\n{board.log_tail()}"
    finally:
        board.stop()
