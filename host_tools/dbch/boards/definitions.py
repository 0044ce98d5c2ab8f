"""Board definitions: boards/<BOARD_ID>/board.json, checked against a schema.

A board is data (identity, MCU, memory, radio wiring, features, simulated twin). Adding a
board adds files, not code. `board_module()` turns a definition into the small Python
module deployed as lib/dbch_board.py, so the device never parses JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbch import paths
from dbch.boards import DEFAULT_BOARD  # noqa: F401  (re-exported)
from dbch.boards.chips import CHIPS, SPI_TEMPLATE
from dbch.boards.chips import chip as chip_spec
from dbch.datafile import Fields
from dbch.errors import BoardDefinitionError

# The radio chips, one entry each: boards/chips.py.
PIN_ROLES = ("nss", "reset", "busy", "dio0", "dio1", "gdo0", "gdo2")
RF_SWITCHES = ("none", "dio2", "gpio")
FEATURES = frozenset({"watchdog", "rtc", "unique_id", "tcxo", "frozen_agent", "freq_readback"})
# The 64-bit unix VM stores objects in about twice the bytes of a 32-bit MCU
# (docs/boards.md): a simulated twin's firmware budget is the board's real heap doubled.
SIM_HEAP_FACTOR = 2
# The simulated board's ROM (machine.SPI/Pin, the flash driver, the bridge: C in flash on a
# real board) is MicroPython on a twin and lives in its heap; the VM gets this much on top
# of the firmware's budget so that the firmware keeps all of its own. Measured at about
# 12.2 KB with the REPL; tests/test_sim_board.py keeps the ROM inside it.
SIM_ROM_RESERVE_KB = 13
# Boards with at least this much heap keep command modules loaded after their first use
# (KEEP_MODULES in dbch_board): loading one from flash costs more than the request itself.
# Smaller boards (the 45 KB NUCLEO_WL55) load them per request and free them afterwards.
KEEP_MODULES_MIN_HEAP_KB = 128


@dataclass(frozen=True)
class RadioWiring:
    chip: str
    spi: str  # bus id as the port's machine.SPI takes it ("1", "SUBGHZ")
    baudrate: int
    pins: dict[str, str]  # role -> pin name (as machine.Pin takes it)
    tcxo_mv: int  # 0: crystal, no TCXO
    rf_switch: str
    rf_switch_pins: dict[str, str]
    xtal_hz: int

    @property
    def driver(self) -> tuple[str, str]:
        return chip_spec(self.chip).driver


TWIN_KINDS = ("unix", "qemu")


CONSOLE_KINDS = ("uart", "usb_cdc")


@dataclass(frozen=True)
class Console:
    """The board's REPL console as the host meets it. `uart`: a UART at `baud` (through a
    USB-serial bridge such as the ST-LINK or a CP2102), no flow control: the MCU keeps
    `rx_buffer` bytes it has not read yet and loses the rest. `usb_cdc`: the MCU's own USB,
    flow-controlled (the host's writes wait), at USB's rate. Both twins behave as the kind
    says (sim/console.py)."""

    kind: str = "usb_cdc"
    baud: int = 0  # uart only
    rx_buffer: int = 0  # uart only: the port's receive ring (bytes)
    source: str = ""

    @property
    def bytes_per_s(self) -> float | None:
        """The wire's rate (8N1: ten bits a byte), or None: not paced (USB)."""
        return self.baud / 10 if self.kind == "uart" else None


@dataclass(frozen=True)
class SimTwin:
    """The board's simulated twin. `unix`: the MicroPython unix VM (64-bit, host speed,
    the agent as .mpy files in flash; `heap_kb`, `fs_kb` apply). `qemu`: a Cortex-M3
    MicroPython image run in QEMU, built with the board's features and its real heap, the
    agent frozen in, the board's own filesystem size (docs/boards.md, "Twin kinds")."""

    heap_kb: int
    fs_kb: int
    fs_block_size: int
    note: str
    twin: str = "unix"


@dataclass(frozen=True)
class BoardDef:
    id: str
    name: str
    mcu: str
    ram_kb: int
    flash_kb: int
    heap_kb: int
    fs_kb: int
    fs_block_size: int
    radio: RadioWiring
    antenna_gain_dbi: float
    max_tx_dbm: int
    features: frozenset[str]
    sim: SimTwin
    sources: tuple[str, ...] = ()
    event_log_kb: int = 4  # each of the agent's two event log files (sized by the FS)
    # The physical unlock (docs/security.md): this pin at this level during reset lifts a
    # locked board's lock until the next reset. None: only a signed unlock does.
    unlock_pin: str | None = None
    unlock_level: int = 0
    # sys.implementation._machine of the MicroPython image the board runs (board name
    # " with " MCU name, from the port's board definition): how a blank board is known
    machine: str = ""
    # code flash the board's own image must leave spare below its filesystem (bytes; 0:
    # the image only has to fit). `dbch firmware build` fails below it.
    code_spare_min: int = 0
    console: Console = field(default_factory=Console)
    path: Path = field(default=Path(), compare=False)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "mcu": self.mcu,
            "machine": self.machine,
            "ram_kb": self.ram_kb,
            "heap_kb": self.heap_kb,
            "fs_kb": self.fs_kb,
            "radio": self.radio.chip,
            "max_tx_dbm": self.max_tx_dbm,
            "features": sorted(self.features),
            "sim": {
                "twin": self.sim.twin,
                "heap_kb": self.sim.heap_kb,
                "fs_kb": self.sim.fs_kb,
                "note": self.sim.note,
            },
        }


