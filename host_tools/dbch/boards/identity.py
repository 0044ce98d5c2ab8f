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
    how: str  # what the board id came from, for messages
    candidates: tuple[str, ...] = ()  # boards whose image answers this machine string


def identify(answer: dict, boards: Iterable[BoardDef]) -> Identity:
    """The board behind a probe `answer` (deploy's: `board` from its dbch_board module,
    `twin_of` from a twin's ROM, `machine`)."""
    machine = str(answer.get("machine") or "")
    twin_of = answer.get("twin_of")
    simulated = bool(twin_of)
    if answer.get("board"):
        return Identity(
            board=str(answer["board"]),
            simulated=simulated,
            machine=machine,
            how="its dbch_board module",
        )
    if twin_of:
        return Identity(board=str(twin_of), simulated=True, machine=machine, how="the twin's ROM")
    fits = tuple(sorted(b.id for b in boards if b.machine and b.machine == machine))
    if len(fits) == 1:
        return Identity(
            board=fits[0],
            simulated=False,
            machine=machine,
            how="its MicroPython image",
            candidates=fits,
        )
    return Identity(board=None, simulated=False, machine=machine, how="", candidates=fits)


def unknown_board_help(port: str, ident: Identity) -> str:
    """One line for a board the answer does not name: what it said, which boards fit."""
    said = f"says it is {ident.machine!r}" if ident.machine else "does not say what it is"
    if ident.candidates:
        return (
            f"{port}: the board {said}, which fits {', '.join(ident.candidates)}: say --board ID"
        )
    return f"{port}: the board {said} and has no dbch_board module yet: say --board ID"
