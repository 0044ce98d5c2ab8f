"""Who may change a board: authenticated requests (HMAC-SHA256 over uid, counter and
request with the per-device key), replays and forgeries refused with a typed error and an
event-log entry, the counter kept on flash, key provisioning and rotation, and keys that
never show up in anything the tools print or write."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cbor2
import pytest
from dbch.errors import AuthError, DeviceError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.tables import get_table
from dbch.link import auth as keys
from dbch.link.auth import KeyStore
from dbch.link.client import AgentClient
from dbch.sim.air import read_air_log
from dbch.sim.bench import Bench, SimBoard
from helpers import MicroPython, apply, ensure_agent, start_deployed, two_records
from hypothesis import given, settings
from hypothesis import strategies as st

DBCH = str(Path(sys.executable).parent / "dbch")
TABLE = get_table("sec-2018-03-r1")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DBCH, *args], capture_output=True, text=True, timeout=120)


@given(key=st.binary(min_size=0, max_size=80), msg=st.binary(max_size=300))
@settings(max_examples=60, deadline=None)
def test_the_agents_hmac_matches_the_host_library(mp: MicroPython, key: bytes, msg: bytes):
    status, out = mp.ask(f"hmac {key.hex() or '00'[:0]} {msg.hex()}")
    assert status == "ok", out
    assert out == hmac.new(key, msg, hashlib.sha256).hexdigest()


def raw_auth(hub: AgentClient, key: bytes, uid: bytes, ctr: int, command: str, args: dict):
    """An auth request built by hand (what an attacker or a second host could send)."""
    inner = cbor2.dumps([command, args])
    return hub.link.request(
        "auth", {"req": inner, "ctr": ctr, "mac": keys.mac(key, uid, ctr, inner)}, timeout=5.0
    )


def refusal(call) -> DeviceError:
    with pytest.raises(DeviceError) as e:
        call()
    return e.value


def last_log(hub: AgentClient) -> list:
    return hub.all_events()[-1]


def test_changes_need_an_auth_request_reads_do_not(hub_board: SimBoard) -> None:
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        before = apply(hub, TABLE)["hash"]
        for command in ("set_config", "events_clear", "reset", "rotate_key"):
            e = refusal(lambda c=command: hub.link.request(c, {}))
            assert (e.code, e.field) == ("unauthorised", "command")
        # reading stays open
        assert hub.get_config()["hash"] == before
        assert hub.status()["config"]["hash"] == before
        e = refusal(lambda: raw_auth(hub, b"k" * 32, hub.hello().uid, 10**6, "status", {}))
        assert e.code == "bad_argument" and "needs no authorisation" in e.msg


def test_a_stranger_cannot_spend_the_boards_duty_budget_or_move_its_channel(
    hub_board: SimBoard,
) -> None:
    # Unsigned traffic drove a board's hourly budget to 99,996 of 100,000 ms; scan may move
    # the operating channel; test_tx transmits. All three now need the board's key.
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        apply(hub, TABLE)
        used = hub.status()["duty"]["usage_ms"]
        channel = hub.get_channel()
        unsigned = {
            "traffic": {"frames": 500, "size": 125, "interval_ms": 0},
            "test_tx": {"freq_hz": channel["freq_hz"]},
            "scan": {},
        }
        for command, args in unsigned.items():
            e = refusal(lambda c=command, a=args: hub.link.request(c, a))
            assert (e.code, e.field) == ("unauthorised", "command"), command
        time.sleep(0.5)
        assert hub.status()["duty"]["usage_ms"] == used
        assert hub.get_channel() == channel
        assert hub.call("traffic_stop")["stopped"] is not None  # stopping stays open
        assert hub.test_tx(channel["freq_hz"])["sent"]  # signed: the owner still can


REPLAYS = int(os.environ.get("DBCH_REPLAYS", "25"))  # `make soak` raises it
FLOOD = 300  # bad-MAC requests in a row


def test_forgeries_and_replays_are_refused_logged_and_change_nothing(
    hub_board, soak_counts
) -> None:
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        before = apply(hub, TABLE)["hash"]
        uid = hub.hello().uid
        key = KeyStore().find(uid, hub.auth_info()["key_id"])
        assert key is not None
        ctr = hub.auth_info()["ctr"]
        record = two_records()[1]  # a valid configuration other than the one in force
        counted = hub.status()["counters"].get("auth_refused", 0)
        start = hub.status()["events"]["last_seq"]

        forged = refusal(
            lambda: raw_auth(hub, b"\x00" * 32, uid, ctr + 1, "set_config", {"record": record})
        )
        assert forged.code == "unauthorised" and forged.msg.startswith("bad_mac")

        other_board = refusal(
            lambda: raw_auth(hub, key, b"\x01" * 8, ctr + 1, "set_config", {"record": record})
        )
        assert other_board.msg.startswith("bad_mac")  # a MAC made for another board

        # Two genuine requests, then the first one again (a recorded replay) ...
        first = (key, uid, ctr + 1, "set_config", {"record": record})
        second = (key, uid, ctr + 2, "events_clear", {})
        assert raw_auth(hub, *first)["repeat"] is False
        raw_auth(hub, *second)
        for _ in range(REPLAYS + 1):  # again and again
            assert refusal(lambda: raw_auth(hub, *first)).msg.startswith("replay")
        soak_counts.add(replays_rejected=REPLAYS + 1)
        old = refusal(lambda: raw_auth(hub, key, uid, ctr, "reset", {}))
        assert old.msg.startswith("replay")
        # ... and the last accepted request sent again: not run a second time.
        assert refusal(lambda: raw_auth(hub, *second)).msg.startswith("repeat")
        assert hub.status()["counters"]["auth_refused"] - counted == REPLAYS + 5
        # Refusals are counted, and logged once a minute per reason with how many since.
        refusals = [e[3]["reason"] for e in hub.all_events(start) if e[2] == "auth_refused"]
        assert sorted(set(refusals)) == sorted(refusals) and {"replay", "repeat"} <= set(refusals)

        # The counter is on flash: after a reset the same request is still a replay.
        hub._ctr = None
        hub.reset()
        assert hub.auth_info()["ctr"] == ctr + 3  # the set, the clear, then the reset
        assert refusal(lambda: raw_auth(hub, *first)).msg.startswith("replay")
        apply(hub, TABLE)
        assert hub.get_config()["hash"] == before


def test_a_flood_of_refusals_cannot_push_changes_out_of_the_audit_log(hub_board) -> None:
    # The review: 140 bad-MAC requests in half a second pushed the configuration-change
    # alert out of the event log, every refusal a flash write.
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        uid = hub.hello().uid
        changed = apply(hub, TABLE)["hash"]
        last = hub.status()["events"]["last_seq"]
        record = TABLE.record("south")
        for i in range(FLOOD):
            refusal(
                lambda i=i: raw_auth(hub, bytes(32), uid, i + 1, "set_config", {"record": record})
            )
        flood = [e[2] for e in hub.all_events(last)]
        log = hub.all_events()
        assert hub.status()["counters"]["auth_refused"] >= FLOOD
    assert flood.count("auth_refused") <= 1  # one record for the whole flood, at most
    assert [e for e in log if e[2] == 0x8F2A][-1][3]["hash"] == changed


def test_the_915_policy_holds_whatever_is_authorised(hub_board: SimBoard) -> None:
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        before = apply(hub, TABLE)["hash"]
        values = TABLE.region("north").config().values()
        values[3] = plan.all_enabled(31)
        e = refusal(lambda: hub.apply_config(cbor2.dumps([1, values, TABLE.regulatory.values()])))
        assert (e.code, e.field) == ("invalid_config", "page31")
        assert hub.get_config()["hash"] == before
        assert hub.test_tx(917_500_000)["refused"]  # and test frames are still refused


def test_a_board_without_a_key_or_with_a_foreign_key_refuses_changes(
    bench: Bench, tmp_path: Path
) -> None:
    board = start_deployed(bench)
    try:
        with AgentClient(board.port, on_console=None) as hub:
            uid = hub.hello().uid
            hub.keys = KeyStore(tmp_path / "elsewhere")  # a host that does not hold the key
            with pytest.raises(AuthError, match="not in the key store"):
                apply(hub, TABLE)
        # `dbch key provision --force` gives it a key this host holds
        out = run("key", "provision", "--port", board.port, "--force", "--json")
        assert out.returncode == 0, out.stderr
        shown = json.loads(out.stdout)
        assert shown["uid"] == uid.hex() and shown["held_by_this_host"]
        with AgentClient(board.port, on_console=None) as hub:
            apply(hub, TABLE)
    finally:
        board.stop()


def test_a_rotation_whose_reply_was_lost_reports_the_key_the_board_holds(
    hub_board: SimBoard,
) -> None:
    # The resend after a lost reply is signed with the old key, which the board no longer
    # holds: it fails its MAC. The host reads the board's key id instead of reporting a
    # failure (and signs with the new key from then on).
    from helpers import LostReplyThenReset

    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        hub.wait_ready()
        uid = hub.hello().uid
        new_key = keys.new_key()
        hub.keys = KeyStore()
        hub.keys.add(uid, new_key)  # on the host first, as `dbch key rotate` does
        hub.link.request = LostReplyThenReset(hub, hub_board)  # type: ignore[method-assign]
        res = hub.rotate_key(new_key)
        assert bytes(res["key_id"]).hex() == keys.key_id(new_key)
        assert hub.auth_info()["key_id"] == keys.key_id(new_key)
        apply(hub, TABLE)  # signed with the new key


def test_a_log_clear_whose_reply_was_lost_is_sent_again_and_reported_cleared(
    hub_board: SimBoard,
) -> None:
    # The red team: a resent `events_clear` was refused as a repeat and the host reported
    # failure, whether or not the clear had happened. Clearing is idempotent, so the host
    # clears afresh. (What stays is the audit log: each clear, and the reset between.)
    from helpers import LostReplyThenReset

    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        hub.wait_ready()
        hub.link.request = LostReplyThenReset(hub, hub_board)  # type: ignore[method-assign]
        assert hub.call("events_clear") == {"cleared": True}
        hub.link.request = hub.link.request.real  # type: ignore[attr-defined]
        kinds = [e[2] for e in hub.all_events()]
    assert kinds[-3:] == ["log_cleared", "reset", "log_cleared"], kinds


def test_rotation_replaces_the_key_and_the_old_one_stops_working(
    hub_board: SimBoard, tmp_path: Path
) -> None:
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        uid = hub.hello().uid
        old_key = KeyStore().find(uid, hub.auth_info()["key_id"])
    out = run("key", "rotate", "--port", hub_board.port, "--json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    new_key = KeyStore().current(uid)
    assert new_key is not None and new_key != old_key
    assert shown["key_id"] == keys.key_id(new_key) and shown["held_by_this_host"]
    with AgentClient(hub_board.port, on_console=None) as hub:
        ctr = hub.auth_info()["ctr"]
        e = refusal(lambda: raw_auth(hub, old_key, uid, ctr + 1, "events_clear", {}))
        assert e.msg.startswith("bad_mac")
        apply(hub, TABLE)  # the client signs with the new key from the store
    # Keys never appear in what the tools print or write, nor in the simulator's files.
    outputs = [out.stdout + out.stderr]
    port = ["--port", hub_board.port]
    for args in (
        ["key", "show", *port, "--json"],
        ["status", *port, "--json"],
        ["logs", *port, "--json"],
        ["hello", *port, "--json"],
        ["check", *port, "--table", TABLE.id, "--region", "north", "--json"],
    ):
        res = run(*args)
        outputs.append(res.stdout + res.stderr)
    sim_files = [
        p
        for p in hub_board.bench.folder.home.rglob("*")
        if p.is_file() and p.suffix in (".log", ".json", ".jsonl")
    ]
    for secret in (old_key, new_key):
        assert secret is not None
        for text in outputs:
            assert secret.hex() not in text.lower()
        for p in sim_files:
            if "keys" not in p.parts:
                assert secret.hex() not in p.read_text(errors="replace").lower(), p
    assert oct(os.stat(KeyStore().path(uid)).st_mode & 0o777) == "0o600"


DAMAGE_COUNTER = """
for name in {names}:
    with open('data/' + name, 'rb') as f:
        b = bytearray(f.read())
    b[-1] ^= 0x01
    with open('data/' + name, 'wb') as f:
        f.write(b)
