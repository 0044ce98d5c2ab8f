"""A board's 32-bit QEMU twin: MicroPython's qemu port (MPS2-AN385, a Cortex-M3) built
with the board's features and GC heap, the agent frozen where the board freezes it, and the
twin's own parts (sim/qemu: its C module and start-up header; sim/rom: the ROM modules,
frozen). The sim layer builds it on top of boards/firmware.py (sources, manifests, budgets);
boards/ never reaches into sim/."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from dbch import paths
from dbch.boards.firmware import (
    FirmwareError,
    Progress,
    board_c_modules,
    board_folder,
    board_manifest,
    build_board_image,
    build_lock,
    check_toolchain,
    empty_lib_dir,
    micropython_source,
    prune,
    run_step,
    start_build,
    tree_digest,
)


def twin_dir() -> Path:
    """The twin's own parts: its C module and start-up header, and its frozen ROM."""
    return Path(__file__).resolve().parent / "qemu"


def _board_float_impl(folder: Path | None) -> str:
    if folder is not None:
        m = re.search(
            r"^MICROPY_FLOAT_IMPL\s*=\s*(\w+)", (folder / "mpconfigboard.mk").read_text(), re.M
        )
        if m:
            return m.group(1)
    return "float"


def build_qemu_twin(
    board_id: str, heap_bytes: int | None = None, progress: Progress | None = None
) -> Path:
    """A Cortex-M3 (MPS2-AN385) MicroPython image that stands in for `board_id`: the same
    feature fragment and float setting as the board's image, the agent frozen where the
    board has it frozen, the twin's ROM frozen beside it, and the GC heap of the board's own
    build (read from its linker map; `heap_kb` for boards whose image is not built here)
    unless `heap_bytes` says otherwise. Returns the ELF; cached."""
    from dbch.boards.definitions import get_board

    say = progress or (lambda _m: None)
    board = get_board(board_id)
    src, src_key = micropython_source(say)
    check_toolchain()  # after the source, whose absence is the advice that matters
    try:
        folder: Path | None = board_folder(board_id)
    except FirmwareError:
        folder = None  # no image of its own: the stock qemu features, the board's heap
    if heap_bytes is None:
        heap_bytes = (
            build_board_image(board_id, progress=say).heap if folder else board.heap_kb * 1024
        )
    rom = Path(__file__).resolve().parent / "rom"
    # The agent is frozen where the board's image freezes it; elsewhere it runs from .mpy
    # files on the twin's flash, as on the board (dbch deploy copies them).
    agent = board_manifest(board_id) if "frozen_agent" in board.features else ""
    frozen = agent + "".join(
        f"module({name!r}, base_path={str(base)!r})\n"
        for name, base in (
            ("simmachine.py", rom),
            ("simstm.py", rom),
            ("simrom.py", rom),
            ("_twin_boot.py", twin_dir() / "rom"),
            ("twinrom.py", twin_dir() / "rom"),
        )
    )
    includes = [f"-include {folder / 'dbch_features.h'}"] if folder else []
    includes.append(f"-include {twin_dir() / 'twin' / 'twin.h'}")
    includes.append(f"-DDBCH_TWIN_TIME_C='\"{twin_dir() / 'twin' / 'modtime_twin.c'}\"'")
    make_vars = {
        "BOARD": "MPS2_AN385",
        "MICROPY_HEAP_SIZE": str(heap_bytes),
        "MICROPY_FLOAT_IMPL": _board_float_impl(folder),
        "MICROPY_VFS_LFS2": "1",
        "MICROPY_HW_ROMFS_PART0_START": "",  # no ROMFS: the board has none
        # the twin's own module, then the board's (the WL55's main.py hook: the same start)
        "USER_C_MODULES": " ".join([str(twin_dir() / "twin"), *board_c_modules(folder)]),
        "CFLAGS_EXTRA": " ".join(includes),
        "MPY_LIB_DIR": str(empty_lib_dir()),
    }
    h = hashlib.sha256(src_key.encode())
    if folder:
        tree_digest(h, folder)
    tree_digest(h, paths.firmware_dir(), "*.py")
    tree_digest(h, twin_dir())
    tree_digest(h, rom, "*.py")
    h.update((frozen + json.dumps(make_vars, sort_keys=True)).encode())
    out = paths.build_dir() / "firmware" / f"{board_id}-qemu-{h.hexdigest()[:12]}"
    elf = out / "build" / "firmware.elf"
    if elf.exists():
        return elf
    with build_lock(say):
        if not elf.exists():  # or another process built it meanwhile
            _build(board_id, src, out, frozen, make_vars, heap_bytes, say)
    return elf


def _build(
    board_id: str,
    src: Path,
    out: Path,
    frozen: str,
    make_vars: dict[str, str],
    heap_bytes: int,
    say: Progress,
) -> None:
    log, manifest = start_build(out, src, frozen)
    say(f"building the {board_id} QEMU twin (ports/qemu, heap {heap_bytes:,} B; ~20 s)")
    run_step(
        [
            "make",
            "-C",
            str(src / "ports" / "qemu"),
            f"-j{os.cpu_count() or 2}",
            f"BUILD={out / 'build'}",
            f"FROZEN_MANIFEST={manifest}",
            *(f"{k}={v}" for k, v in make_vars.items()),
        ],
        log,
        f"the {board_id} QEMU twin build",
        say,
    )
    prune(out)