def _pin(f: Fields, name: str) -> str:
    value = f.get(name, (int, str))
    return str(value)


def parse_board(data: Any, file: str, folder_name: str | None = None) -> BoardDef:
    """Validate one board definition; raises BoardDefinitionError naming file and field."""
    f = Fields(data, file, error=BoardDefinitionError)
    f.only(
        {
            "id",
            "name",
            "mcu",
            "machine",
            "ram_kb",
            "flash_kb",
            "heap_kb",
            "filesystem",
            "radio",
            "antenna_gain_dbi",
            "max_tx_dbm",
            "features",
            "sim",
            "budget",
            "console",
            "sources",
            "unlock",
        }
    )
    board_id = f.text("id")
    if folder_name is not None and board_id != folder_name:
        f.fail("id", f"must match its folder name {folder_name!r}")
    if not board_id.replace("_", "").isalnum() or board_id.upper() != board_id:
        f.fail("id", "must be upper case letters, digits and _")
    ram_kb = f.integer("ram_kb", 16, 1 << 20)
    heap_kb = f.integer("heap_kb", 8, ram_kb)
    fs = f.table("filesystem")
    fs.only({"size_kb", "block_size", "event_log_kb"})
    block = fs.integer("block_size", 256, 65536)
    if block & (block - 1):
        fs.fail("block_size", "must be a power of two")
    fs_kb = fs.integer("size_kb", 8, 1 << 20)
    if fs_kb * 1024 // block < 6:
        fs.fail("size_kb", f"littlefs needs at least 6 blocks of {block} bytes")

    r = f.table("radio")
    r.only(
        {
            "chip",
            "spi",
            "baudrate",
            "sck",
            "mosi",
            "miso",
            "tcxo_mv",
            "rf_switch",
            "rf_switch_pins",
            *PIN_ROLES,
        }
    )
    chip = r.text("chip", choices=CHIPS)
    spec = CHIPS[chip]
    for role in spec.pins:
        if not r.has(role):
            r.fail(role, f"required for {chip}")
    for role in spec.forbid:
        if r.has(role):
            r.fail(role, f"{chip} has no such external pin")
    if spec.spi_pins:
        for role in ("sck", "mosi", "miso"):
            if not r.has(role):
                r.fail(role, f"required for {chip}")
    pins = {role: _pin(r, role) for role in (*PIN_ROLES, "sck", "mosi", "miso") if r.has(role)}
    rf_switch = r.text("rf_switch", default="none", choices=RF_SWITCHES)
    sw = r.table("rf_switch_pins", default={})
    sw_pins = {k: _pin(sw, k) for k, _ in sw.items()}
    if rf_switch == "gpio" and not sw_pins:
        r.fail("rf_switch_pins", "required when rf_switch is gpio")
    radio = RadioWiring(
        chip=chip,
        spi=str(r.get("spi", (int, str))),
        baudrate=r.integer("baudrate", 100_000, 20_000_000, default=8_000_000),
        pins=pins,
        tcxo_mv=r.integer("tcxo_mv", 0, 3300, default=0),
        rf_switch=rf_switch,
        rf_switch_pins=sw_pins,
        xtal_hz=spec.xtal_hz,
    )

    features = f.array("features", default=[])
    for i, feat in enumerate(features):
        if feat not in FEATURES:
            f.fail(f"features[{i}]", f"unknown feature {feat!r}")
    s = f.table("sim", default={})
    s.only({"heap_kb", "fs_kb", "note", "twin"})
    sim_fs = s.integer("fs_kb", 8, 1 << 20, default=fs_kb)
    sim = SimTwin(
        heap_kb=s.integer("heap_kb", 16, 1 << 20, default=heap_kb * SIM_HEAP_FACTOR),
        fs_kb=sim_fs,
        fs_block_size=block,
        note=s.text("note", default=""),
        twin=s.text("twin", default="unix", choices=TWIN_KINDS),
    )
    if sim.fs_kb * 1024 // block < 6:
        s.fail("fs_kb", f"littlefs needs at least 6 blocks of {block} bytes")
    c = f.table("console", default={})
    c.only({"kind", "baud", "rx_buffer", "source"})
    kind = c.text("kind", default="usb_cdc", choices=CONSOLE_KINDS)
    if kind == "uart":
        console = Console(
            kind=kind,
            baud=c.integer("baud", 300, 4_000_000),
            rx_buffer=c.integer("rx_buffer", 16, 1 << 16),
            source=c.text("source", default=""),
        )
    else:
        for name in ("baud", "rx_buffer"):
            if c.has(name):
                c.fail(name, "only for a uart console")
        console = Console(kind=kind, source=c.text("source", default=""))
    budget = f.table("budget", default={})
    budget.only({"code_spare", "note"})
    unlock = f.table("unlock", default={})
    unlock.only({"pin", "level", "note"})
    unlock_pin = _pin(unlock, "pin") if unlock.has("pin") else None
    return BoardDef(
        id=board_id,
        name=f.text("name"),
        mcu=f.text("mcu"),
        ram_kb=ram_kb,
        flash_kb=f.integer("flash_kb", 16, 1 << 24),
        heap_kb=heap_kb,
        fs_kb=fs_kb,
        fs_block_size=block,
        radio=radio,
        antenna_gain_dbi=float(f.number("antenna_gain_dbi", default=0)),
        max_tx_dbm=f.integer("max_tx_dbm", -20, 30),
        features=frozenset(features),
        sim=sim,
        sources=tuple(str(x) for x in f.array("sources", default=[])),
        event_log_kb=fs.integer("event_log_kb", 1, 64, default=4),
        unlock_pin=unlock_pin,
        unlock_level=unlock.integer("level", 0, 1, default=0),
        machine=f.text("machine", default=""),
        code_spare_min=budget.integer("code_spare", 0, 1 << 20, default=0),
        console=console,
    )


