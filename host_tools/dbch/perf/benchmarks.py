"""`make bench`: figures measured side by side in one run, as ratios against baselines.

Each figure is a median over repeated samples taken in the same run, interleaved so that
machine load affects both sides of a ratio alike. The table is printed and written to
build/bench.json. docs/performance.md explains every figure and how to reproduce it.
"""

from __future__ import annotations

import argparse
import ast
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
from mpremote.transport_serial import SerialTransport

from . import paths
from .boards import SIM_HEAP_FACTOR
from .checks import HOUR_S, check_board
from .client import AgentClient
from .deploy import FORGET_AGENT, deploy
from .errors import DbchError
from .fleet import Target, run_each
from .output import progress
from .protocol import decode_frame, encode_request
from .sim.bench import Bench, SimBoard
from .subghz_config import SubGhzConfig, agent_record
from .tables import get_table
from .transport import Transport

LINK_BOARD = "PICO_WAVESHARE_SX1262"

# The floor: the least a MicroPython program can do per round trip on the same kind of
# port: read one line, write back as many bytes as the agent's status reply.
FLOOR_MAIN = """\
import sys
r = sys.stdin.buffer.readline
w = sys.stdout.buffer.write
reply = b'x' * ({size} - 1) + b'\\n'
while True:
    r()
    w(reply)
"""

# The same status query run in the raw REPL: the agent's own status function on an
# agent object that is set up once (as a script holding a raw REPL session would).
RAW_SETUP = (
    "from dbchagent import app, cmd_system\n"
    "class _Null:\n    def write(self, d): pass\n"
    "_a = app.Agent(console=_Null())\ncmd_system.install(_a)\n"
)
RAW_QUERY = "print(repr(cmd_system.status(_a, {})))"


@dataclass
class Figure:
    key: str
    value: float
    unit: str
    what: str
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    samples: dict[str, float] = field(default_factory=dict)
    breakdown: dict[str, float] = field(default_factory=dict)
    gate: dict[str, float] = field(default_factory=dict)

    def add(self, fig: Figure) -> None:
        self.figures.append(fig)

    def as_dict(self) -> dict[str, Any]:
        return {
            "figures": {f.key: f.value for f in self.figures},
            "details": [vars(f) for f in self.figures],
            "medians_ms": self.samples,
            "apply_breakdown_ms": self.breakdown,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        }


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _write_main(port: str, source: str) -> None:
    t = SerialTransport(port)
    try:
        t.enter_raw_repl(soft_reset=False)
        t.fs_writefile("/main.py", source.encode())
        t.exec_raw_no_follow("import machine\nmachine.reset()")
    finally:
        t.close()


