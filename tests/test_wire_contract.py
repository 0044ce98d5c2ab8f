"""One definition per fact on each side, and the two sides equal: the command table
(names, arguments, authorisation), the error codes, the masked band and the radio
tolerances, read from the firmware by the real MicroPython VM and compared with the host's
wire contract (link/spec.py), channel plan and checks. Also: the docs list the contract."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dbch.gbcs import channel_plan as plan
from dbch.gbcs import phy
from dbch.link import spec

ROOT = Path(__file__).resolve().parents[1]
MICROPYTHON = str(Path(sys.executable).parent / "micropython")

# Runs in MicroPython: the firmware's own tables, as JSON.
FIRMWARE_FACTS = """
import sys, json
sys.path.insert(0, '{fw}')
from dbchagent import cmd_system, config_check, errors, link
from dbchagent.config import NAMES
from dbchagent.words import WORDS
from subghz import core
print(json.dumps({{
    'commands': [[n, p, list(a)] for n, _, p, a in cmd_system.TABLE],
    'codes': list(errors.CODES),
    'masked_bands': [list(b) for b in core.MASKED_BANDS],
    'half_bw_hz': core.HALF_BW_HZ,
    'tol': [core.BITRATE, core.FDEV_HZ, core.BITRATE_TOL, core.FDEV_TOL, core.FREQ_TOL,
            core.SYNC_WORD],
    'fields': list(NAMES),
    'ranges': list(config_check._RANGES),
    'words': list(WORDS),
    'word_codes': sorted([c, w] for w, c in link._CODES.items()),
    'version': link.VERSION,
    'escaped': [s[0] for s in link._SPECIAL],
}}))
"""


@pytest.fixture(scope="module")
def firmware() -> dict:
    out = subprocess.run(
        [MICROPYTHON, "-c", FIRMWARE_FACTS.format(fw=ROOT / "firmware")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "MICROPYPATH": ""},
    )
    return json.loads(out.stdout)


STORE_WRITE = """
import sys, os
sys.path.insert(0, '{fw}')
from dbchagent import store
store.write('probe.bin', b'the key, 32 octets of it........')
sys.stdout.buffer.write(open('probe.bin', 'rb').read())
"""


def test_the_store_file_format_agrees(tmp_path: Path) -> None:
    # deploy provisions the key and counters in the agent's own store format
    from dbch.boards.deploy import STORE_HEADER, store_file

    (tmp_path / "dbch_board.py").write_text("DATA_DIR = ''\n")
    out = subprocess.run(
        [MICROPYTHON, "-c", STORE_WRITE.format(fw=ROOT / "firmware")],
        capture_output=True,
        timeout=30,
        check=True,
        cwd=tmp_path,
        env={**os.environ, "MICROPYPATH": str(tmp_path)},
    )
    body = b"the key, 32 octets of it........"
    assert out.stdout == store_file(body)
    assert out.stdout[STORE_HEADER:] == body


def test_the_configuration_ranges_agree(firmware: dict) -> None:
    # The agent's last-line check (config_check._RANGES: two 16-bit bounds per scalar, the
    # thresholds in steps of 10) against the host's one definition (the DUIS schema's).
    from dbch.gbcs.subghz_config import FIELDS

    assert firmware["fields"] == [f.key for f in FIELDS]
    r = firmware["ranges"]
    words = [r[i] | r[i + 1] << 8 for i in range(0, len(r), 2)]
    board = [(words[2 * j], words[2 * j + 1], 10 if j < 2 else 1) for j in range(len(words) // 2)]
    assert board == [f.gbcs_bounds() for f in FIELDS[4:]]


def test_the_command_tables_agree(firmware: dict) -> None:
    host = {n: (c.protected, sorted(c.args)) for n, c in spec.COMMANDS.items()}
    board = {n: (p, sorted(a)) for n, p, a in firmware["commands"]}
    assert board == host


def test_the_error_codes_agree(firmware: dict) -> None:
    assert sorted(firmware["codes"]) == sorted(spec.ERROR_CODES)


def test_every_code_the_firmware_raises_is_in_its_list(firmware: dict) -> None:
    # The list is only worth comparing if the code really sends nothing else.
    raised = set()
    for path in (ROOT / "firmware").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in ("AgentError", "FrameError", "_error") and node.args:
                    first = node.args[1] if name == "_error" else node.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        raised.add(first.value)
    assert raised and raised <= set(firmware["codes"]), raised - set(firmware["codes"])


def test_the_link_words_and_frame_form_agree(firmware: dict) -> None:
    from dbch.link import frames, words

    assert firmware["words"] == list(words.WORDS)
    # and each word's simple value, as the agent writes it and the host reads it
    assert {c: w for c, w in firmware["word_codes"]} == words.BY_CODE
    assert len(set(words.WORDS)) == len(words.WORDS) <= 244  # simple values 0-19, 32-255
    assert firmware["version"] == frames.VERSION
    assert set(firmware["escaped"]) == frames.ESCAPED
    # and the page lists them in the same order
    doc = (ROOT / "docs" / "protocol.md").read_text()
    listed = re.findall(r"\b(\d+) ([a-z_]+)[,\n]", doc.split("The words, in order", 1)[1])
    assert [w for _, w in listed[: len(words.WORDS)]] == list(words.WORDS)
    assert [int(i) for i, _ in listed[: len(words.WORDS)]] == list(range(len(words.WORDS)))


def test_the_masked_band_is_the_same_on_both_sides(firmware: dict) -> None:
    assert firmware["masked_bands"] == [list(plan.MASKED_BAND_HZ)]
    assert firmware["half_bw_hz"] == plan.OCCUPIED_HALF_BW_HZ


def test_the_radio_tolerances_are_the_same_on_both_sides(firmware: dict) -> None:
    host = [
        phy.BITRATE,
        phy.FDEV_HZ,
        phy.BITRATE_TOL,
        phy.FDEV_TOL,
        phy.FREQ_TOL_HZ,
        phy.SYNC_WORD,
    ]
    assert firmware["tol"] == host


def test_the_protocol_doc_lists_every_command_and_code() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)`", doc, re.M))
    assert set(spec.COMMANDS) <= documented
    assert set(spec.ERROR_CODES) <= documented
    # and nothing documented as a command or code that the contract lacks
    events = {"ready", "alert", "refused", "traffic_progress", "traffic_done", "log_cleared"}
    assert documented - events - {"fault"} <= set(spec.COMMANDS) | set(spec.ERROR_CODES)


def _firmware_ranges() -> dict[str, dict[str, tuple[int, int]]]:
    """command -> {argument: (lo, hi)} from each handler's `arg(args, NAME, LO, HI)` calls
    whose bounds are literal numbers (the firmware's own checks)."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for path in (ROOT / "firmware" / "dbchagent").glob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef) or fn.name not in spec.COMMANDS:
                continue
            for node in ast.walk(fn):
                if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "arg"):
                    continue
                name, lo, hi = node.args[1], node.args[2], node.args[3]
                if any(isinstance(n, ast.Name) for b in (lo, hi) for n in ast.walk(b)):
                    continue  # a named bound (the counter's): not a plain range
                if isinstance(lo, ast.Constant) and lo.value is None:
                    continue  # bytes of at most HI octets
                bounds = (eval(ast.unparse(lo)), eval(ast.unparse(hi)))
                out.setdefault(fn.name, {})[name.value] = bounds
    return out


def test_argument_ranges_are_the_same_on_both_sides() -> None:
    # The host refuses an out-of-range value before touching a port (exit 2) only if its
    # ranges are the agent's: `--frames -1` once went to the board and came back refused.
    host = {n: dict(c.ranges) for n, c in spec.COMMANDS.items() if c.ranges}
    assert host == _firmware_ranges()
