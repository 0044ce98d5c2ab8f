"""Where MicroPython's source comes from (boards/mpsource.py): MICROPYTHON_DIR, then the
default checkout, then none (the tests that need it skip, the commands exit 2 with the
advice); a checkout that differs from the pins is used with a warning naming the
difference; a tree that is not MicroPython is refused by name.

`make micropython` cannot reach its upstream from here: it is run against local git
repositories standing in for upstream (git's `url.<base>.insteadOf` sends the pinned
https://github.com/ addresses to them), with a project root whose pins name their commits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbch.boards import mpsource

ROOT = Path(__file__).resolve().parents[1]
DBCH = str(Path(sys.executable).parent / "dbch")
NEEDS = {p.path: p.needs for p in mpsource.pins()[1:]}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def fake_tree(root: Path, with_submodules: bool = True) -> Path:
    """The files that make a tree MicroPython for refuse_unusable (not a buildable tree)."""
    (root / "py").mkdir(parents=True)
    (root / "py" / "mpconfig.h").write_text("/* mpconfig */\n")
    (root / "ports" / "stm32").mkdir(parents=True)
    (root / "ports" / "stm32" / "Makefile").write_text("# stm32\n")
    if with_submodules:
        for path, needs in NEEDS.items():
            f = root / path / needs
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(f"/* {path} */\n")
    return root


@pytest.fixture
def no_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No MICROPYTHON_DIR and an empty cache: no source anywhere. Returns the cache home."""
    monkeypatch.delenv("MICROPYTHON_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mpsource.forget()
    return tmp_path / "cache"


def test_micropython_dir_comes_first_then_the_default_then_none(
    no_source: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(mpsource.NoSourceError) as none:
        mpsource.find_source()
    assert "set MICROPYTHON_DIR" in str(none.value) and "make micropython" in str(none.value)
    assert str(no_source / "dbch" / "micropython") in str(none.value)
    assert mpsource.missing_reason() == str(none.value)

    default = fake_tree(no_source / "dbch" / "micropython")
    found = mpsource.find_source()
    assert (found.root, found.origin) == (default.resolve(), "default")

    mine = fake_tree(tmp_path / "mine")
    monkeypatch.setenv("MICROPYTHON_DIR", str(mine))
    found = mpsource.find_source()
    assert (found.root, found.origin) == (mine.resolve(), "MICROPYTHON_DIR")


def test_a_tree_that_is_not_micropython_is_refused_by_name(
    no_source: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "not-mp"
    (other / "src").mkdir(parents=True)
    monkeypatch.setenv("MICROPYTHON_DIR", str(other))
    with pytest.raises(mpsource.SourceError, match=r"not-mp: not a MicroPython source tree"):
        mpsource.find_source()
    # A user's mistake is not a reason to skip: the builds fail and say it.
    assert mpsource.missing_reason() is None

    bare = fake_tree(tmp_path / "bare", with_submodules=False)
    monkeypatch.setenv("MICROPYTHON_DIR", str(bare))
    with pytest.raises(mpsource.SourceError) as e:
        mpsource.find_source()
    assert "without the submodules the builds need: lib/stm32lib, lib/CMSIS_6, lib/tinyusb" in (
        str(e.value)
    )
    assert "git submodule update --init" in str(e.value)


def test_a_checkout_at_another_commit_is_used_with_a_warning_naming_the_difference(
    no_source: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tree = fake_tree(tmp_path / "mp")
    git(tree, "init", "-q")
    git(tree, "add", ".")
    git(tree, "commit", "-qm", "not the pin")
    head = git(tree, "rev-parse", "HEAD")
    monkeypatch.setenv("MICROPYTHON_DIR", str(tree))
    found = mpsource.find_source()
    assert not found.pinned
    pin = mpsource.pins()[0].commit
    assert f"micropython at {head[:10]}, pinned {pin[:10]}" in found.differences
    # the fake's few files are there but not the pinned ones; the rest are missing
    n = len(mpsource.read_manifest())
    changed = [d for d in found.differences if f"of the {n:,} files the builds read differ" in d]
    missing = [d for d in found.differences if "of them are missing" in d]
    assert len(changed) == 1 and changed[0].startswith("5 of")  # mpconfig.h, Makefile, 3 libs
    assert len(missing) == 1 and missing[0].startswith(f"{n - int(changed[0].split()[0])}")
    warning = found.warning()
    assert warning.startswith(f"warning: MicroPython at {tree.resolve()} (MICROPYTHON_DIR)")
    assert "micropython at" in warning and "not the project's" in warning


def test_a_changed_file_the_builds_read_is_named_and_changes_the_build_key(
    no_source: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A project root whose manifest lists two files of a fake tree.
    project = tmp_path / "project"
    shutil.copytree(ROOT / "boards", project / "boards")
    tree = fake_tree(tmp_path / "mp")
    (tree / "py" / "vm.c").write_text("int vm;\n")
    manifest = mpsource.manifest_text(tree, ["py/mpconfig.h", "py/vm.c"])
    (project / "boards" / "micropython.sha256").write_text(manifest)
    monkeypatch.setenv("DBCH_ROOT", str(project))
    monkeypatch.setenv("MICROPYTHON_DIR", str(tree))
    same = mpsource.find_source()
    assert same.pinned and same.key.startswith("pinned:")

    (tree / "py" / "vm.c").write_text("int vm = 1;\n")
    mpsource.forget()
    changed = mpsource.find_source()
    assert changed.differences == ["1 of the 2 files the builds read differ (py/vm.c)"]
    assert changed.key != same.key


def test_the_manifest_lists_the_files_the_builds_read_in_sha256sums_format() -> None:
    text = mpsource.manifest_file().read_text()
    files = mpsource.read_manifest(text)
    # the port's main, the VM, and each submodule the builds need
    for rel in ("ports/stm32/main.c", "py/vm.c", "ports/qemu/Makefile"):
        assert rel in files, rel
    for sub in NEEDS:
        assert any(f.startswith(sub + "/") for f in files), sub
    for line in text.splitlines():
        if not line.startswith("#"):
            digest, _, rel = line.partition("  ")
            assert len(digest) == 64 and rel and not rel.startswith("/"), line


def test_without_a_source_the_commands_exit_2_with_the_advice(no_source: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MICROPYTHON_DIR"}
    env["XDG_CACHE_HOME"] = str(no_source)
    # No toolchain on the PATH either (a fresh machine before `make system`): the source
    # is what is missing for good, so its advice comes first (failed before: "not found")
    env["PATH"] = str(Path(DBCH).parent)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DBCH, *args], capture_output=True, text=True, env=env, timeout=60)

    advice = "no MicroPython source: set MICROPYTHON_DIR"
    for cmd in (["firmware", "build"], ["firmware", "build", "--twin"]):
        out = run(*cmd)
        assert out.returncode == 2, out
        assert advice in out.stderr and "make micropython" in out.stderr
        assert "Traceback" not in out.stderr
    asked = run("sim", "start", "--board", "NUCLEO_WL55", "--twin", "qemu", "--id", "nosrc")
    assert asked.returncode == 2 and advice in asked.stderr, asked
    default = run("sim", "start", "--board", "NUCLEO_WL55", "--id", "nosrc")
    assert default.returncode == 2 and advice in default.stderr, default
    assert "`--twin unix` runs the agent on the 64-bit unix VM" in default.stderr
    assert "Traceback" not in asked.stderr + default.stderr


def test_tests_that_need_the_source_skip_saying_how_to_provide_it(no_source: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MICROPYTHON_DIR"}
    env["XDG_CACHE_HOME"] = str(no_source)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rs",
            "tests/test_firmware_image.py",
            "-k",
            "fits_below or overflows",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-2000:]
    assert "1 passed, 1 skipped" in out.stdout, out.stdout[-2000:]
    skipped = [ln for ln in out.stdout.splitlines() if ln.startswith("SKIPPED")]
    assert len(skipped) == 1 and "no MicroPython source: set MICROPYTHON_DIR" in skipped[0]


# --- make micropython, against stand-ins for upstream ---------------------------------------
@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """Four local repositories standing in for github.com's, each with a second commit after
    the pinned one (so the fetch must take the pin, not the tip); a project root whose pins
    name them; the environment that points git at them."""
    up = tmp_path / "up"
    project = tmp_path / "project"
    shutil.copytree(ROOT / "boards", project / "boards")
    pin_lines = []
    for pin in mpsource.pins():
        repo = up / pin.url.removeprefix("https://github.com/")
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        if pin.path:
            f = repo / pin.needs
        else:
            fake_tree(repo, with_submodules=False)
            f = repo / "py" / "vm.c"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("pinned\n")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", "the pinned commit")
        commit = git(repo, "rev-parse", "HEAD")
        f.write_text("newer\n")
        git(repo, "commit", "-qam", "a later commit")
        table = "[micropython]" if not pin.path else f'[[submodule]]\npath = "{pin.path}"'
        extra = f'needs = "{pin.needs}"\n' if pin.path else ""
        pin_lines.append(f'{table}\nurl = "{pin.url}"\ncommit = "{commit}"\n{extra}')
    (project / "boards" / "micropython.toml").write_text("\n".join(pin_lines))
    (project / "boards" / "micropython.sha256").unlink()
    env = {
        **os.environ,
        "DBCH_ROOT": str(project),
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.file://{up}/.insteadOf",
        "GIT_CONFIG_VALUE_0": "https://github.com/",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    env.pop("MICROPYTHON_DIR", None)
    yield project, env


def test_make_micropython_clones_the_pinned_commits_into_the_default_place(
    upstream: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    project, env = upstream
    out = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "micropython"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    dest = tmp_path / "cache" / "dbch" / "micropython"
    pins = mpsource.pins(project / "boards" / "micropython.toml")
    for pin in pins:
        assert git(dest / pin.path if pin.path else dest, "rev-parse", "HEAD") == pin.commit
    assert (dest / "py" / "vm.c").read_text() == "pinned\n"
    assert "fetching lib/tinyusb" in out.stderr
    # the tree is checked against the pins (this project root has no manifest: said so)
    assert "no checksum manifest" in out.stdout + out.stderr
    # a second run finds it there and fetches nothing
    again = subprocess.run(
        [DBCH, "firmware", "source", "--fetch"], capture_output=True, text=True, env=env
    )
    assert again.returncode == 0 and "is there already" in again.stderr
    assert "fetching" not in again.stderr


def test_a_fetch_that_cannot_reach_upstream_leaves_nothing_and_says_why(
    upstream: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    _, env = upstream
    shutil.rmtree(tmp_path / "up" / "hathach")  # tinyusb's upstream is gone
    out = subprocess.run(
        [DBCH, "firmware", "source", "--fetch"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 2 and "cannot fetch https://github.com/hathach/tinyusb" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "cache" / "dbch" / "micropython").exists()


def test_no_file_of_micropythons_source_is_in_the_repository() -> None:
    tracked = set(
        subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    )
    # every file the builds read comes from the checkout, none from here
    assert not tracked & set(mpsource.read_manifest())
    assert not any(p.startswith(("py/", "ports/", "lib/stm32lib/", "mpy-cross/")) for p in tracked)