"""


def test_a_damaged_counter_copy_is_survived_and_both_fail_closed(bench) -> None:
    # One changed byte made the counter file read as 0, and a captured older request was
    # accepted again. Now the counter is kept twice: with one copy damaged the other holds
    # (the board says so), with both damaged the board refuses every change and says why,
    # and a deliberate re-provisioning (new key, counter reset) brings it back.
    from dbch.boards.deploy import provision
    from helpers import mpremote

    board = start_deployed(bench)
    record = TABLE.record("north")
    try:
        with AgentClient(board.port, on_console=None) as hub:
            uid = hub.hello().uid
            key = KeyStore().find(uid, hub.auth_info()["key_id"])
            ctr = hub.auth_info()["ctr"] + 1
            captured = (key, uid, ctr, "set_config", {"record": record})
            raw_auth(hub, *captured)  # accepted once
            raw_auth(hub, key, uid, ctr + 1, "events_clear", {})  # and a later request
        mpremote(board.port, "exec", DAMAGE_COUNTER.format(names=["ctr.bin"]))
        board.reset()
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            assert hub.status()["auth"] == {"counter_copies": 1, "counter_damaged": False}
            assert refusal(lambda: raw_auth(hub, *captured)).msg.startswith("replay")
            assert [e for e in hub.all_events() if e[2] == "counter_copy_lost"]
            assert apply(hub, TABLE)["hash"]  # and an accepted change writes both again
            assert hub.status()["auth"]["counter_copies"] == 2
        mpremote(board.port, "exec", DAMAGE_COUNTER.format(names=["ctr.bin", "ctr2.bin"]))
        board.reset()
        with AgentClient(board.port, on_console=None) as hub:
            hub.wait_ready()
            assert hub.status()["auth"] == {"counter_copies": 0, "counter_damaged": True}
            e = refusal(lambda: raw_auth(hub, *captured))
            assert e.code == "unauthorised" and e.msg.startswith("counter_damaged"), e
            assert hub.auth_info()["ctr"] is None
            with pytest.raises(AuthError, match="provision"):
                hub.apply_config(record)
        provision(board.port, force=True)
        with AgentClient(board.port, on_console=None) as hub:
            assert hub.auth_info()["ctr"] == 0
            assert hub.status()["auth"]["counter_copies"] == 2
            assert apply(hub, TABLE)["hash"]
    finally:
        board.stop()


def test_an_absurd_counter_jump_is_refused_and_burns_nothing(hub_board: SimBoard) -> None:
    # A counter of 2^48 was accepted, after which every authorised request was refused.
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        uid = hub.hello().uid
        info = hub.auth_info()
        key = KeyStore().find(uid, info["key_id"])
        for ctr in (2**48, info["ctr"] + 2**20 + 1):
            e = refusal(lambda c=ctr: raw_auth(hub, key, uid, c, "events_clear", {}))
            assert e.code == "unauthorised" and e.msg.startswith("counter_jump"), e
        assert hub.auth_info()["ctr"] == info["ctr"]
        assert apply(hub, TABLE)["hash"]  # the owner's next request still works


UNSTORABLE_RESERVATION = """
import dbch_board
from dbchagent import store
from dbchagent.hub import Hub
class _Con:
    max_request = 1024
    def send(self, f):
        pass
