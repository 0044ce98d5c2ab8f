"""Building MicroPython firmware with the agent frozen in, and reading its budgets.

`make firmware BOARD=NUCLEO_WL55` (dbch firmware build) builds the board's image from a
MicroPython source tree found by boards/mpsource.py (`MICROPYTHON_DIR`, else the default
checkout that `make micropython` clones; never inside this repository). The port gets one
project-owned board folder (`boards/<ID>/micropython/`: configuration, linker script, the
feature fragment shared with the board's QEMU twin); MicroPython's own tree is never edited.

Budgets are read from the build, never estimated: text + data from the ELF, the code
region's end (where the filesystem starts), the filesystem and the GC heap from the linker
map. A build whose code reaches the filesystem fails, with the figures. Builds are cached
by a key over the sources, the board folder, the agent and the make arguments.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dbch import paths
from dbch.boards.mpsource import find_source
from dbch.errors import DbchError

TOOLCHAIN = ("arm-none-eabi-gcc", "arm-none-eabi-size")
Progress = Callable[[str], None]


class FirmwareError(DbchError):
    """Firmware could not be built, or does not fit its board."""


# --- sources ---------------------------------------------------------------------------
def micropython_source(progress: Progress | None = None) -> tuple[Path, str]:
    """(the MicroPython tree, a key naming the contents the builds read): MICROPYTHON_DIR
    or the default checkout (boards/mpsource.py); a tree that differs from the pins is
    used with a warning naming the difference."""
    source = find_source()
    if source.differences and progress and source.root not in _warned:
        _warned.add(source.root)  # once per process, not once per build step
        progress(source.warning())
    return source.root, source.key


_warned: set[Path] = set()


_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


# A long build says how far it is this often (the WL55's first build: over a minute).
HEARTBEAT_S = 10.0


def run_step(cmd: list[str], log: Path, what: str, say: Progress | None = None) -> None:
    """One build command, its output appended to `log`; FirmwareError saying why it failed
    (an image that does not fit says by how much). `say` hears every HEARTBEAT_S how long
    it has run and the last file it compiled."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        began = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        while True:
            try:
                rc = proc.wait(HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                if say is not None:
                    say(f"  {what}: {time.monotonic() - began:.0f} s, {_last_step(log)}")
    if rc != 0:
        text = log.read_text(errors="replace")
        over = _OVERFLOW.search(text)
        if over and over.group(1) == "FLASH":
            # Our linker scripts end the code region where the filesystem begins.
            raise FirmwareError(
                f"{what}: the image does not fit: its code is {int(over.group(2)):,} B over "
                f"the code region, which ends where the filesystem begins (log {log})"
            )
        tail = text.splitlines()[-15:]
        raise FirmwareError(f"{what} failed (exit {rc}); log {log}:\n" + "\n".join(tail))


def _last_step(log: Path) -> str:
    """The build's latest compile or link line ("CC ../../py/vm.c"), for progress."""
    with log.open("rb") as f:
        f.seek(max(0, log.stat().st_size - 4096))
        lines = f.read().decode(errors="replace").splitlines()
    steps = [x.strip() for x in lines if x.strip().split(" ")[0] in ("CC", "LINK", "MPY", "GEN")]
    return steps[-1] if steps else "starting"


def check_toolchain() -> None:
    missing = [t for t in TOOLCHAIN if shutil.which(t) is None]
    if missing:
        raise FirmwareError(
            f"{', '.join(missing)} not found: scripts/setup-debian.sh installs the toolchain"
        )


def mpy_cross(src: Path, log: Path) -> Path:
    """MicroPython's own mpy-cross, built in the source tree (the port's build wants it)."""
    exe = src / "mpy-cross" / "build" / "mpy-cross"
    if not exe.is_file():
        jobs = f"-j{os.cpu_count() or 2}"
        run_step(["make", "-C", str(src / "mpy-cross"), jobs], log, "mpy-cross")
    return exe


def empty_lib_dir() -> Path:
    """micropython-lib is not used (our manifests require nothing from it), but the
    manifest tool wants MPY_LIB_DIR/README.md to exist."""
    d = paths.build_dir() / "micropython" / "no-micropython-lib"
    d.mkdir(parents=True, exist_ok=True)
    (d / "README.md").write_text("micropython-lib is not used by the DBCH agent builds.\n")
    return d


# --- reading a build ---------------------------------------------------------------------
@dataclass
class ImageReport:
    """What a build produced and what is left, read from the ELF and the linker map."""

    board: str
    port: str
    elf: str
    text: int
    data: int
    bss: int
    flash_start: int
    code_end: int  # where the code region ends: the filesystem's start
    fs_start: int
    fs_end: int
    heap_start: int
    heap_end: int
    frozen: int  # bytes of frozen_content.o (the agent and its drivers, frozen)
    modules: dict[str, int] = field(default_factory=dict)  # frozen module -> .mpy bytes
    pystack: int = 0  # the Python stack the board's linker script reserves (none: 0)

    @property
    def code(self) -> int:
        return self.text + self.data

    @property
    def code_limit(self) -> int:
        return self.code_end - self.flash_start

    @property
    def spare(self) -> int:
        return self.code_limit - self.code

    @property
    def heap(self) -> int:
        return self.heap_end - self.heap_start

    @property
    def fs_bytes(self) -> int:
        return self.fs_end - self.fs_start

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d.update(
            code=self.code,
            code_limit=self.code_limit,
            spare=self.spare,
            heap=self.heap,
            fs_bytes=self.fs_bytes,
        )
        return d

    def check_fits(self, need_spare: int = 0) -> None:
        """FirmwareError with the figures when text + data reaches the filesystem, or leaves
        less than `need_spare` (the board's budget) below it."""
        if self.spare < 0:
            raise FirmwareError(
                f"{self.board} image does not fit: text + data {self.code:,} B, code region "
                f"{self.code_limit:,} B (filesystem at 0x{self.fs_start:08X}): "
                f"{-self.spare:,} B over"
            )
        if self.spare < need_spare:
            raise FirmwareError(
                f"{self.board} image is over its budget: {self.spare:,} B spare below the "
                f"filesystem, the board's definition asks {need_spare:,} B (budget.code_spare)"
                f": {need_spare - self.spare:,} B short"
            )

    def summary(self) -> str:
        return (
            f"{self.board} ({self.port}): text + data {self.code:,} B of {self.code_limit:,} B "
            f"code flash, {self.spare:,} B spare; filesystem {self.fs_bytes // 1024} KB at "
            f"0x{self.fs_start:08X}; frozen agent {self.frozen:,} B; GC heap {self.heap:,} B "
            f"(0x{self.heap_start:08X}-0x{self.heap_end:08X})"
            + (f"; Python stack {self.pystack:,} B" if self.pystack else "")
        )


_SYMBOL = re.compile(r"^\s+0x([0-9a-f]+)\s+(\w+) = ", re.M)


def map_symbols(map_text: str) -> dict[str, int]:
    """Linker-script symbols (`name = expression` lines) with the values the link gave."""
    return {m.group(2): int(m.group(1), 16) for m in _SYMBOL.finditer(map_text)}


def elf_sizes(elf: Path) -> tuple[int, int, int]:
    out = subprocess.run(
        ["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    text, data, bss = (int(x) for x in out.splitlines()[1].split()[:3])
    return text, data, bss


def frozen_modules(build: Path) -> dict[str, int]:
    """The frozen modules' compiled sizes (the .mpy files the manifest produced)."""
    root = build / "frozen_mpy"
    return {
        str(p.relative_to(root).with_suffix("")).replace("/", "."): p.stat().st_size
        for p in sorted(root.rglob("*.mpy"))
    }


def read_report(board: str, port: str, build: Path) -> ImageReport:
    elf = build / "firmware.elf"
    syms = map_symbols((build / "firmware.map").read_text())
    text, data, bss = elf_sizes(elf)
    frozen_o = build / "frozen_content.o"
    frozen = elf_sizes(frozen_o)[0] if frozen_o.exists() else 0
    fs_start = syms.get("_micropy_hw_internal_flash_storage_start", 0)
    return ImageReport(
        board=board,
        port=port,
        elf=str(elf),
        text=text,
        data=data,
        bss=bss,
        flash_start=0x08000000 if port == "stm32" else 0,
        code_end=fs_start,
        fs_start=fs_start,
        fs_end=syms.get("_micropy_hw_internal_flash_storage_end", 0),
        heap_start=syms["_heap_start"],
        heap_end=syms["_heap_end"],
        frozen=frozen,
        modules=frozen_modules(build),
        pystack=syms.get("_dbch_pystack_end", 0) - syms.get("_dbch_pystack_start", 0),
    )


# --- building ----------------------------------------------------------------------------
def board_folder(board_id: str) -> Path:
    d = paths.boards_dir() / board_id / "micropython"
    if not (d / "mpconfigboard.mk").is_file():
        raise FirmwareError(f"board {board_id} has no MicroPython board folder ({d})")
    return d


def board_manifest(board_id: str) -> str:
    """A freeze manifest for one board: the whole agent, its build info (the sources'
    hash, which hello reports), and of the radio drivers the core and the ones the board's
    chip needs (firmware/manifest.py freezes every driver). Writes the build info module
    into build/firmware/gen/."""
    from dbch.boards.chips import chip as chip_spec
    from dbch.boards.definitions import get_board
    from dbch.boards.deploy import build_info_module

    chip = get_board(board_id).radio.chip
    drivers = ("__init__", "core", *chip_spec(chip).modules)
    fw = paths.firmware_dir()
    # Not the pure-Python CRC-32: these images have binascii.crc32 (dbch_features.h keeps
    # deflate for it; tests/test_firmware_image.py checks), and flash is short
    agent = tuple(sorted(p.name for p in (fw / "dbchagent").glob("*.py") if p.name != "crc32.py"))
    gen = paths.build_dir() / "firmware" / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    info = build_info_module()
    if not (gen / "dbch_build.py").exists() or (gen / "dbch_build.py").read_text() != info:
        (gen / "dbch_build.py").write_text(info)
    return (
        f"# Generated by dbch firmware for {board_id} (radio {chip}). Do not edit.\n"
        'metadata(description="DBCH configuration agent", version="0.1.0")\n'
        f'package("dbchagent", files={agent!r}, base_path={str(fw)!r}, opt=3)\n'
        f'package("subghz", files={tuple(d + ".py" for d in drivers)!r}, '
        f"base_path={str(fw)!r}, opt=3)\n"
        f'module("dbch_build.py", base_path={str(gen)!r})\n'
    )


def tree_digest(h: hashlib._Hash, root: Path, pattern: str = "*") -> None:
    for p in sorted(root.rglob(pattern)):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())


def build_board_image(
    board_id: str,
    manifest: Path | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> ImageReport:
    """The board's MicroPython image (stm32 port) with the agent frozen in: built, or taken
    from the cache when nothing it is made of changed. Fails if it does not fit."""
    say = progress or (lambda _m: None)
    # The source first: CI never has it, while `make` installs the toolchain
    src, src_key = micropython_source(say)
    check_toolchain()
    folder = board_folder(board_id)
    frozen = manifest.read_text() if manifest else board_manifest(board_id)
    h = hashlib.sha256(src_key.encode())
    tree_digest(h, folder)
    tree_digest(h, paths.firmware_dir(), "*.py")
    h.update(frozen.encode())
    out = paths.build_dir() / "firmware" / f"{board_id}-stm32-{h.hexdigest()[:12]}"
    report_file = out / "report.json"
    if report_file.exists() and not force:
        return ImageReport(**json.loads(report_file.read_text())["image"])
    with build_lock(say):
        if report_file.exists() and not force:  # built meanwhile by another process
            return ImageReport(**json.loads(report_file.read_text())["image"])
        return _build_board_image(board_id, src, folder, frozen, out, say)


def _build_board_image(
    board_id: str, src: Path, folder: Path, frozen: str, out: Path, say: Progress
) -> ImageReport:
    report_file = out / "report.json"
    log, manifest = start_build(out, src, frozen)
    # The board folder the port is given: ours, plus the pin names of MicroPython's board
    # of the same name (data the port's make-pins step reads from the board folder).
    bdir = out / "board" / board_id
    shutil.copytree(folder, bdir)
    shutil.copy(src / "ports" / "stm32" / "boards" / board_id / "pins.csv", bdir / "pins.csv")
    say(f"building the {board_id} image (ports/stm32, agent frozen; about a minute)")
    run_step(
        [
            "make",
            "-C",
            str(src / "ports" / "stm32"),
            f"-j{os.cpu_count() or 2}",
            f"BOARD_DIR={bdir}",
            f"BUILD={out / 'build'}",
            f"FROZEN_MANIFEST={manifest}",
            f"MPY_LIB_DIR={empty_lib_dir()}",
            f"USER_C_MODULES={' '.join(board_c_modules(bdir))}",
        ],
        log,
        f"the {board_id} build",
        say,
    )
    report = read_report(board_id, "stm32", out / "build")
    report_file.write_text(json.dumps({"image": asdict(report)}, indent=1))
    prune(out)
    return report


def board_c_modules(folder: Path | None) -> list[str]:
    """The board folder's C modules (each a subfolder with a micropython.mk, such as the
    WL55's main_py), built into its image and its QEMU twin alike."""
    return sorted(str(p.parent) for p in folder.glob("*/micropython.mk")) if folder else []


@contextlib.contextmanager
def build_lock(say: Progress) -> Iterator[None]:
    """One build at a time on this machine (test workers, a bench beside a test run): two
    builds of the same image would clear each other's folder, and mpy-cross is built in
    the shared source tree. Callers check the cache again once they hold it."""
    folder = paths.build_dir() / "firmware"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("waiting for another firmware build on this machine")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def start_build(out: Path, src: Path, frozen: str) -> tuple[Path, Path]:
    """A build folder made afresh: mpy-cross ready, the freeze manifest written; (its log,
    the manifest)."""
    log = out / "build.log"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    mpy_cross(src, log)
    manifest = out / "manifest.py"
    manifest.write_text(frozen)
    return log, manifest


def cached_builds(src: Path) -> list[tuple[Path, str]]:
    """Each cached image's and twin's build folder, and mpy-cross's in the source, with the
    folder of `src` its make ran in."""
    found = [
        (build, "ports/" + build.parent.name.split("-")[-2])  # BOARD-stm32-KEY, BOARD-qemu-KEY
        for build in sorted((paths.build_dir() / "firmware").glob("*-*-*/build"))
    ]
    return [*found, (src / "mpy-cross" / "build", "mpy-cross")]


def prune(keep: Path) -> None:
    """Other cached builds of the same board and port: a build is 20-40 MB."""
    stem = keep.name.rsplit("-", 1)[0]
    for old in keep.parent.glob(f"{stem}-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
