"""GBCS DLMS (A-XDR) encoding of the Sub GHz Configuration Settings, COSEM 0-0:94.44.10.0.

A structure of 15 (`02 0F`); a bit-string is `04 20` + 4 octets (32 bits, most significant
first); a long-unsigned `12` + 2 octets; an unsigned `11` + 1 octet (docs/reference.md §4).
"""

from __future__ import annotations

import struct

from dbch.gbcs.subghz_config import FIELDS, SubGhzConfig

STRUCTURE = 0x02
BIT_STRING = 0x04
LONG_UNSIGNED = 0x12
UNSIGNED = 0x11
_TAG = {"bitstring32": BIT_STRING, "u16": LONG_UNSIGNED, "u8": UNSIGNED}


class DlmsError(ValueError):
    """Bytes that are not the 15-element structure (the message says where and why)."""


def encode(cfg: SubGhzConfig) -> bytes:
    out = bytearray((STRUCTURE, len(FIELDS)))
    for spec, value in zip(FIELDS, cfg.values(), strict=True):
        if spec.dlms == "bitstring32":
            out += bytes((BIT_STRING, 32)) + struct.pack(">I", value)
        elif spec.dlms == "u16":
            out += bytes((LONG_UNSIGNED,)) + struct.pack(">H", value)
        else:
            out += bytes((UNSIGNED, value))
    return bytes(out)


def decode(data: bytes, offset: int = 0) -> tuple[SubGhzConfig, int]:
    """The structure at `offset`; returns (config, offset after it). Types are checked
    strictly; values are not validated (call .validate())."""
    i = offset

    def take(n: int, what: str) -> bytes:
        nonlocal i
        if i + n > len(data):
            raise DlmsError(f"truncated at byte {i} reading {what}")
        chunk = data[i : i + n]
        i += n
        return chunk

    head = take(2, "structure header")
    if head != bytes((STRUCTURE, len(FIELDS))):
        raise DlmsError(f"byte {offset}: expected structure of 15 (02 0F), got {head.hex(' ')}")
    values = []
    for n, spec in enumerate(FIELDS, 1):
        at = i
        tag = take(1, spec.duis)[0]
        if tag != _TAG[spec.dlms]:
            raise DlmsError(
                f"byte {at}: element {n} ({spec.duis}) should have tag "
                f"{_TAG[spec.dlms]:02X}, not {tag:02X}"
            )
        if spec.dlms == "bitstring32":
            bits = take(1, spec.duis)[0]
            if bits != 32:
                raise DlmsError(
                    f"byte {at + 1}: element {n} ({spec.duis}) is a bit-string "
                    f"of {bits} bits, expected 32"
                )
            values.append(struct.unpack(">I", take(4, spec.duis))[0])
        elif spec.dlms == "u16":
            values.append(struct.unpack(">H", take(2, spec.duis))[0])
        else:
            values.append(take(1, spec.duis)[0])
    return SubGhzConfig.from_values(values), i


def find(payload: bytes) -> tuple[int, SubGhzConfig]:
    """The first place in a longer GBCS payload where a well-formed structure starts whose
    mask words carry their pages, else the first well-formed one (its pages wrong, which
    `problems()` reports); (offset, config)."""
    start = 0
    first_error: str | None = None
    well_formed: tuple[int, SubGhzConfig] | None = None  # types right, pages not
    while True:
        at = payload.find(bytes((STRUCTURE, len(FIELDS))), start)
        if at < 0:
            if well_formed is not None:
                return well_formed  # decoded; its problems (pages swapped) are reported
            raise DlmsError(first_error or "no 15-element structure (02 0F ...) in the payload")
        try:
            cfg, _ = decode(payload, at)
            well_formed = well_formed or (at, cfg)
            for spec, value in zip(FIELDS[:4], cfg.values()[:4], strict=True):
                if value >> 27 != spec.page:
                    raise DlmsError(f"byte {at}: {spec.duis} carries page {value >> 27}")
            return at, cfg
        except DlmsError as e:
            first_error = first_error or str(e)
            start = at + 1


def parse_hex(text: str) -> bytes:
    """Hex as people paste it: spaces, newlines, colons and a 0x prefix allowed."""
    cleaned = text.strip().removeprefix("0x").removeprefix("0X")
    for sep in (" ", "\n", "\t", ":", "-"):
        cleaned = cleaned.replace(sep, "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        reason = "not hexadecimal (an odd number of digits, or non-hex characters)"
        raise DlmsError(reason) from None
