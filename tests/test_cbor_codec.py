"""The agent's CBOR codec, run in the MicroPython VM, against the host's cbor2."""

from __future__ import annotations

import cbor2
import pytest
from helpers import MicroPython
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# What both implementations agree on (docs/protocol.md): no floats, tags, undefined.
ints = st.integers(min_value=-(2**64), max_value=2**64 - 1)
keys = st.one_of(st.integers(min_value=-(2**63), max_value=2**63), st.text(max_size=8))
values = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, st.binary(max_size=40), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=20,
)
settings_vm = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _multi_key_map(v: object) -> bool:
    if isinstance(v, list):
        return any(_multi_key_map(x) for x in v)
    if isinstance(v, dict):
        return len(v) > 1 or any(_multi_key_map(x) for x in v.values())
    return False


def _depth(v: object) -> int:
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    return 0


# cbor_rt_reused encodes into a buffer that held another frame, twice, as the agent builds
# every reply in one buffer.
@pytest.mark.parametrize("op", ["cbor_rt", "cbor_rt_reused"])
@settings_vm
@given(value=values)
def test_round_trip_both_directions(mp: MicroPython, op: str, value: object) -> None:
    # host encodes -> agent decodes and re-encodes -> host decodes: same value. The bytes
    # are exactly cbor2's (both emit shortest-form heads) except for the order of map
    # entries: MicroPython dicts do not keep insertion order.
    encoded = cbor2.dumps(value)
    status, out = mp.ask(f"{op} " + encoded.hex())
    if _depth(value) > 8:
        assert status == "err" and "CBORError" in out
        return
    assert status == "ok", out
    if not _multi_key_map(value):
        assert bytes.fromhex(out) == encoded
    assert cbor2.loads(bytes.fromhex(out)) == value


@settings_vm
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_fail_cleanly(mp: MicroPython, data: bytes) -> None:
    # Garbage never crashes the codec: either it is CBOR both sides read the same way, or
    # the agent raises CBORError (nothing else).
    status, out = mp.ask("cbor_rt " + data.hex())
    if status == "ok":
        assert cbor2.loads(bytes.fromhex(out)) == cbor2.loads(data)
    else:
        assert out.startswith("CBORError"), out


def test_unsupported_items_are_refused(mp: MicroPython) -> None:
    cases = {
        "float": cbor2.dumps(1.5),
        "tag": cbor2.dumps(cbor2.CBORTag(100, 1)),
        "indefinite": bytes.fromhex("9f01ff"),
        "undefined": bytes.fromhex("f7"),
        "truncated": bytes.fromhex("83010203")[:-1],
        "huge count": bytes.fromhex("9bffffffffffffffff"),
        "bad utf8": bytes.fromhex("62c328"),
        "list key": bytes.fromhex("a18001"),
        "trailing": bytes.fromhex("0101"),
    }
    for name, data in cases.items():
        status, out = mp.ask("cbor_rt " + data.hex())
        assert status == "err" and out.startswith("CBORError"), (name, out)


def test_text_around_each_head_size_is_encoded_exactly(mp: MicroPython) -> None:
    # The agent writes text straight from the str and patches a one-byte head in when it
    # is short: the byte count decides, not the characters (23 characters can be 24 bytes).
    texts = ["a" * n + tail for n in (0, 21, 22, 23, 24, 254, 255, 256) for tail in ("", "é", "€")]
    value = {t: t for t in texts}
    for op in ("cbor_rt", "cbor_rt_reused"):
        status, out = mp.ask(f"{op} " + cbor2.dumps(value).hex())
        assert status == "ok", out
        assert cbor2.loads(bytes.fromhex(out)) == value
        for t in texts:  # each text's own encoding (shortest head) is in the output
            assert cbor2.dumps(t) in bytes.fromhex(out), t