def _bench_link_boards(
    agent_board: SimBoard, floor_board: SimBoard, reps: int, n: int, cli_n: int, res: Results
) -> None:
    request = encode_request(1, "status")
    with AgentClient(agent_board.port, on_console=None) as hub:
        hub.status()
        reply_len = len(hub.link.last_reply_line)
    old_vm = floor_board.vm_pid
    _write_main(floor_board.port, FLOOR_MAIN.format(size=reply_len))
    floor_board.wait_for_vm(old_vm)
    time.sleep(0.5)

    link_s: list[float] = []
    raw_s: list[float] = []
    floor_s: list[float] = []
    cli_s: list[float] = []
    for _ in range(reps):
        # (1) the agent link, a persistent connection as a script would hold it
        agent_board.reset()
        with AgentClient(agent_board.port, on_console=None) as hub:
            hub.wait_ready()
            _time(hub.status, 20)
            link_s += _time(hub.status, n)
        # (c) the floor: the same request line, a reply of the same length
        with Transport(floor_board.port) as t:
            t.discard_input()

            def floor_once(t: Transport = t) -> None:
                t.write(request)
                if t.read_line(2.0) is None:
                    raise RuntimeError("floor program did not answer")

            _time(floor_once, 20)
            floor_s += _time(floor_once, n)
        # (a) mpremote's raw REPL in-process: enter once, then exec repeatedly
        t = SerialTransport(agent_board.port)
        try:
            t.enter_raw_repl(soft_reset=False)
            t.exec(RAW_SETUP)

            def raw_once(t: SerialTransport = t) -> None:
                ast.literal_eval(t.exec(RAW_QUERY).decode())

            _time(raw_once, 5)
            raw_s += _time(raw_once, max(20, n // 10))
        finally:
            t.close()
        # (b) the mpremote command, as shell scripts use it
        cmd = [
            str(Path(sys.executable).parent / "mpremote"),
            "connect",
            agent_board.port,
            "resume",
            "exec",
            RAW_SETUP + RAW_QUERY,
        ]
        for _ in range(cli_n):
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, check=True)
            cli_s.append(time.perf_counter() - t0)
            ast.literal_eval(out.stdout.decode())

    link, raw, cli, floor = map(_median_ms, (link_s, raw_s, cli_s, floor_s))
    res.samples.update(
        {"status_link": link, "status_raw_repl": raw, "status_mpremote_cli": cli, "floor": floor}
    )
    res.add(
        Figure(
            "link_speedup_vs_raw_repl",
            raw / link,
            "x",
            "status via agent link vs mpremote raw REPL in-process",
            ">= 5",
            raw / link >= 5,
        )
    )
    res.add(
        Figure(
            "link_speedup_vs_mpremote_cli",
            cli / link,
            "x",
            "status via agent link vs `mpremote resume exec`",
            ">= 100",
            cli / link >= 100,
        )
    )
    res.add(
        Figure(
            "link_ratio_to_floor",
            link / floor,
            "x",
            "status via agent link vs echo floor (same pty, same reply size)",
            "<= 3",
            link / floor <= 3,
        )
    )


# --- apply: end to end, and where the time goes ------------------------------------------
# Run in the raw REPL of a deployed board whose agent was stopped: the agent's own parts,
# each timed alone on the board (ticks_us), on a Hub built from the configuration on flash.
PARTS_VM = """
import time, gc, dbch_board
from dbchagent import config_check, store, auth, channel_mask
from dbchagent.hub import Hub
from subghz import core
class _Con:
    max_request = 1024
    def send(self, f):
        pass
hub = Hub(dbch_board, console=_Con())
rec = %(record)r
def t(fn, n):
    fn()
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(n):
        fn()
    return time.ticks_diff(time.ticks_us(), t0) / n
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
r['gate_last'] = t(lambda: gate.last(freq, ver, air), 200)
clear = gate._clear
gate._clear = lambda radio, threshold: True
r['gate_before'] = t(lambda: gate.before(radio, air), 100)
gate._clear = clear
r['gate_lbt'] = t(lambda: clear(radio, hub.config.lbt_ddbm), 10)
r['airtime'] = air
store.remove('bench.bin')
from dbchagent.app import release
def _load():
    for m in ('dbchagent.auth', 'dbchagent.cmd_hub', 'dbchagent.config_check'):
        __import__(m)
        release(m)
r['modules'] = t(_load, 10)
r['keep_modules'] = int(getattr(dbch_board, 'KEEP_MODULES', False))
print(repr(r))
"""
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
    table = get_table("sec-2018-03")
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


def gate_figures(parts: dict[str, float], res: Results) -> None:
    compute = parts["gate_before"] + parts["gate_last"]
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
    value = cbor2.loads(frame.body)
    as_json = json.dumps(value, separators=(",", ":"), default=_json_bytes).encode()
    res.samples.update({"status_cbor_bytes": len(frame.body), "status_json_bytes": len(as_json)})
    res.add(
        Figure(
            "cbor_over_json_size",
            len(frame.body) / len(as_json),
            "x",
            f"full status: {len(frame.body)} B CBOR vs {len(as_json)} B compact JSON",
            "< 1",
            len(frame.body) < len(as_json),
        )
    )


def _json_bytes(v: Any) -> str:
    return base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else str(v)


# --- agent memory and boot time ---------------------------------------------------------
MEMORY_BOARD = "NUCLEO_WL55"
BUDGET_KB = 64  # the smallest board's heap budget (issue: resource limits)


def _exercise(port: str) -> dict[str, Any]:
    """Boot is done; apply, status, scan, status: returns the last status."""
    records = _two_records()
    with AgentClient(port, on_console=None, timeout=5.0) as hub:
        hub.wait_ready()
        hub.apply_config(records[0])
        hub.status()
        hub.scan()
        time.sleep(1.1)  # the heap sampler runs once a second
        return hub.status()


def _works_with_heap(bench: Bench, board_id: str, heap_kb: int) -> bool:
    (b,) = bench.start(board=MEMORY_BOARD, ids=[board_id], heap_kb=heap_kb)
    try:
        st = _exercise(b.port)
        return st["radio"]["state"] == "ready" and st["config"] is not None
    except DbchError:
        return False
    finally:
        b.stop()


def bench_memory(bench: Bench, res: Results, boot_n: int) -> None:
    peak: dict[str, int] = {}
    boot: dict[str, float] = {}
    least: dict[str, int] = {}
    rom = bench.rom_heap_bytes(MEMORY_BOARD)  # status counts it; it is not the agent's
    res.samples["sim_rom_bytes"] = rom
    for form in ("mpy", "py"):
        board_id = f"mem-{form}"
        # Measured with room to spare (256 KB) so both forms run; then the least heap that
        # still boots, applies, scans and answers status, by bisection.
        (b,) = bench.start(board=MEMORY_BOARD, ids=[board_id], erase=True, heap_kb=256)
        try:
            deploy(b.port, MEMORY_BOARD, form=form)
            peak[form] = _exercise(b.port)["heap"]["used_max"] - rom
            times = []
            with AgentClient(b.port, on_console=None) as hub:
                for _ in range(boot_n):
                    t0 = time.perf_counter()
                    b.reset()
                    hub.wait_ready()
                    times.append(time.perf_counter() - t0)
            boot[form] = _median_ms(times)
        finally:
            b.stop()
        lo, hi = 24, 256  # lo fails (assumed), hi works
        while hi - lo > 4:
            mid = (lo + hi) // 2
            if _works_with_heap(bench, board_id, mid):
                hi = mid
            else:
                lo = mid
        least[form] = hi
    res.samples.update({"boot_mpy": boot["mpy"], "boot_py": boot["py"]})
    for form in ("mpy", "py"):
        res.add(
            Figure(
                f"agent_peak_heap_{form}_bytes",
                peak[form],
                "B",
                f"agent's live heap peak through boot, apply, scan, status from .{form} "
                f"({MEMORY_BOARD} twin, 64-bit VM, ROM share taken off)",
                f"<= {BUDGET_KB * 1024}",
                peak[form] <= BUDGET_KB * 1024,
            )
        )
        res.add(
            Figure(
                f"agent_min_heap_{form}_kb",
                least[form],
                "KB",
                f"least heap that boots, applies, scans, answers (.{form}, within 4 KB)",
                f"<= {BUDGET_KB}",
                least[form] <= BUDGET_KB,
            )
        )
    # The VM is 64-bit: GC blocks of 32 bytes where a Cortex-M has 16, pointers of 8 bytes
    # where it has 4. Halving (boards.SIM_HEAP_FACTOR, the rule every twin's heap follows)
    # estimates the peak on the real 32-bit board; it is an estimate, not a measurement.
    res.add(
        Figure(
            "agent_peak_heap_mpy_32bit_est_bytes",
            peak["mpy"] / SIM_HEAP_FACTOR,
            "B",
            f"the .mpy peak above / {SIM_HEAP_FACTOR} (64-bit VM to 32-bit MCU, estimated)",
            f"<= {BUDGET_KB * 1024}",
            peak["mpy"] / SIM_HEAP_FACTOR <= BUDGET_KB * 1024,
        )
    )
    res.add(
        Figure(
            "boot_mpy_over_py",
            boot["mpy"] / boot["py"],
            "x",
            "reset to agent ready, from .mpy vs from .py",
            "< 1",
            boot["mpy"] < boot["py"],
        )
    )


# --- fleet --------------------------------------------------------------------------------
FLEET_BOARD = "PICO_WAVESHARE_SX1262"


def bench_fleet(bench: Bench, reps: int, res: Results, sizes: tuple[int, ...] = (1, 8, 32)):
    boards = bench.start(board=FLEET_BOARD, count=max(sizes), erase=True)
    table = get_table("sec-2018-03")
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda b: deploy(b.port, FLEET_BOARD), boards))
    targets = [Target(b.id, b.port, b.id) for b in boards]
    record = agent_record(table.region("north").config(), table.regulatory)

    def apply_one(t: Target) -> tuple[str, str, Any]:
        with AgentClient(t.port, on_console=None) as hub:
            hub.apply_config(record)
        return "pass", "", None

    def check_one(t: Target) -> tuple[str, str, Any]:
        rep = check_board(t.port, table, "north", HOUR_S, t.sim_id, bench=bench)
        return rep.result, "", rep

    run_each(targets, apply_one)
    walls: dict[int, list[float]] = {n: [] for n in sizes}
    one = min(sizes)
    cpu_one: list[float] = []  # CPU seconds (host, supervisors, VMs) per check of `one`
    for _ in range(reps):
        for n in sizes:
            cpu0 = _cpu_s(boards[:n])
            t0 = time.perf_counter()
            out = run_each(targets[:n], check_one, jobs=32)
            walls[n].append(time.perf_counter() - t0)
            if n == one:
                cpu_one.append((_cpu_s(boards[:n]) - cpu0) / n)
            bad = [
                (o.target.name, [r.check for r in o.data.failures])
                for o in out
                if o.result != "pass"
            ]
            if bad:
                raise RuntimeError(f"fleet bench: boards did not pass: {bad}")
    med = {n: _median_ms(v) for n, v in walls.items()}
    res.samples.update({f"fleet{n}": med[n] for n in sizes})
    big = max(sizes)
    cores = os.cpu_count() or 1
    cpu = statistics.median(cpu_one)
    res.samples["fleet_check_cpu_ms"] = cpu * 1000
    # A simulated board's check does no waiting: the host, the relay and the VM take turns
    # on the CPU. So `big` checks cannot finish before big * cpu / cores, whatever the tool
    # does; how close the fleet runner gets to that bound is the figure it controls.
    bound_ms = big * cpu * 1000 / min(cores, big)
    res.add(
        Figure(
            f"fleet{big}_over_cpu_bound",
            med[big] / bound_ms,
            "x",
            f"wall time for {big} boards vs their CPU time spread over {cores} cores "
            f"({cpu * 1000:.2f} ms CPU per check)",
        )
    )
    res.add(
        Figure(
            f"fleet{big}_over_fleet{one}",
            med[big] / med[one],
            "x",
            f"wall time to check {big} simulated boards at once vs {one} ({os.cpu_count()} cores)",
            "<= 4",
            med[big] / med[one] <= 4,
        )
    )
    res.add(
        Figure(
            f"fleet8_over_fleet{one}",
            med[8] / med[one],
            "x",
            f"wall time to check 8 boards at once vs {one}",
        )
    )


