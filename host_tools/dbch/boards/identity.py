"""What a board says it is, asked over its raw REPL (deploy's probe): which board
definition it is, and whether it is a simulated board. This is the one place that decides
"simulated" for a board with no agent yet: a real board answers with its image's
`sys.implementation._machine`; a twin's ROM also answers `machine.TWIN_OF`, the board it
stands in for (the host never asks the bench)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dbch.boards.definitions import BoardDef


@dataclass(frozen=True, kw_only=True)
class Identity:
    board: str | None  # the board definition's id; None: not known from the answer
    simulated: bool
    machine: str  # sys.implementation._machine
    candidates: tuple[str, ...] = ()  # boards whose image answers this machine string


def identify(answer: dict, boards: Iterable[BoardDef]) -> Identity:
    """The board behind a probe `answer` (deploy's: `board` from its dbch_board module,
    `twin_of` from a twin's ROM, `machine`)."""
    machine = str(answer.get("machine") or "")
    twin_of = answer.get("twin_of")
    named = answer.get("board") or twin_of  # its board module, else what a twin stands in for
    if named:
        return Identity(board=str(named), simulated=bool(twin_of), machine=machine)
    fits = tuple(sorted(b.id for b in boards if b.machine and b.machine == machine))
    return Identity(
        board=fits[0] if len(fits) == 1 else None,
        simulated=False,
        machine=machine,
        candidates=fits,
    )


def unknown_board_help(port: str, ident: Identity) -> str:
    """One line for a board the answer does not name: what it said, which boards fit."""
    said = f"says it is {ident.machine!r}" if ident.machine else "does not say what it is"
    if ident.candidates:
        return (
            f"{port}: the board {said}, which fits {', '.join(ident.candidates)}: say --board ID"
        )
    return f"{port}: the board {said} and has no dbch_board module yet: say --board ID"
