"""`dbch firmware build` (what `make firmware BOARD=X` runs): a board's MicroPython image
with the agent frozen in, and its flash and RAM budgets read from the build.
`dbch firmware source` (what `make micropython` runs): where MicroPython's source comes
from, how it differs from the pins, and fetching the pinned commits."""

from __future__ import annotations

import argparse

from dbch.boards import mpsource
from dbch.boards.definitions import get_board
from dbch.boards.firmware import build_board_image, cached_builds
from dbch.cli.printing import print_json, progress
from dbch.sim.twin_image import build_qemu_twin


def do_firmware(args: argparse.Namespace) -> int:
    if args.firmware_verb == "source":
        return _source(args)
    if args.twin:
        elf = build_qemu_twin(args.board, progress=progress)
        if args.json:
            print_json({"board": args.board, "port": "qemu", "elf": str(elf)})
        else:
            print(f"{args.board} QEMU twin (ports/qemu, MPS2-AN385): {elf}")
        return 0
    report = build_board_image(args.board, progress=progress, force=args.force)
    report.check_fits(get_board(args.board).code_spare_min)
    if args.json:
        print_json(report.as_dict())
        return 0
    print(report.summary())
    width = max(len(m) for m in report.modules) if report.modules else 0
    print("\nfrozen modules (.mpy bytes):")
    for name, size in sorted(report.modules.items(), key=lambda kv: -kv[1]):
        print(f"  {name.ljust(width)}  {size:6,}")
    return 0


def _source(args: argparse.Namespace) -> int:
    if args.fetch:
        where = mpsource.fetch(args.dir, force=args.force, progress=progress)
        if args.dir:
            progress(f"use it with MICROPYTHON_DIR={where}")
            source = mpsource.check(where, "--dir")
        else:
            source = mpsource.find_source()
    else:
        source = mpsource.find_source()
    if args.write_manifest:
        builds = cached_builds(source.root)
        count = mpsource.write_manifest(source.root, builds)
        progress(
            f"{mpsource.manifest_file()}: {count:,} files, from {len(builds)} builds' "
            f"dependency files and the makefiles and generators that drive them"
        )
        source = mpsource.find_source()
    record = {
        "root": str(source.root),
        "origin": source.origin,
        "pinned": source.pinned,
        "differences": source.differences,
        "pins": {p.name: p.commit for p in mpsource.pins()},
    }
    if args.json:
        print_json(record)
    elif source.pinned:
        print(f"MicroPython source: {source.root} ({source.origin}), the pinned commits")
    else:
        print(source.warning())
    return 0