def _cpu_s(boards: list[SimBoard]) -> float:
    """CPU seconds used so far by this process and the boards' supervisors and VMs."""
    total = time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    for b in boards:
        for pid in (b.pid, b.vm_pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, TypeError, IndexError):
                continue  # no /proc (not Linux) or the process is gone: counted as 0
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def format_results(res: Results) -> str:
    lines = [f"{'figure':30} {'value':>11}  {'target':>9}  {'met':3}  what"]
    for f in res.figures:
        met = "" if f.met is None else ("yes" if f.met else "NO")
        value = f"{f.value:.0f}" if f.unit in ("B", "KB") else f"{f.value:.3g}"
        lines.append(f"{f.key:30} {value + ' ' + f.unit:>11}  {f.target:>9}  {met:3}  {f.what}")
    if res.breakdown:
        lines.append("\napply, where the time goes (ms, medians):")
        lines += [f"  {k:40} {v:8.3f}" for k, v in res.breakdown.items()]
    lines.append(
        "\nmedians (ms unless named): " + ", ".join(f"{k} {v:.3f}" for k, v in res.samples.items())
    )
    return "\n".join(lines)


def update_doc(doc: Path, res: Results) -> None:
    """Put this run's table into docs/performance.md between its markers."""
    text = doc.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start not in text or end not in text:
        return
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    when = time.strftime("%Y-%m-%d %H:%M")
    body = f"\nLast run: {when}, {os.cpu_count()} cores.\n\n```\n{format_results(res)}\n```\n"
    doc.write_text(head + start + body + end + tail)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dbch.benchmarks", description=__doc__)
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    ap.add_argument("-n", type=int, default=500, help="round trips per repetition")
    ap.add_argument("--cli-n", type=int, default=5, help="mpremote commands per repetition")
    ap.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    ap.add_argument("--out", type=Path, default=paths.build_dir() / "bench.json")
    ap.add_argument(
        "--doc",
        type=Path,
        default=paths.project_root() / "docs" / "performance.md",
        help="document whose last-run table is replaced (full runs only)",
    )
    args = ap.parse_args(argv)
    res = Results()
    only = set(args.only or SECTIONS)
    with tempfile.TemporaryDirectory(prefix="dbch-bench-") as home:
        os.environ["DBCH_KEYS"] = str(Path(home) / "keys")  # keys of the bench's own boards
        bench = Bench(home)
        try:
            if only & {"link", "apply", "frames", "gate"}:
                (hub_board, floor_board) = bench.start(board=LINK_BOARD, count=2, erase=True)
                deploy(hub_board.port, LINK_BOARD)
                if "link" in only:
                    progress("link: agent vs raw REPL vs mpremote CLI vs floor")
                    _bench_link_boards(hub_board, floor_board, args.reps, args.n, args.cli_n, res)
                floor_board.stop()
                hub_board.reset()  # the raw REPL measurements left it at the REPL
                if "frames" in only:
                    bench_frame_size(hub_board, res)
                if only & {"apply", "gate"}:
                    progress("apply: end to end and its parts; the transmit gate")
                    bench_apply(hub_board, max(20, args.n // 10), res)
                    gate_figures(res.gate, res)
                hub_board.stop()
            if "memory" in only:
                progress("memory: peak heap and least heap, .mpy and .py; boot time")
                bench_memory(bench, res, boot_n=5)
            if "fleet" in only:
                progress("fleet: 1, 8 and 32 simulated boards checked at once")
                bench_fleet(bench, max(3, args.reps + 2), res)
        finally:
            bench.stop()
    print(format_results(res))
    if args.doc and not args.only:
        update_doc(args.doc, res)
        print(f"table written into {args.doc}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res.as_dict(), indent=2))
    print(f"\nwritten to {args.out}")
    return 0


SECTIONS = ("link", "frames", "apply", "gate", "memory", "fleet")

if __name__ == "__main__":
    sys.exit(main())
