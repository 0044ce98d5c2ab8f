"""Link figures: the agent's status round trip against the raw REPL, mpremote as a
process and the floor (the least a MicroPython program can do per round trip)."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

from mpremote.transport_serial import SerialTransport

from dbch.link.client import AgentClient
from dbch.link.frames import encode_request
from dbch.link.transport import Transport
from dbch.perf.common import REPL_HUB, Figure, Results, _median_ms, _time
from dbch.sim.bench import SimBoard

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
# The agent's own hub, built at the REPL: the raw REPL then returns the very status the
# link does (configuration, duty cycle, lock, radio).
RAW_SETUP = REPL_HUB
RAW_QUERY = "print(repr(cmd_system.status(hub, {})))"


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
    dbch_cli_s: list[float] = []
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
        dbch = [str(Path(sys.executable).parent / "dbch"), "status", "--port", agent_board.port]
        for _ in range(cli_n):
            # (d) `dbch status` as a process, paired with (b): the agent must be running,
            # and (b) stops it, so each pair starts from a reset board
            agent_board.reset()
            with AgentClient(agent_board.port, on_console=None) as hub:
                hub.wait_ready()
            t0 = time.perf_counter()
            subprocess.run(dbch, capture_output=True, check=True)
            dbch_cli_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, check=True)
            cli_s.append(time.perf_counter() - t0)
            ast.literal_eval(out.stdout.decode())

    link, raw, cli, floor, dbch_cli = map(_median_ms, (link_s, raw_s, cli_s, floor_s, dbch_cli_s))
    res.samples.update(
        {
            "status_link": link,
            "status_raw_repl": raw,
            "status_mpremote_cli": cli,
            "status_dbch_cli": dbch_cli,
            "floor": floor,
        }
    )
    res.add(
        Figure(
            "dbch_cli_over_mpremote_cli",
            dbch_cli / cli,
            "x",
            "`dbch status` process vs `mpremote resume exec` process (start-up included)",
            "<= 0.5",
            dbch_cli / cli <= 0.5,
        )
    )
    res.add(
        Figure(
            "link_speedup_vs_raw_repl",
            raw / link,
            "x",
            "status via agent link vs mpremote raw REPL in-process",
            ">= 4",
            raw / link >= 4,
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
