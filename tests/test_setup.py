"""scripts/setup-debian.sh lists every Debian package the project uses. A package installed
by hand on a developer's machine would hide a missing line (CI's fresh machine would not
have it), so this compares the programs the code and the tests run with the packages that
provide them on this machine."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup-debian.sh"
SOURCES = [ROOT / "host_tools" / "dbch", ROOT / "tests"]
CALLS = {"run", "Popen", "check_output", "check_call", "call", "_run"}
# Debian's own tools, on every Debian system (priority required or important).
BASE_PRIORITIES = {"required", "important"}


def listed_packages() -> set[str]:
    m = re.search(r'^PACKAGES="([^"]*)"', SETUP.read_text(), re.M)
    assert m, "setup-debian.sh has no PACKAGES= line"
    return set(m.group(1).split())


def _program(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _named_programs(node: ast.AST) -> list[str | None]:
    if isinstance(node, ast.Call):
        func = node.func
        fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if fname == "which" and node.args:
            return [_program(node.args[0])]
        first = node.args[0] if node.args else None
        if fname in CALLS and isinstance(first, ast.List | ast.Tuple) and first.elts:
            return [_program(first.elts[0])]
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
        suffixes = ("TOOLCHAIN", "PROGRAMS")
        if any(isinstance(t, ast.Name) and t.id.endswith(suffixes) for t in node.targets):
            return [_program(e) for e in node.value.elts]
    return []


def programs_run() -> dict[str, str]:
    """Program name -> the file that runs it: names given to shutil.which(), first words of
    argument lists given to subprocess calls, and names in *TOOLCHAIN / *PROGRAMS tuples."""
    out: dict[str, str] = {}
    for root in SOURCES:
        for f in sorted(root.rglob("*.py")):
            rel = str(f.relative_to(ROOT))
            for node in ast.walk(ast.parse(f.read_text(), rel)):
                for n in _named_programs(node):
                    if n and "/" not in n:
                        out.setdefault(n, rel)
    return out


def debian_package(program: str) -> tuple[str, str] | None:
    """(package, priority) owning the system's copy of `program`, or None when it is not a
    system program here (from the venv, or not installed)."""
    for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
        path = Path(d) / program
        if not path.exists():
            continue
        for p in (str(path), str(path.resolve())):
            r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
            if r.returncode == 0:
                pkg = r.stdout.split(":")[0].strip()
                prio = subprocess.run(
                    ["dpkg-query", "-W", "-f=${Priority}", pkg], capture_output=True, text=True
                ).stdout.strip()
                return pkg, prio
    return None


def test_the_scan_finds_the_programs_we_know_of() -> None:
    found = programs_run()
    for known in ("ser2net", "qemu-system-arm", "arm-none-eabi-gcc", "chromium", "make"):
        assert known in found, f"the scan lost {known}: fix programs_run()"


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="not a Debian system")
def test_every_program_comes_from_a_listed_package() -> None:
    listed = listed_packages()
    missing = []
    for program, where in sorted(programs_run().items()):
        owner = debian_package(program)
        if owner is None:
            continue
        pkg, prio = owner
        if pkg not in listed and prio not in BASE_PRIORITIES:
            missing.append(f"{program} ({where}) comes from {pkg}")
    assert not missing, "add to scripts/setup-debian.sh PACKAGES: " + "; ".join(missing)


def test_every_listed_package_is_used_or_explained() -> None:
    text = SETUP.read_text()
    for pkg in listed_packages():
        assert re.search(rf"^#.*\b{re.escape(pkg)}\b", text, re.M), f"{pkg}: say why it is listed"
