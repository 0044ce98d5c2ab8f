"""`dbch boards`: the board definitions under boards/ and their simulated twins."""

from __future__ import annotations

import argparse

from dbch.boards.definitions import all_boards, get_board, load_board_file
from dbch.cli.printing import print_json, print_table
from dbch.output import key_values


def do_boards(args: argparse.Namespace) -> int:
    if args.boards_verb == "list":
        boards = all_boards()
        if args.json:
            print_json([b.summary() for b in boards])
        else:
            print_table(
                ["ID", "MCU", "RADIO", "HEAP", "FS", "SIM TWIN"],
                [
                    (
                        b.id,
                        b.mcu,
                        b.radio.chip,
                        f"{b.heap_kb} KB",
                        f"{b.fs_kb} KB",
                        (
                            f"qemu: the board's build, heap {b.heap_kb} KB, fs {b.fs_kb} KB"
                            if b.sim.twin == "qemu"
                            else f"unix: heap {b.sim.heap_kb} KB, fs {b.sim.fs_kb} KB"
                        ),
                    )
                    for b in boards
                ],
            )
    elif args.boards_verb == "show":
        b = get_board(args.id)
        if args.json:
            print_json({**b.summary(), "radio": vars(b.radio), "sources": list(b.sources)})
        else:
            r = b.radio
            print(
                key_values(
                    [
                        ("id", b.id),
                        ("name", b.name),
                        ("mcu", b.mcu),
                        ("micropython says", b.machine or "(not given)"),
                        ("ram / heap", f"{b.ram_kb} KB / {b.heap_kb} KB"),
                        ("filesystem", f"{b.fs_kb} KB in {b.fs_block_size} B blocks"),
                        ("radio", f"{r.chip} on SPI {r.spi}, driver {'.'.join(r.driver)}"),
                        (
                            "pins",
                            ", ".join(f"{k}={v}" for k, v in sorted(r.pins.items())) or "internal",
                        ),
                        ("tcxo", f"{r.tcxo_mv} mV" if r.tcxo_mv else "none (crystal)"),
                        ("rf switch", r.rf_switch),
                        ("max tx power", f"{b.max_tx_dbm} dBm"),
                        ("features", ", ".join(sorted(b.features))),
                        (
                            "simulated twin",
                            f"heap {b.sim.heap_kb} KB, filesystem {b.sim.fs_kb} KB",
                        ),
                        ("twin note", b.sim.note),
                    ]
                )
            )
    else:
        for f in args.files:
            load_board_file(f)
            print(f"{f}: ok")
    return 0