hub = Hub(dbch_board, console=_Con())
hub.duty.stored = 0  # the next frame needs a new reservation on flash
store.DIR = "/no/such/dir"  # and flash takes no more writes (as a full filesystem)
print(hub.transmit(bytes(20)), hub.duty.problem is not None)
"""


def test_a_frame_whose_duty_reservation_cannot_be_stored_is_not_sent(bench) -> None:
    # With the filesystem full a frame was still sent, and a reboot read less airtime than
    # had been sent. The reservation is the promise: no reservation on flash, no frame.
    from helpers import mpremote

    board = start_deployed(bench)
    try:
        with AgentClient(board.port, on_console=None) as hub:
            apply(hub, TABLE)
        t0 = bench.now()
        out = mpremote(board.port, "exec", UNSTORABLE_RESERVATION).split()
        assert out == ["duty_unknown", "True"], out
        sent = [r for r in read_air_log(bench.folder.air_log, board.id) if r["t"] >= t0]
        assert not [r for r in sent if r.get("emitted")]
    finally:
        board.stop()


@pytest.mark.unix_twin
def test_simulated_boards_keys_live_under_the_simulated_bench(tmp_path: Path) -> None:
    """A simulated board's key goes to $DBCH_SIM_HOME/keys, never among real boards' keys
    (~/.local/state/dbch/keys); $DBCH_KEYS, when set, is used for every board."""
    from dbch.link.auth import keys_dir

    env = {k: v for k, v in os.environ.items() if k != "DBCH_KEYS"}
    env |= {"DBCH_SIM_HOME": str(tmp_path / "sim"), "XDG_STATE_HOME": str(tmp_path / "state")}
    try:
        out = subprocess.run(
            [DBCH, "sim", "start", "--id", "k1", "--erase"], env=env, capture_output=True
        )
        assert out.returncode == 0, out.stderr
        out = subprocess.run(
            [DBCH, "deploy", "--port", "sim:k1", "--board", "PICO_WAVESHARE_SX1262"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        assert len(list((tmp_path / "sim" / "keys").glob("*.json"))) == 1
        assert not (tmp_path / "state" / "dbch" / "keys").exists()
        table = ["--table", "sec-2018-03-r1", "--region", "north"]
        out = subprocess.run(
            [DBCH, "apply", "--port", "sim:k1", *table], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr  # signed with the key found there
    finally:
        subprocess.run([DBCH, "sim", "stop", "--all"], env=env, capture_output=True)
    saved = os.environ.pop("DBCH_KEYS", None)
    saved_home = os.environ.get("DBCH_SIM_HOME")
    try:
        os.environ["XDG_STATE_HOME"] = str(tmp_path / "state")
        assert keys_dir("rp2") == tmp_path / "state" / "dbch" / "keys"
        assert keys_dir("qemu") == keys_dir("linux") != keys_dir("rp2")
        # A simulated board's key kept with real boards' before (earlier versions) is still
        # found; new keys go to the simulated bench's store only.
        os.environ["DBCH_SIM_HOME"] = str(tmp_path / "sim2")
        uid, old = b"\x01" * 8, keys.new_key()
        KeyStore.for_platform("rp2").add(uid, old)
        sim_store = KeyStore.for_platform("linux")
        assert sim_store.find(uid, keys.key_id(old)) == old
        sim_store.add(uid, keys.new_key())
        assert sim_store.path(uid).parent == tmp_path / "sim2" / "keys"
        assert KeyStore.for_platform("rp2").keys(uid) == [old]
    finally:
        os.environ.pop("XDG_STATE_HOME")
        os.environ.pop("DBCH_SIM_HOME", None)
        if saved_home is not None:
            os.environ["DBCH_SIM_HOME"] = saved_home
        if saved is not None:
            os.environ["DBCH_KEYS"] = saved
