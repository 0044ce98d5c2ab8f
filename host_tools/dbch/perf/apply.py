"""Apply end to end and where the time goes; the transmit gate's cost per frame; the
size of frames (CBOR against JSON)."""

from __future__ import annotations

import ast
import base64
import json
import time
from typing import Any

from mpremote.transport_serial import SerialTransport

from dbch.boards.deploy import FORGET_AGENT
from dbch.gbcs.subghz_config import SubGhzConfig, agent_record
from dbch.gbcs.tables import get_table
from dbch.link.client import AgentClient
from dbch.link.frames import decode_frame
from dbch.perf.common import REPL_HUB, REPL_TIMER, Figure, Results, _median_ms, _time
from dbch.sim.bench import SimBoard

# --- apply: end to end, and where the time goes ------------------------------------------
# Run in the raw REPL of a deployed board whose agent was stopped: the agent's own parts,
# each timed alone on the board (ticks_us), on a Hub built from the configuration on flash.
PARTS_VM = (
    REPL_HUB
    + REPL_TIMER
    + """
from dbchagent import config_check, store, auth, channel_mask
from subghz import core
rec = %(record)r
r = {}
r['parse'] = t(lambda: config_check.parse(rec), 50)
cfg = config_check.parse(rec)
r['store'] = t(lambda: config_check.save(cfg), 20)
key = bytes(32)
msg = b'x' * 200
r['auth'] = t(lambda: auth.hmac_sha256(key, msg), 50)
r['auth'] += t(lambda: store.write('bench.bin', bytes(8)), 20)
ctl = hub.ctl
op = hub.channels.operating
r['radio_setup'] = t(lambda: ctl.radio.setup(ctl.power_dbm), 10)
r['radio_tune_verify'] = t(lambda: ctl.tune(channel_mask.centre_hz(op[0], op[1])), 20)
r['log'] = t(lambda: hub.log.alert(0x8F2A, {'hash': cfg.hash}), 20)
radio = ctl.radio
air = core.airtime_us(%(psdu)d + core.CRC_BYTES)
freq, ver = radio.carrier()
gate = hub.gate
clear = gate._clear
gate._clear = lambda radio, threshold: True
import time
gate.last_end = time.ticks_add(time.ticks_ms(), -1000)  # as in traffic: the off-time is checked
def _gate_calls(g, rd, a, f, v, n):
    # The gate called as the radio driver calls it (locals, a method call each), n times
    # each, and the same loop empty: microseconds in all, divided on the host
    g.before(rd, a)
    g.last(f, v, a)
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(n):
        pass
    t1 = time.ticks_us()
    for _ in range(n):
        g.before(rd, a)
    t2 = time.ticks_us()
    for _ in range(n):
        g.last(f, v, a)
    t3 = time.ticks_us()
    return [n, time.ticks_diff(t1, t0), time.ticks_diff(t2, t1), time.ticks_diff(t3, t2)]
r['gate_calls'] = _gate_calls(gate, radio, air, freq, ver, 200)
gate._clear = clear
r['gate_lbt'] = t(lambda: clear(radio, hub.config.lbt_ddbm), 10)
r['airtime'] = air
store.remove('bench.bin')
from dbchagent.runtime import release
def _load():
    for m in ('dbchagent.auth', 'dbchagent.cmd_hub', 'dbchagent.config_check'):
        __import__(m)
        release(m)
r['modules'] = t(_load, 10)
r['keep_modules'] = int(getattr(dbch_board, 'KEEP_MODULES', False))
print(repr(r))
"""
)
GATE_PSDU = 60  # octets: a typical HAN frame


def _vm_measure(port: str, code: str) -> dict[str, float]:
    """Stop the agent, run `code` in the raw REPL, return the dict it prints, reset."""
    t = SerialTransport(port)
    try:
        t.enter_raw_repl(soft_reset=False)
        t.exec(FORGET_AGENT)
        out = t.exec(code)
        t.exec_raw_no_follow("import machine\nmachine.reset()")
    finally:
        t.close()
    return ast.literal_eval(out.decode().strip())


def _two_records() -> list[bytes]:
    table = get_table("sec-2018-03-r1")
    values = table.region("north").config().values()
    first = agent_record(SubGhzConfig.from_values(values), table.regulatory)
    values[6] = 4
    return [first, agent_record(SubGhzConfig.from_values(values), table.regulatory)]


