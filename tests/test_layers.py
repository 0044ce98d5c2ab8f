"""The host package's layers keep their rules (docs/contributing.md, "Layers"). Every import
is walked, function-level ones included, and every write to the terminal."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "host_tools" / "dbch"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        if "rom" in rel.parts:  # MicroPython code run inside simulated boards
            continue
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every dbch module `name` imports, wherever in the file the import stands."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}
    return {m for m in found if m in MODULES}


LAYERS = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def _path_reaches(source: str) -> set[str]:
    """The dbch layers a module reaches by file path (`... / "sim" / "rom"`), which an
    import walk cannot see: a string that names a layer's folder, divided into a path."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and side.value in LAYERS:
                    found.add(f"dbch.{side.value}")
    return found


def _reaches(name: str, path: Path) -> set[str]:
    """Imports and file-path reaches together: what the layer rules hold a module to."""
    own = name.split(".")[1] if name.count(".") else ""
    paths = {m for m in _path_reaches(path.read_text()) if m != f"dbch.{own}"}
    return _imports(name, path) | paths


def _writes_terminal(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
            out.append(f"{path.name}:{node.lineno} print()")
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("stdout", "stderr")
            and getattr(node.value, "id", None) == "sys"
        ):
            out.append(f"{path.name}:{node.lineno} sys.{node.attr}")
    return out


def _in(name: str, layer: str) -> bool:
    return name == f"dbch.{layer}" or name.startswith(f"dbch.{layer}.")


def test_the_walk_sees_function_level_imports() -> None:
    # A rule checker that missed imports inside functions would pass anything.
    assert "dbch.sim.bench" in _imports("dbch.lab", MODULES["dbch.lab"])
    assert len(MODULES) > 50


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _in(n, "link")))
def test_link_imports_only_errors_and_paths(name: str) -> None:
    bad = {
        m
        for m in _reaches(name, MODULES[name])
        if not _in(m, "link") and m not in ("dbch", "dbch.errors", "dbch.paths", "dbch.logsetup")
    }
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _in(n, "gbcs")))
def test_gbcs_never_imports_link(name: str) -> None:
    bad = {m for m in _reaches(name, MODULES[name]) if _in(m, "link")}
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _in(n, "checks")))
def test_checks_never_import_sim(name: str) -> None:
    bad = {m for m in _reaches(name, MODULES[name]) if _in(m, "sim")}
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _in(n, "kit")))
def test_the_kit_never_reaches_into_sim(name: str) -> None:
    # A recorder of simulated boards is told their bench's clock (lab.py): it never asks
    # the simulator itself, so a kit of real boards runs without it.
    bad = {m for m in _reaches(name, MODULES[name]) if _in(m, "sim")}
    assert not bad, f"{name} reaches {sorted(bad)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _in(n, "boards")))
def test_boards_never_reach_into_sim(name: str) -> None:
    # sim/ builds on boards/ (definitions, images); boards/ reaching back into sim/, by
    # import or by file path, would be a cycle by the back door.
    bad = {m for m in _reaches(name, MODULES[name]) if _in(m, "sim")}
    assert not bad, f"{name} reaches {sorted(bad)}"


def test_the_walk_sees_file_path_reaches() -> None:
    code = 'twin = Path(__file__).parents[1] / "sim" / "qemu"\nrom = root / "sim"\n'
    assert _path_reaches(code) == {"dbch.sim"}
    assert _path_reaches('x = "sim"\n') == set()  # a string alone is no path


def test_nothing_imports_cli() -> None:
    bad = {
        f"{n} -> {m}"
        for n, p in MODULES.items()
        if not _in(n, "cli") and n != "dbch.__main__"
        for m in _imports(n, p)
        if _in(m, "cli")
    }
    assert not bad


def test_only_cli_writes_to_the_terminal() -> None:
    bad = [w for n, p in MODULES.items() if not _in(n, "cli") for w in _writes_terminal(p)]
    assert not bad


def test_the_readme_imports_and_entry_points_still_work() -> None:
    code = (
        "from dbch.client import AgentClient\n"
        "from dbch.sim.bench import simulated_boards\n"
        "from dbch.link.client import AgentClient as A\n"
        "assert AgentClient is A and callable(simulated_boards)\n"
        "from importlib.metadata import entry_points\n"
        "eps = entry_points()\n"
        "(plugin,) = [e for e in eps.select(group='pytest11') if e.name == 'dbch']\n"
        "plugin.load()\n"
        "(cmd,) = [e for e in eps.select(group='console_scripts') if e.name == 'dbch']\n"
        "assert cmd.load().__module__ == 'dbch.cli'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_imports_no_command_module() -> None:
    # `dbch --help` builds the whole parser from cli/args.py alone.
    code = (
        "import sys\nfrom dbch.cli import build_parser\nbuild_parser()\n"
        "heavy = [m for m in sys.modules if m.startswith(('dbch.link', 'dbch.sim', "
        "'dbch.checks', 'mpremote', 'serial', 'cbor2')) or m in "
        "('dbch.cli.device', 'dbch.cli.agent', 'dbch.cli.check')]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_module_over_450_lines_is_listed_with_its_concern() -> None:
    doc = (PKG.parents[1] / "docs" / "contributing.md").read_text()
    long = [
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if "rom" not in p.parts and len(p.read_text().splitlines()) > 450
    ]
    assert long  # the scan sees the package
    assert [m for m in long if f"| `{m}` |" not in doc] == []