def load_board_file(path: Path) -> BoardDef:
    file = _display(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BoardDefinitionError(file, "", "not found") from None
    except json.JSONDecodeError as e:
        raise BoardDefinitionError(
            file, "", f"not valid JSON (line {e.lineno}: {e.msg})"
        ) from None
    board = parse_board(data, file, path.parent.name)
    return _with_path(board, path)


def _with_path(board: BoardDef, path: Path) -> BoardDef:
    object.__setattr__(board, "path", path)
    return board


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(paths.project_root()))
    except ValueError:
        return str(path)


def all_boards(root: Path | None = None) -> list[BoardDef]:
    root = root or paths.boards_dir()
    return [load_board_file(p) for p in sorted(root.glob("*/board.json"))]


def get_board(board_id: str, root: Path | None = None) -> BoardDef:
    root = root or paths.boards_dir()
    path = root / board_id / "board.json"
    if not path.exists():
        known = ", ".join(b.name for b in sorted(root.iterdir()) if (b / "board.json").exists())
        raise BoardDefinitionError(str(board_id), "", f"no such board (known: {known})")
    return load_board_file(path)


def data_dir(board: BoardDef) -> str:
    """The agent's directory on the board: "data", or "" (the top directory) where the
    agent is frozen because the filesystem is small: a directory costs two blocks."""
    return "" if "frozen_agent" in board.features else "data"


