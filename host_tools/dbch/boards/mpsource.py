"""Where MicroPython's source comes from, and whether it is the one the project pins.

The source never enters the repository. It is found, in this order:

1. `MICROPYTHON_DIR`: the user's own checkout (used even if it differs from the pins);
2. the default checkout, `$XDG_CACHE_HOME/dbch/micropython` (`~/.cache/dbch/micropython`),
   which `make micropython` (`dbch firmware source --fetch`) clones from upstream;
3. none: `NoSourceError`, whose message says how to provide one.

Whatever is found is checked against the pins (`boards/micropython.toml`: the commits of
MicroPython and the submodules the stm32 and qemu builds read) and the checksum manifest
(`boards/micropython.sha256`, sha256sum's format: every file the builds read). A tree that
is not MicroPython, or lacks a submodule the builds need, is refused by name; a MicroPython
checkout that differs is used, and each difference is reported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dbch import paths
from dbch.errors import DbchError

Progress = Callable[[str], None]


class SourceError(DbchError):
    """A MicroPython source tree that cannot be used, or none at all (exit 2)."""


class NoSourceError(SourceError):
    """No MicroPython source anywhere: the message says how to provide one."""


@dataclass(frozen=True)
class Pin:
    path: str  # "" for MicroPython itself, else the submodule's folder (lib/stm32lib)
    url: str
    commit: str
    needs: str = "py/mpconfig.h"  # a file that must be there: what makes the tree usable

    @property
    def name(self) -> str:
        return self.path or "micropython"


def pins_file() -> Path:
    return paths.boards_dir() / "micropython.toml"


def manifest_file() -> Path:
    return paths.boards_dir() / "micropython.sha256"


def pins(path: Path | None = None) -> tuple[Pin, ...]:
    """The pinned commits (of `path`, default the project's boards/micropython.toml)."""
    return _pins(path or pins_file())


@cache
def _pins(path: Path) -> tuple[Pin, ...]:
    data = tomllib.loads(path.read_text())
    mp = data["micropython"]
    return (
        Pin("", mp["url"], mp["commit"]),
        *(Pin(s["path"], s["url"], s["commit"], s["needs"]) for s in data["submodule"]),
    )


def default_dir() -> Path:
    """The one default place: outside any repository, in the user's cache."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "dbch" / "micropython"


def advice() -> str:
    """How to provide the source: the same words wherever its absence is reported."""
    mp = pins()[0]
    return (
        f"no MicroPython source: set MICROPYTHON_DIR to a checkout of micropython "
        f"{mp.commit[:8]} with {', '.join(p.path for p in pins()[1:])}, or run `make "
        f"micropython` to clone the pinned commits into {default_dir()} (docs/boards.md)"
    )


@dataclass
class Source:
    """A MicroPython tree the builds can use, and how it differs from the pins."""

    root: Path
    origin: str  # "MICROPYTHON_DIR" or "default"
    key: str  # names the contents the builds read: the build cache's key
    differences: list[str] = field(default_factory=list)

    @property
    def pinned(self) -> bool:
        return not self.differences

    def warning(self) -> str:
        return (
            f"warning: MicroPython at {self.root} ({self.origin}) is not the pinned source: "
            + "; ".join(self.differences)
            + ". It builds, but figures measured on it are not the project's."
        )


# --- the checksum manifest ------------------------------------------------------------------
def read_manifest(text: str | None = None) -> dict[str, str]:
    """path -> sha256 from sha256sum's format (`HASH  path`)."""
    text = manifest_file().read_text() if text is None else text
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            digest, path = line.split(maxsplit=1)
            out[path.lstrip("*")] = digest
    return out


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def manifest_text(root: Path, files: Iterable[str]) -> str:
    lines = [
        "# The files of MicroPython's source the board builds read (make firmware: the stm32",
        "# image, the qemu twin, mpy-cross), sha256sum's format: `sha256sum -c` in the tree",
        "# checks a checkout. Written by `dbch firmware source --write-manifest`.",
    ]
    for rel in sorted(set(files)):
        digest = _sha256(root / rel)
        if digest:
            lines.append(f"{digest}  {rel}")
    return "\n".join(lines) + "\n"


# Besides what the compiler read (its dependency files), the builds are driven by these.
_DRIVERS = (
    "py/*.mk",
    "py/*.py",
    "py/Makefile*",
    "extmod/*.mk",
    "extmod/*.cmake",
    "tools/*.py",
    "tools/mpy_ld.py",
    "mpy-cross/Makefile",
    "mpy-cross/*.mk",
    "ports/stm32/Makefile",
    "ports/stm32/*.mk",
    "ports/stm32/*.py",
    "ports/stm32/boards/*.py",
    "ports/stm32/boards/*.ld",
    "ports/stm32/boards/*.csv",
    "ports/stm32/boards/*.mk",
    "ports/stm32/boards/NUCLEO_WL55/*",
    "ports/qemu/Makefile",
    "ports/qemu/*.ld",
    "ports/qemu/mcu/arm/*.ld",
    "ports/qemu/boards/MPS2_AN385/*",
    "ports/qemu/boards/*.mk",
)


def files_the_builds_read(root: Path, builds: Iterable[tuple[Path, str]]) -> set[str]:
    """Every file under `root` that the compiler's dependency files (`.P`, `.d`) of these
    builds name, plus the makefiles, linker scripts and generators that drive them. Each
    build is (its build folder, the folder under `root` make ran in: relative paths in the
    dependency files start there)."""
    root = root.resolve()
    found: set[str] = set()
    for build, make_dir in builds:
        base = root / make_dir
        for dep in (*build.rglob("*.P"), *build.rglob("*.d")):
            text = dep.read_text(errors="replace").replace("\\\n", " ")
            for token in text.split():
                if token.endswith(":") or token == "\\":
                    continue
                try:
                    rel = (base / token).resolve().relative_to(root)
                except ValueError:
                    continue  # the toolchain's headers, the build's own generated files
                if (root / rel).is_file() and not _generated(rel):
                    found.add(str(rel))
    for pattern in _DRIVERS:
        found.update(str(p.relative_to(root)) for p in root.glob(pattern) if p.is_file())
    return found


def _generated(rel: Path) -> bool:
    """A build's output inside the tree (mpy-cross/build/genhdr/...): not source."""
    return any(part == "build" or part.startswith("build-") for part in rel.parts)


def write_manifest(root: Path, builds: list[tuple[Path, str]]) -> int:
    """Rewrite the manifest from `root` and these builds (after moving the pins); the
    number of files it lists."""
    files = files_the_builds_read(root, builds)
    manifest_file().write_text(manifest_text(root, files))
    forget()
    return len(files)


# --- finding and checking a tree ------------------------------------------------------------
def _git_head(path: Path) -> str | None:
    if not (path / ".git").exists():
        return None
    out = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or None if out.returncode == 0 else None


def refuse_unusable(root: Path, origin: str) -> None:
    """SourceError naming what is missing: not MicroPython at all, or a submodule."""
    if not root.is_dir():
        raise SourceError(f"{origin}={root}: no such folder")
    if not (root / "py" / "mpconfig.h").is_file() or not (root / "ports" / "stm32").is_dir():
        raise SourceError(
            f"{origin}={root}: not a MicroPython source tree (no py/mpconfig.h or ports/stm32)"
        )
    missing = [p.path for p in pins()[1:] if not (root / p.path / p.needs).is_file()]
    if missing:
        raise SourceError(
            f"{origin}={root}: MicroPython without the submodules the builds need: "
            f"{', '.join(missing)} (in the checkout: git submodule update --init "
            f"{' '.join(missing)}; or `make micropython` for the pinned tree)"
        )


def differences(root: Path) -> tuple[list[str], str]:
    """How `root` differs from the pins (commits, then the files the builds read), and a
    key naming the contents the builds read."""
    diffs: list[str] = []
    for pin in pins():
        head = _git_head(root / pin.path if pin.path else root)
        if head and head != pin.commit:
            diffs.append(f"{pin.name} at {head[:10]}, pinned {pin.commit[:10]}")
    if not manifest_file().is_file():
        diffs.append(f"no checksum manifest ({manifest_file().name}): files not checked")
        return diffs, f"tree:{root}:unchecked"
    expected = read_manifest()
    changed, missing = [], []
    h = hashlib.sha256()
    for rel, digest in sorted(expected.items()):
        actual = _sha256(root / rel)
        h.update(f"{actual} {rel}\n".encode())
        if actual is None:
            missing.append(rel)
        elif actual != digest:
            changed.append(rel)
    n = len(expected)
    if changed:
        diffs.append(
            f"{len(changed):,} of the {n:,} files the builds read differ ({_few(changed)})"
        )
    if missing:
        diffs.append(f"{len(missing):,} of them are missing ({_few(missing)})")
    if not changed and not missing:
        return diffs, "pinned:" + hashlib.sha256(manifest_file().read_bytes()).hexdigest()
    # Not the pinned files: the key must change with anything the builds may read.
    h.update("".join(diffs).encode())
    return diffs, f"tree:{root}:{h.hexdigest()}"


def _few(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n:,} more" if len(names) > n else "")


def check(root: Path, origin: str) -> Source:
    """The tree at `root` checked against the pins (SourceError if it cannot be used);
    `origin` says where it came from. Checked once per process and tree."""
    return _checked(root.resolve(), origin)


@cache
def _checked(root: Path, origin: str) -> Source:
    refuse_unusable(root, origin)
    diffs, key = differences(root)
    return Source(root, origin, key, diffs)


def find_source() -> Source:
    """MICROPYTHON_DIR, else the default checkout; NoSourceError when neither exists."""
    env = os.environ.get("MICROPYTHON_DIR")
    if env:
        return check(Path(env).expanduser(), "MICROPYTHON_DIR")
    if default_dir().exists():
        return check(default_dir(), "default")
    raise NoSourceError(advice())


def forget() -> None:
    """Check trees again on the next look (after one changed on disk)."""
    _checked.cache_clear()


def missing_reason() -> str | None:
    """Why there is no source (the tests' skip reason), or None when one is found. A source
    the user named that cannot be used is not a reason to skip: the builds fail and say."""
    try:
        find_source()
    except NoSourceError as e:
        return str(e)
    except SourceError:
        return None
    return None


# --- fetching the pinned commits --------------------------------------------------------------
def _git(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def _fetch_commit(dest: Path, pin: Pin, say: Progress) -> None:
    """`pin.commit` checked out at `dest`: a shallow fetch of that one commit (GitHub allows
    it), else the repository's branches and the commit from among them."""
    dest.mkdir(parents=True, exist_ok=True)
    _git(["init", "-q", str(dest)])
    say(f"fetching {pin.name} {pin.commit[:10]} from {pin.url}")
    got = _git(["fetch", "-q", "--depth", "1", pin.url, pin.commit], cwd=dest)
    if got.returncode != 0:
        got = _git(["fetch", "-q", pin.url, "+refs/heads/*:refs/remotes/upstream/*"], cwd=dest)
        if got.returncode != 0:
            why = (got.stderr.strip().splitlines() or ["git fetch failed"])[-1]
            raise SourceError(f"cannot fetch {pin.url}: {why[:300]}")
    out = _git(["-c", "advice.detachedHead=false", "checkout", "-q", pin.commit], cwd=dest)
    if out.returncode != 0:
        raise SourceError(f"{pin.url} has no commit {pin.commit} ({out.stderr.strip()[:200]})")


def fetch(dest: Path | None = None, force: bool = False, progress: Progress | None = None) -> Path:
    """Clone the pinned commits (MicroPython, then each submodule into its folder) into
    `dest` (default: the default place), unless a checkout is there already (`force`
    replaces it). Built in a folder beside it and moved into place whole, so an interrupted
    fetch leaves nothing half made."""
    say = progress or (lambda _m: None)
    dest = (dest or default_dir()).expanduser().resolve()
    if dest.exists() and not force:
        say(f"{dest} is there already (--force fetches it again)")
        return dest
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for pin in pins():
            _fetch_commit(tmp / pin.path if pin.path else tmp, pin, say)
        refuse_unusable(tmp, "fetched")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    forget()
    return dest
