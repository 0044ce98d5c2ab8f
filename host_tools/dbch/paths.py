"""Where the project's data lives: firmware, board definitions, tables, build output."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from dbch.errors import DbchError


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


def private_socket_dir() -> Path:
    """A folder only this user can enter, for local sockets (a simulated board's bridge
    whose own path would be too long, a port shared by its holder): $XDG_RUNTIME_DIR/dbch,
    else /tmp/dbch-<uid>. Made 0700; one that exists and is not a directory of this user's
    with mode 0700 (someone made it first) is an error, never used: whoever reaches such a
    socket drives a board."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    d = Path(base) / "dbch" if base else Path(tempfile.gettempdir()) / f"dbch-{os.getuid()}"
    try:
        d.mkdir(mode=0o700)
        d.chmod(0o700)  # whatever the umask took away or left
    except FileExistsError:
        pass
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise DbchError(
            f"{d}: not a private folder of this user (mode {stat.S_IMODE(st.st_mode):o}, "
            f"owner {st.st_uid}): remove it, or set XDG_RUNTIME_DIR to a private folder"
        )
    return d
