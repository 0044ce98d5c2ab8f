"""Retries that tell the truth (docs/security.md): the power goes at a random instant of a
state-changing signed command, the host's client retries across the board's restart as it
does for any lost reply, and what the host then reports is checked against the board.
Every command: lock, unlock (for good), key rotation, log clear, configuration.

Reported done means done on the board; reported failed means the board is as it was.
Bounded here (DBCH_TRUTH_CUTS per command, default 3); `make soak` runs 30 each."""

from __future__ import annotations

import os
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dbch.errors import DbchError
from dbch.gbcs.subghz_config import content_hash
from dbch.link import auth as keys
from dbch.link.auth import KeyStore
from dbch.link.client import AgentClient
from dbch.sim.bench import Bench, SimBoard
from helpers import start_deployed, two_records

CUTS = int(os.environ.get("DBCH_TRUTH_CUTS", "3"))
RECORDS = two_records()


@pytest.fixture(scope="module")
def board(bench: Bench) -> Iterator[SimBoard]:
    b = start_deployed(bench)
    yield b
    b.stop()


def board_state(hub: AgentClient) -> dict[str, Any]:
    """What each command changes, as the board reports it."""
    lock = hub.status()["lock"]
    kinds = [e[2] for e in hub.all_events()]
    return {
        "lock": (lock["in_force"], lock["stored"]),
        "key_id": hub.auth_info()["key_id"],
        "config": hub.get_config().get("hash"),
        # cleared: nothing but audit records (resets, clears) since the last clear
        "cleared": "log_cleared" in kinds
        and set(kinds[len(kinds) - kinds[::-1].index("log_cleared") :]) <= {"reset"},
    }


# command -> (what the host asks for: call(hub) -> its reply, the state it wants)
Step = Callable[[AgentClient, int], tuple[Callable[[], Any], dict[str, Any]]]


def _lock(hub: AgentClient, _i: int) -> tuple[Callable[[], Any], dict[str, Any]]:
    return (lambda: hub.call("lock")), {"lock": (True, True)}


def _unlock(hub: AgentClient, _i: int) -> tuple[Callable[[], Any], dict[str, Any]]:
    if not hub.status()["lock"]["stored"]:
        hub.call("lock")
    return (lambda: hub.call("unlock", forget=True)), {"lock": (False, False)}


def _rotate(hub: AgentClient, _i: int) -> tuple[Callable[[], Any], dict[str, Any]]:
    new_key = keys.new_key()
    uid = hub.hello().uid
    store = KeyStore()
    store.add(uid, new_key)  # on the host first, as `dbch key rotate` does
    hub.keys = store
    return (lambda: hub.rotate_key(new_key)), {"key_id": keys.key_id(new_key)}


def _clear(hub: AgentClient, _i: int) -> tuple[Callable[[], Any], dict[str, Any]]:
    return (lambda: hub.call("events_clear")), {"cleared": True}


def _configure(hub: AgentClient, i: int) -> tuple[Callable[[], Any], dict[str, Any]]:
    record = RECORDS[i % 2]
    if hub.get_config().get("hash") == content_hash(record):
        hub.apply_config(RECORDS[(i + 1) % 2])
    return (lambda: hub.apply_config(record)), {"config": content_hash(record)}


COMMANDS: dict[str, Step] = {
    "lock": _lock,
    "unlock": _unlock,
    "rotate_key": _rotate,
    "events_clear": _clear,
    "set_config": _configure,
}


def _uncut_duration(board: SimBoard, command: str) -> float:
    """How long the command takes here end to end, one run with no cut."""
    with AgentClient(board.port, on_console=None) as hub:
        hub.wait_ready()
        call, _ = COMMANDS[command](hub, 1)
        t0 = time.monotonic()
        call()
        return time.monotonic() - t0


def _cut_during_the_request(hub: AgentClient, board: SimBoard, after_s: float) -> threading.Timer:
    """Cut the power `after_s` after the first signed request goes out (join the timer
    returned: the cut has then happened and the board is back)."""
    real = hub.link.request
    cut = threading.Timer(after_s, board.kill)

    def request(command: str, *args: Any, **kw: Any) -> Any:
        if command == "auth" and hub.link.request is request:
            hub.link.request = real  # type: ignore[method-assign]
            cut.start()
        return real(command, *args, **kw)

    hub.link.request = request  # type: ignore[method-assign]
    return cut


@pytest.mark.parametrize("command", list(COMMANDS))
def test_after_a_power_cut_the_hosts_word_matches_the_board(
    board: SimBoard, command: str, soak_counts
) -> None:
    rng = random.Random(zlib.crc32(command.encode()))
    words = {"done": 0, "failed": 0}
    differ: list[str] = []
    in_flight = 0
    duration = _uncut_duration(board, command)
    for i in range(CUTS):
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            call, wanted = COMMANDS[command](hub, i)
            before = board_state(hub)
            resent = hub.link.stats["retries"]
            # The power goes at a random instant from the signed request's send to a little
            # after its reply would come (the command's own duration, measured uncut).
            cut = _cut_during_the_request(hub, board, rng.uniform(0, 1.5 * duration))
            try:
                outcome = ("done", call())
            except DbchError as e:
                outcome = ("failed", e)
            cut.join()
            in_flight += hub.link.stats["retries"] > resent  # the cut took its reply
            hub.wait_ready()
            after = board_state(hub)
        word, detail = outcome
        got = {k: after[k] for k in wanted}
        expected = wanted if word == "done" else {k: before[k] for k in wanted}
        if got != expected:  # every cut runs: the soak counts how many differ
            differ.append(f"cut {i}: host said {word} ({detail}), board: {after}")
        words[word] += 1
    soak_counts.add(
        power_cuts_survived=CUTS, host_reports_checked=CUTS, host_reports_differing=len(differ)
    )
    assert not differ, differ
    print(
        f"{command}: {CUTS} cuts ({in_flight} with the request in flight), the host said "
        f"{words}, the board agreed every time"
    )
    if command == "lock":  # leave the board unlocked for the next command
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            hub.call("unlock", forget=True)
