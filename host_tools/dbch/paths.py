"""Where the project's data lives: firmware, board definitions, tables, build output."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout holding firmware/, boards/ and tables/ (override with DBCH_ROOT)."""
    env = os.environ.get("DBCH_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2]


def firmware_dir() -> Path:
    return project_root() / "firmware"


def boards_dir() -> Path:
    return project_root() / "boards"


def tables_dir() -> Path:
    return project_root() / "tables"


def build_dir() -> Path:
    return Path(os.environ.get("DBCH_BUILD", project_root() / "build"))


def sim_home() -> Path:
    """Root of the simulated bench: one folder per board plus the shared air log."""
    env = os.environ.get("DBCH_SIM_HOME")
    if env:
        return Path(env).resolve()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "dbch" / "sim"