def board_module(board: BoardDef, watchdog_ms: int = 0) -> str:
    """Source of dbch_board.py (in lib/, or beside main.py where the agent is frozen): the
    board as constants, and its radio as code that constructs the driver with the board's
    wiring (no dicts or lookups on the device).
    `watchdog_ms`: the agent starts the hardware watchdog with this timeout (0: not)."""
    r = board.radio
    module, cls = r.driver
    ids = {role: repr(_machine_id(name)) for role, name in r.pins.items()}
    baud = min(r.baudrate, chip_spec(r.chip).max_spi_hz)
    bus = repr(_machine_id(r.spi))
    spi = SPI_TEMPLATE.format(bus=bus, baud=baud, **ids) if "sck" in ids else ""
    switch = "None"
    if r.rf_switch == "gpio" and r.rf_switch_pins:
        names = [r.rf_switch_pins[k] for k in sorted(r.rf_switch_pins)]
        switch = "(" + ", ".join(f"Pin({_machine_id(n)!r}, Pin.OUT, value=0)" for n in names)
        switch += ",)"
    new = chip_spec(r.chip).new.format(
        cls=cls,
        spi=spi,
        bus=repr(_machine_id(r.spi)),
        tcxo_mv=r.tcxo_mv,
        rf_switch=r.rf_switch,
        max_tx=board.max_tx_dbm,
        switch_pins=switch,
        **ids,
    )
    return "\n".join(
        [
            f"# Generated by `dbch deploy` from boards/{board.id}/board.json. Do not edit.",
            f"BOARD_ID = {board.id!r}",
            f"RADIO_CHIP = {r.chip!r}",
            f"MAX_TX_DBM = {board.max_tx_dbm}",
            f"FEATURES = {tuple(sorted(board.features))!r}",
            f"WATCHDOG_MS = {watchdog_ms}",
            f"KEEP_MODULES = {board.heap_kb >= KEEP_MODULES_MIN_HEAP_KB}",
            f"EVENT_LOG_BYTES = {board.event_log_kb * 1024}",
            "# where the agent keeps its files (dbchagent/store.py)",
            f"DATA_DIR = {data_dir(board)!r}",
            "# held at this level during reset, lifts the lock (dbchagent/lock.py)",
            f"UNLOCK_PIN = {_machine_id(board.unlock_pin) if board.unlock_pin else None!r}",
            f"UNLOCK_LEVEL = {board.unlock_level}",
            "",
            "",
            "def radio():",
            "    # The board's radio driver, wired as board.json says",
            "    from machine import Pin, SPI",
            f"    from {module} import {cls}",
            "",
            f"    return {new}",
            "",
        ]
    )


def _machine_id(value: str) -> int | str:
    """Pin and bus ids as the port's machine module takes them: numbers stay numbers."""
    return int(value) if value.isdigit() else value
