"""The NUCLEO-WL55 image, built by the project from MicroPython source with the agent frozen
in (`make firmware`): it fits below the filesystem, the board file's figures are the
build's, only the board's radio drivers are frozen, and the agent uses no module or name
the trimmed build leaves out. The toolchain comes from scripts/setup-debian.sh (make test);
the first build takes about a minute, later runs use the cache under build/firmware/."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import re
import sys
from pathlib import Path

import pytest
from dbch.boards.definitions import get_board
from dbch.boards.firmware import (
    FirmwareError,
    ImageReport,
    build_board_image,
    map_symbols,
    run_step,
)

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
FLASH_END = 0x08000000 + 256 * 1024


@pytest.fixture(scope="session")
def wl55() -> ImageReport:
    return build_board_image("NUCLEO_WL55")


@pytest.mark.micropython_source
def test_the_wl55_image_fits_below_its_filesystem_with_its_budget_spare(
    wl55: ImageReport,
) -> None:
    budget = get_board("NUCLEO_WL55").code_spare_min
    assert budget >= 8192  # the speed issue's budget: 8 KB for what comes next
    wl55.check_fits(budget)  # raises with the figures when the image is over its budget
    assert wl55.code_end == wl55.fs_start and wl55.fs_end == FLASH_END
    assert wl55.code == wl55.text + wl55.data and wl55.spare == wl55.code_limit - wl55.code
    assert "spare" in wl55.summary()


@pytest.mark.micropython_source
def test_the_board_file_takes_its_heap_and_filesystem_from_the_build(wl55: ImageReport) -> None:
    board = get_board("NUCLEO_WL55")
    assert board.heap_kb == wl55.heap // 1024, f"the build's GC heap is {wl55.heap} B"
    assert board.fs_kb * 1024 == wl55.fs_bytes


@pytest.mark.micropython_source
def test_the_python_stack_holds_the_ports_own_array_and_is_the_twins_size(
    wl55: ImageReport,
) -> None:
    # The linker script reserves the Python stack with the port's 384-word array (main.c)
    # as its first part, so that array is not RAM left unused; the twin's is the same size.
    features = (ROOT / "boards/NUCLEO_WL55/micropython/dbch_features.h").read_text()
    words = re.search(r"#define DBCH_PYSTACK_WORDS\s+\((\d+)\)", features)
    assert words and wl55.pystack == int(words[1]) * 4
    map_text = Path(wl55.elf).with_name("firmware.map").read_text()
    syms = map_symbols(map_text)
    start, end = syms["_dbch_pystack_start"], syms["_dbch_pystack_end"]
    port = re.search(
        r"\.bss\.pystack\.\w+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+\S+/main\.o", map_text
    )
    assert port, "the port's own Python stack array is not in the map"
    at, size = int(port[1], 16), int(port[2], 16)
    assert start <= at and at + size <= end, (hex(at), size, hex(start), hex(end))
    assert wl55.heap_start >= end or wl55.heap_end <= start  # not inside the GC heap


@pytest.mark.micropython_source
def test_an_image_that_reaches_the_filesystem_fails_with_its_figures(wl55: ImageReport) -> None:
    over = dataclasses.replace(wl55, code_end=wl55.flash_start + wl55.code - 100)
    with pytest.raises(FirmwareError, match=r"does not fit: text \+ data .* 100 B over"):
        over.check_fits()
    short = dataclasses.replace(wl55, code_end=wl55.flash_start + wl55.code + 10)
    with pytest.raises(FirmwareError, match=r"10 B spare .* asks 8,192 B .*: 8,182 B short"):
        short.check_fits(8192)


def test_a_link_that_overflows_the_code_region_says_it_does_not_fit(tmp_path: Path) -> None:
    ld = "ld: region `FLASH' overflowed by 2092 bytes\ncollect2: error: ld returned 1"
    cmd = [sys.executable, "-c", f"import sys; print({ld!r}); sys.exit(1)"]
    with pytest.raises(FirmwareError, match="does not fit: its code is 2,092 B over"):
        run_step(cmd, tmp_path / "log", "the test build")


@pytest.mark.micropython_source
def test_only_the_boards_own_radio_drivers_are_frozen(wl55: ImageReport) -> None:
    agent = {f"dbchagent.{p.stem}" for p in (FIRMWARE / "dbchagent").glob("*.py")}
    # every module of the agent but the pure-Python CRC-32: the image has binascii.crc32
    # (checked below), which link.py takes first
    assert agent - {"dbchagent.crc32"} <= set(wl55.modules)
    assert "dbchagent.crc32" not in wl55.modules
    drivers = {m for m in wl55.modules if m.startswith("subghz.")}
    assert drivers == {f"subghz.{m}" for m in ("__init__", "core", "sx126x", "stm32wl5")}


def _board_names(wl55: ImageReport) -> tuple[set[str], set[str]]:
    """(builtin modules, every interned name) of the board build, from its generated
    headers: what the firmware really contains, not what its configuration suggests."""
    genhdr = Path(wl55.elf).parent / "genhdr"
    mods = re.findall(r"MODULE_DEF_(\w+)", (genhdr / "moduledefs.h").read_text())
    qstrs = re.findall(
        r'QDEF\d\(MP_QSTR_\w*, \d+, \d+, "(.*)"\)', (genhdr / "qstrdefs.generated.h").read_text()
    )
    return {m.lower() for m in mods}, set(qstrs)


def _frozen_sources(wl55: ImageReport) -> list[Path]:
    files = [FIRMWARE / "main.py", FIRMWARE / "boot.py"]
    for mod in wl55.modules:
        if "." not in mod:
            continue  # dbch_build: generated (the sources' hash), no imports
        pkg, name = mod.split(".")
        files.append(FIRMWARE / pkg / f"{name}.py")
    return files


@pytest.mark.micropython_source
def test_the_agent_uses_only_modules_and_names_the_board_build_has(wl55: ImageReport) -> None:
    modules, names = _board_names(wl55)
    ours = {"dbchagent", "subghz", "dbch_board", "dbch_build"}  # frozen, or deployed
    missing = []
    for path in _frozen_sources(wl55):
        tree = ast.parse(path.read_text())
        imported: dict[str, str] = {}  # local name -> builtin module
        bound = {
            n.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
        }
        bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                top = (
                    node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                ) or ""
                if top.split(".")[0] in ours:
                    continue
                if top not in modules:
                    missing.append(f"{path.name}: module {top}")
                for a in node.names:
                    if isinstance(node, ast.ImportFrom):
                        if a.name not in names:
                            missing.append(f"{path.name}: {top}.{a.name}")
                    else:
                        imported[a.asname or a.name] = a.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in imported and node.attr not in names:
                    missing.append(f"{path.name}: {node.value.id}.{node.attr}")
            elif (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and hasattr(builtins, node.id)
                and node.id not in bound | names
            ):
                missing.append(f"{path.name}: builtin {node.id}")
    assert not missing, sorted(set(missing))


@pytest.mark.micropython_source
def test_the_static_check_sees_a_name_the_build_left_out(wl55: ImageReport) -> None:
    # The check above is only worth having if a trimmed-away name is really absent.
    modules, names = _board_names(wl55)
    assert "frozenset" not in names and "json" not in modules and "pyb" not in modules
    assert {"kbd_intr", "heap_lock", "crc32", "ticks_ms", "unique_id"} <= names


@pytest.mark.micropython_source
def test_the_qemu_twin_has_the_boards_modules(wl55: ImageReport) -> None:
    # Built from the same feature fragment: the twin differs from the board only in what
    # each needs to exist (the board's stm radio module; the twin's _twin C module).
    from dbch.sim.twin_image import build_qemu_twin

    twin_elf = build_qemu_twin("NUCLEO_WL55")
    board_mods, _ = _board_names(wl55)
    twin_mods, twin_names = _board_names(dataclasses.replace(wl55, elf=str(twin_elf)))
    assert board_mods - twin_mods == {"stm"}
    assert twin_mods - board_mods == {"_twin"}
    # and the names the agent needs from the board's C are the twin's C's too (machine's
    # unique_id, SPI and Pin come from the twin's frozen ROM, tested on the twin)
    assert {"kbd_intr", "heap_lock", "crc32", "gmtime", "select", "poll"} <= twin_names


def test_builds_take_turns_across_processes(tmp_path: Path, monkeypatch) -> None:
    # Test workers and a bench beside them each build on a cold cache: two builds of one
    # image cleared each other's folder (5 setup errors in make test-boards before this).
    import threading

    from dbch.boards.firmware import build_lock

    monkeypatch.setenv("DBCH_BUILD", str(tmp_path))
    said: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def first() -> None:
        with build_lock(said.append):
            holding.set()
            release.wait(30)

    t = threading.Thread(target=first)
    t.start()
    assert holding.wait(30)
    threading.Timer(0.2, release.set).start()
    with build_lock(said.append):
        assert release.is_set()  # it waited for the first build to end
    t.join()
    assert said == ["waiting for another firmware build on this machine"]


def test_main_and_boot_stay_inline_in_littlefs() -> None:
    # littlefs keeps a file of up to 128 B (its inline limit with MicroPython's cache) in
    # its directory's metadata; one byte more takes a whole block, and the WL55's filled
    # filesystem keeps only 2 of its 12 blocks free (docs/boards.md).
    for name in ("main.py", "boot.py"):
        assert len((FIRMWARE / name).read_bytes()) <= 128, name


def test_a_long_build_says_how_far_it_is(tmp_path: Path, monkeypatch) -> None:
    # The WL55 twin's first start built for 83 s with no output.
    from dbch.boards import firmware

    monkeypatch.setattr(firmware, "HEARTBEAT_S", 0.2)
    heard: list[str] = []
    script = "for i in 1 2 3 4 5; do echo CC ../../py/f$i.c; sleep 0.15; done"
    firmware.run_step(["sh", "-c", script], tmp_path / "log", "the build", heard.append)
    assert heard and all(h.startswith("  the build: ") for h in heard), heard
    assert any("CC ../../py/f" in h for h in heard), heard
