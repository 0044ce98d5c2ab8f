"""`dbch firmware build` (what `make firmware BOARD=X` runs): a board's MicroPython image
with the agent frozen in, and its flash and RAM budgets read from the build."""

from __future__ import annotations

import argparse

from dbch.boards.firmware import build_board_image, build_qemu_twin
from dbch.cli.printing import print_json, progress


def do_firmware(args: argparse.Namespace) -> int:
    if args.twin:
        elf = build_qemu_twin(args.board, progress=progress)
        if args.json:
            print_json({"board": args.board, "port": "qemu", "elf": str(elf)})
        else:
            print(f"{args.board} QEMU twin (ports/qemu, MPS2-AN385): {elf}")
        return 0
    report = build_board_image(args.board, progress=progress, force=args.force)
    report.check_fits()
    if args.json:
        print_json(report.as_dict())
        return 0
    print(report.summary())
    width = max(len(m) for m in report.modules) if report.modules else 0
    print("\nfrozen modules (.mpy bytes):")
    for name, size in sorted(report.modules.items(), key=lambda kv: -kv[1]):
        print(f"  {name.ljust(width)}  {size:6,}")
    return 0
