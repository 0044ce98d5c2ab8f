"""Helpers the tests share (tests/conftest.py holds only fixtures and hooks): the
boards, tables and records tests apply, the MicroPython harness, where the DCC's public
artefacts are. Tests import from here, never from conftest."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dbch import paths
from dbch.boards.deploy import deploy
from dbch.checks.configure import apply_table
from dbch.checks.targets import ready_agent
from dbch.gbcs.subghz_config import agent_record
from dbch.gbcs.tables import TableVersion, get_table, load_table_file
from dbch.link.client import AgentClient
from dbch.sim.bench import Bench, SimBoard

ROOT = Path(__file__).resolve().parents[1]
MICROPYTHON = str(Path(sys.executable).parent / "micropython")
MPREMOTE = str(Path(sys.executable).parent / "mpremote")


def mpremote(port: str, *args: str, resume: bool = True, timeout: float = 30) -> str:
    """Run the mpremote command on a board (with `resume`: no soft reset first); its output."""
    cmd = [MPREMOTE, "connect", port, *(["resume"] if resume else []), *args]
    out = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


# The board most tests run on, and the smallest one (its 112 KB twin holds code and data).
HUB_BOARD = "PICO_WAVESHARE_SX1262"
SMALL_BOARD = "NUCLEO_WL55"


def start_deployed(bench: Bench, board: str = HUB_BOARD, **kw: object) -> SimBoard:
    (b,) = bench.start(board=board, erase=True, **kw)  # type: ignore[arg-type]
    deploy(b.port, board)
    return b


def ensure_agent(board: SimBoard) -> None:
    """Leave the board with its agent running (a test before may have stopped it with
    mpremote's Ctrl-C): checks.targets.ready_agent, the plugin's rule."""
    ready_agent(board.port, board, first_wait=2.0).close()


@contextlib.contextmanager
def agent_on(board: SimBoard) -> Iterator[AgentClient]:
    """A connection to the board's agent, started again first if a test stopped it."""
    ensure_agent(board)
    with AgentClient(board.port, on_console=None) as client:
        yield client


DCC = Path(os.environ.get("DBCH_DCC_DIR") or ROOT.parent / "shared" / "dcc")

# --- tables on boards -------------------------------------------------------------------
SHIPPED = Path(__file__).parents[1] / "tables" / "sec-2018-03-r1.toml"


def table_variant(tmp_path: Path, name: str, **edits: str) -> TableVersion:
    """sec-2018-03-r1 (in force) with lines replaced (field -> new TOML line), a new id."""
    text = SHIPPED.read_text().replace('id = "sec-2018-03-r1"', f'id = "{name}"')
    for key, line in edits.items():
        lines = [ln for ln in text.splitlines() if ln.startswith(key + " =")]
        assert lines, key
        text = text.replace(lines[0], line)
    f = tmp_path / f"{name}.toml"
    f.write_text(text)
    return load_table_file(f)


def apply(hub: AgentClient, table: TableVersion, region: str = "north") -> dict:
    """The one rule (checks/configure.apply_table), and the agent confirmed the record."""
    applied = apply_table(hub, table, region)
    assert applied.reply["hash"] == applied.expected_hash
    return applied.reply


def two_records() -> list[bytes]:
    """Two valid, different configuration records: the 2018 table for north, and the same
    with at most 4 channel changes a week (the shipped tables' regions share their values)."""
    from dbch.gbcs.subghz_config import SubGhzConfig

    t = get_table("sec-2018-03-r1")
    values = t.region("north").config().values()
    first = agent_record(SubGhzConfig.from_values(values), t.regulatory)
    values[6] = 4  # max_channel_changes_per_week
    return [first, agent_record(SubGhzConfig.from_values(values), t.regulatory)]


class MicroPython:
    """A MicroPython unix VM running tests/mp_harness.py with firmware/ on its path: firmware
    modules exercised in the real VM, one request line in, one answer line out."""

    def __init__(self, heap: str = "256K"):
        self.proc = subprocess.Popen(
            [MICROPYTHON, "-X", f"heapsize={heap}", str(ROOT / "tests" / "mp_harness.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "DBCH_FIRMWARE": str(paths.firmware_dir())},
        )

    def ask(self, line: str) -> tuple[str, str]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().decode().rstrip("\n")
        if not answer:
            raise RuntimeError(f"MicroPython harness died on {line[:80]!r}")
        status, _, rest = answer.partition(" ")
        return status, rest

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def own_twin_or_unix(board: str) -> str | None:
    """The board's own twin (None) where MicroPython's source can build it, else the unix
    twin: for tests about the agent or a driver rather than about the board's build."""
    from dbch.boards.definitions import get_board
    from dbch.boards.mpsource import missing_reason

    if get_board(board).sim.twin == "qemu" and missing_reason():
        return "unix"
    return None


class LostReplyThenReset:
    """The first signed request runs on the board, then its reply is 'lost' and the board
    resets (a power cut right after the change); the host resends the same bytes, as its
    retry does. What the host then reports is what the test checks."""

    def __init__(self, hub: Any, board: Any, between: Any = None):
        self.hub, self.board, self.between = hub, board, between
        self.real = hub.link.request
        self.done = False

    def __call__(self, command: str, args: Any = None, **kw: Any) -> Any:
        if command != "auth" or self.done:
            return self.real(command, args, **kw)
        self.done = True
        self.real(command, args, **kw)  # accepted and run; its reply never reaches the host
        self.board.reset()
        self.hub.wait_ready()
        if self.between is not None:
            self.between()
        return self.real(command, args, **kw)  # the same bytes: refused as a repeat


# Read on the host: a stopped simulated board's flash image mounted with MicroPython's own
# littlefs (the unix port), every file's SHA-256, or the error littlefs gives.
_FLASH_LISTING = """
import vfs, os, sys, hashlib, binascii
class BD:
    def __init__(s, f, bs): s.f = f; s.bs = bs; s.n = f.seek(0, 2) // bs
    def readblocks(s, b, buf, off=0): s.f.seek(b * s.bs + off); s.f.readinto(buf)
    def writeblocks(s, b, buf, off=0): raise OSError(30)
    def ioctl(s, op, arg): return {4: s.n, 5: s.bs}.get(op, 0)
vfs.mount(vfs.VfsLfs2(BD(open(sys.argv[1], "rb"), int(sys.argv[2]))), "/m", readonly=True)
def walk(d):
    for name, typ, *_ in os.ilistdir(d):
        p = d + "/" + name
        if typ == 0x4000:
            walk(p)
        else:
            h = hashlib.sha256(open(p, "rb").read()).digest()
            print(p[3:], binascii.hexlify(h).decode())
walk("/m")
"""


def flash_files(board: Any) -> dict[str, str]:
    """{path: sha256} of every file on `board`'s flash (a stopped simulated board)."""
    from dbch.boards.definitions import get_board
    from dbch.sim.twins import micropython_executable

    bs = get_board(board.board).sim.fs_block_size
    out = subprocess.run(
        [micropython_executable(), "-c", _FLASH_LISTING, str(board.folder.flash), str(bs)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if out.returncode:
        raise AssertionError(f"the flash image does not mount: {out.stderr.strip()[-300:]}")
    return dict(line.split() for line in out.stdout.splitlines())