def bench_apply(board: SimBoard, n: int, res: Results) -> None:
    records = _two_records()
    e2e: list[float] = []
    frames: list[float] = []
    with AgentClient(board.port, on_console=None) as hub:
        hub.wait_ready()
        for i in range(n + 2):
            t0 = time.perf_counter()
            hub.apply_config(records[i % 2])
            if i >= 2:
                e2e.append(time.perf_counter() - t0)
        # The frames alone: a round trip carrying as many bytes as the signed request
        payload = bytes(len(records[0]) + 120)
        frames = _time(lambda: hub.echo(payload), n)
    parts = _vm_measure(board.port, PARTS_VM % {"record": records[0], "psdu": GATE_PSDU})
    with AgentClient(board.port, on_console=None) as hub:
        hub.wait_ready()
    e2e_ms, frames_ms = _median_ms(e2e), _median_ms(frames)
    part_ms = {
        "frames": frames_ms,
        "auth (HMAC + counter write)": parts["auth"] / 1000,
        "parse and validate": parts["parse"] / 1000,
        "flash write": parts["store"] / 1000,
        "radio tune and readback": parts["radio_tune_verify"] / 1000,
        "event log": parts["log"] / 1000,
    }
    loading = parts["modules"] / 1000
    aside = {"(radio full setup, on a power change)": parts["radio_setup"] / 1000}
    if parts["keep_modules"]:
        # This board keeps command modules loaded after their first use (KEEP_MODULES):
        # loading them is a one-off, not part of each apply.
        aside["(loading command modules from flash, once)"] = loading
    else:
        part_ms["loading the commands' modules from flash"] = loading
    total = sum(part_ms.values())
    res.breakdown = {"apply end to end": e2e_ms, **part_ms, "sum of parts": total, **aside}
    res.samples.update({"apply_e2e": e2e_ms})
    res.add(
        Figure(
            "apply_e2e_over_parts",
            e2e_ms / total,
            "x",
            "apply+verify end to end vs the sum of its parts measured alone",
        )
    )
    res.gate = parts


def gate_parts_us(parts: dict[str, Any]) -> tuple[float, float, float]:
    """The gate's before() and last() per frame, each called as the radio driver calls it
    (a method call on locals) less the timing loop's own cost, and that cost."""
    n, loop, before, last = parts["gate_calls"]
    return (before - loop) / n, (last - loop) / n, loop / n


def gate_figures(parts: dict[str, Any], res: Results) -> None:
    before, last, _loop = gate_parts_us(parts)
    compute = before + last
    air = parts["airtime"]
    res.samples.update({"gate_us": compute, "gate_lbt_us": parts["gate_lbt"], "airtime_us": air})
    res.add(
        Figure(
            "gate_cost_over_airtime",
            compute / air,
            "x",
            f"transmit gate checks per {GATE_PSDU}-octet frame vs its airtime at 100 kbps"
            " (simulated board's CPU)",
        )
    )
    res.add(
        Figure(
            "gate_with_lbt_over_airtime",
            (compute + parts["gate_lbt"]) / air,
            "x",
            "the same with listen-before-talk (5 ms free channel, regulatory)",
        )
    )


# --- frame size -------------------------------------------------------------------------
def bench_frame_size(board: SimBoard, res: Results) -> None:
    with AgentClient(board.port, on_console=None) as hub:
        hub.wait_ready()
        hub.status()
        line = hub.link.last_reply_line
    frame = decode_frame(line.rstrip(b"\r\n")[1:])
    value = frame.decode_body()  # the status as the host reads it: words as text
    as_json = json.dumps(value, separators=(",", ":"), default=_json_bytes).encode()
    res.samples.update({"status_cbor_bytes": len(frame.body), "status_json_bytes": len(as_json)})
    res.add(
        Figure(
            "cbor_over_json_size",
            len(frame.body) / len(as_json),
            "x",
            f"full status: {len(frame.body)} B CBOR (words and digests) vs {len(as_json)} B "
            "compact JSON",
            "< 1",
            len(frame.body) < len(as_json),
        )
    )


def _json_bytes(v: Any) -> str:
    return base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else str(v)
