"""Fuzzing a simulated agent with hypothesis: raw bytes on the console, well-framed
requests with arbitrary CBOR, and every command with arbitrary arguments (changes signed
with the board's key, so they reach the command itself). Whatever arrives: no crash, no
hang, a typed error (never `internal`), the configuration and its hash unchanged, and no
emission in 915-921 MHz seen by the witness.

Bounded here (DBCH_FUZZ_EXAMPLES per strategy, default 120; DBCH_FUZZ_BURST frames in the
burst, on the unix twin only, default 1500); `make soak` runs 100,000 and more."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import cbor2
import pytest
from dbch.errors import DeviceError, ProtocolError, TransportError
from dbch.gbcs import channel_plan as plan
from dbch.gbcs.tables import get_table
from dbch.link import spec
from dbch.link.client import AgentClient
from dbch.link.frames import KIND_REQUEST, VERSION, decode_frame, encode_frame
from dbch.sim.air import read_air_log
from dbch.sim.bench import SimBoard
from helpers import apply, ensure_agent, start_deployed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("DBCH_FUZZ_EXAMPLES", "120"))
BURST = int(os.environ.get("DBCH_FUZZ_BURST", "1500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Every typed error of the wire contract but `internal` (an unexpected exception).
TYPED = set(spec.ERROR_CODES) - {"internal"}
# Each command and the arguments it knows, from the wire contract. Left out: reset and
# crash (they only reset or stop the agent: test_lock.py), lock (a locked board keeps
# mpremote out, which later tests use; test_lock.py) and auth (every protected command
# goes through it signed, below).
# rotate_key goes without its counter argument: a rotation that succeeded would lose the
# board's key (rotation has its own tests in test_security.py).
COMMANDS = {
    name: tuple(a for a in c.args if (name, a) != ("rotate_key", "ctr"))
    for name, c in spec.COMMANDS.items()
    if name not in ("reset", "crash", "lock", "auth")
}
cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64) + 1, 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.binary(max_size=80)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.text(max_size=12) | st.integers(), inner, max_size=6)
    ),
    max_leaves=20,
)
# Values near the edges the agent checks, and some of every other kind.
arg_values = (
    st.integers(-1, 2**32)
    | st.sampled_from(
        [0, 1, 125, 126, 100000, 100001, 863_250_000, 915_000_000, 917_300_000, 2**31, 2**48]
    )
    | st.binary(max_size=300)
    | st.text(max_size=20)
    | st.none()
    | st.booleans()
    | st.lists(st.integers(), max_size=4)
)


class Fuzzed:
    """The board under fuzz and what must not change."""

    def __init__(self, board: SimBoard, hub: AgentClient, config_hash: str, air_start: int):
        self.board, self.hub, self.hash, self.air_start = board, hub, config_hash, air_start
        self.frames = 0

    def exchange(self, line: bytes, seq: int) -> object:
        self.frames += 1
        try:
            return self.hub.link.exchange(line, seq, timeout=5.0, retries=0)
        except DeviceError as e:
            assert e.code in TYPED, f"untyped error {e}"
            return e


@pytest.fixture(
    scope="module", params=["hub_board", "small_board"], ids=["pico-unix", "wl55-qemu"]
)
def fuzzed(request: pytest.FixtureRequest, soak_counts) -> Iterator[Fuzzed]:
    """Each strategy on the Pico's unix twin and on the WL55's 32-bit twin (the agent
    frozen, the board's 53 KB heap)."""
    hub_board: SimBoard = request.getfixturevalue(request.param)
    ensure_agent(hub_board)
    with AgentClient(hub_board.port, on_console=None) as hub:
        config_hash = apply(hub, get_table("sec-2018-03-r1"))["hash"]
        air_start = len(read_air_log(hub_board.bench.folder.air_log, hub_board.id))
        f = Fuzzed(hub_board, hub, config_hash, air_start)
        yield f
        hub.call("traffic_stop")
        soak_counts.add(frames_fuzzed=f.frames)
        # The invariants, after everything: alive, same configuration, nothing masked sent.
        assert hub.get_config()["hash"] == config_hash
        assert hub.status()["radio"]["state"] == "ready"
        air = read_air_log(hub_board.bench.folder.air_log, hub_board.id)[air_start:]
        masked = [r for r in air if plan.in_masked_band(r["freq_hz"], plan.OCCUPIED_HALF_BW_HZ)]
        soak_counts.add(emissions_in_915_921=sum(1 for r in masked if r.get("emitted")))
        assert not [r for r in masked if r.get("emitted")]


def after_each(f: Fuzzed) -> None:
    hello = f.hub.link.request("hello", timeout=5.0, retries=1)  # alive, answering
    assert hello["proto"] == VERSION
    assert f.hub.link.request("get_config", timeout=5.0, retries=1)["hash"] == f.hash


@given(data=st.binary(max_size=600).filter(lambda b: 0x03 not in b))
@FUZZ
def test_raw_bytes_on_the_console(fuzzed: Fuzzed, data: bytes) -> None:
    # Ctrl-C (0x03) is left out: on a real console it interrupts the agent by design.
    fuzzed.frames += 1
    fuzzed.hub.transport.write(data + b"\n")
    after_each(fuzzed)


@given(
    body=cbor_values.map(cbor2.dumps) | st.binary(max_size=300),
    kind=st.sampled_from([KIND_REQUEST, KIND_REQUEST, 1, 2, 3, 7]),
    seq=st.integers(0, 0xFFFF),
)
@FUZZ
def test_well_framed_requests_with_any_body(
    fuzzed: Fuzzed, body: bytes, kind: int, seq: int
) -> None:
    line = encode_frame(kind, seq, body)
    if len(line) > 2000:
        line = line[:1990] + b"\n"  # still too long for the board: cut, as a bad sender
    fuzzed.exchange(line, seq)
    after_each(fuzzed)


@given(command=st.sampled_from(sorted(COMMANDS)), data=st.data())
@FUZZ
def test_every_command_with_any_arguments(fuzzed: Fuzzed, command: str, data) -> None:
    known = COMMANDS[command]
    names = data.draw(
        st.lists(
            st.sampled_from(known) if known else st.nothing(), unique=True, max_size=len(known)
        )
    )
    args = {n: data.draw(arg_values, label=n) for n in names}
    if data.draw(st.booleans(), label="extra argument"):
        args[data.draw(st.text(max_size=8), label="extra name")] = data.draw(arg_values)
    hub = fuzzed.hub
    fuzzed.frames += 1
    try:
        hub.call(command, timeout=5.0, **args)  # protected ones go signed, through auth
    except DeviceError as e:
        assert e.code in TYPED, f"{command}{args}: untyped error {e}"
    except TransportError as e:
        pytest.fail(f"{command}{args}: no answer ({e})")
    if command == "traffic":
        hub.call("traffic_stop")
    if command in ("set_config", "rotate_key") and hub.get_config()["hash"] != fuzzed.hash:
        pytest.fail(f"{command}{args} changed the configuration")
    after_each(fuzzed)


def random_cbor(rng: random.Random, depth: int = 0) -> object:
    """A structured CBOR value: the kinds and edges a decoder must survive."""
    pick = rng.randrange(10 if depth < 4 else 6)
    if pick == 0:
        return rng.choice([0, 1, -1, 23, 24, 255, 256, 2**31, 2**32, 2**63 - 1, -(2**63)])
    if pick == 1:
        return rng.randbytes(rng.randrange(40))
    if pick == 2:
        return "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(12)))
    if pick == 3:
        return rng.choice([None, True, False, 1.5, float("inf")])
    if pick == 4:
        return rng.choice(sorted(spec.COMMANDS))
    if pick == 5:
        return cbor2.CBORTag(rng.randrange(300), rng.randrange(10))
    if pick in (6, 7):
        return [random_cbor(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {random_cbor(rng, 4): random_cbor(rng, depth + 1) for _ in range(rng.randrange(5))}


def random_line(rng: random.Random, seq: int) -> bytes:
    """One generated line: a request of a real command with structured arguments, any
    CBOR, damaged framing, or random bytes."""
    kind = rng.randrange(5)
    if kind == 0:
        command = rng.choice(sorted(COMMANDS))
        args = {a: random_cbor(rng, 2) for a in COMMANDS[command] if rng.random() < 0.7}
        return encode_frame(KIND_REQUEST, seq, cbor2.dumps([command, args]))
    if kind == 1:
        return encode_frame(rng.choice([1, 1, 2, 3, 9]), seq, cbor2.dumps(random_cbor(rng)))
    if kind == 2:
        line = bytearray(encode_frame(KIND_REQUEST, seq, cbor2.dumps(random_cbor(rng))))
        for _ in range(rng.randrange(1, 4)):  # damaged on the way
            line[rng.randrange(1, len(line) - 1)] = rng.randrange(0x20, 0x7F)
        return bytes(line)
    if kind == 3:
        return encode_frame(KIND_REQUEST, seq, rng.randbytes(rng.randrange(200)))
    return bytes(b for b in rng.randbytes(rng.randrange(300)) if b != 0x03) + b"\n"


def damaged(line: bytes, seq: int) -> bool:
    try:
        return decode_frame(line[1:-1]).seq != seq
    except ProtocolError:
        return True


@pytest.mark.unix_twin
def test_a_burst_of_generated_frames(request: pytest.FixtureRequest, soak_counts) -> None:
    """Frames as fast as the board takes them (a reply or error is awaited for each that
    asks for one, a liveness check every 100): the volume `make soak` counts, on the
    Pico's unix twin."""
    # A board of its own: the `fuzzed` fixture may still hold the hub board's port.
    board = start_deployed(request.getfixturevalue("bench"))
    try:
        run_burst(board, soak_counts)
    finally:
        board.stop()


def run_burst(board: SimBoard, soak_counts) -> None:
    rng = random.Random(2018)
    with AgentClient(board.port, on_console=None) as hub:
        config_hash = apply(hub, get_table("sec-2018-03-r1"))["hash"]
        air_start = len(read_air_log(board.bench.folder.air_log, board.id))
        f = Fuzzed(board, hub, config_hash, air_start)
        for i in range(BURST):
            seq = hub.link.next_seq()
            line = random_line(rng, seq)
            if line.startswith(b"\x1e") and not damaged(line, seq):
                f.exchange(line, seq)  # whatever it was, a reply or a typed error comes
            else:  # random bytes, or a frame damaged on the way: maybe no answer to await
                f.frames += 1
                hub.transport.write(line)
            if i % 100 == 99:
                after_each(f)
        after_each(f)
        hub.call("traffic_stop")
        assert hub.status()["radio"]["state"] == "ready"
        air = read_air_log(board.bench.folder.air_log, board.id)[air_start:]
    masked = [r for r in air if plan.in_masked_band(r["freq_hz"], plan.OCCUPIED_HALF_BW_HZ)]
    soak_counts.add(frames_fuzzed=f.frames)
    assert not [r for r in masked if r.get("emitted")]
