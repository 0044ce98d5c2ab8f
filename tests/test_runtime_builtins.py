"""The agent keeps MicroPython's extensible built-ins in sys.modules (firmware/dbchagent/
runtime.py): MicroPython otherwise searches the filesystem for a file of the same name on
every import of one (32 ms at the WL55's speed on its littlefs), and takes that file."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dbch import paths
from helpers import MICROPYTHON

PROBE = """
import sys
sys.path.insert(0, %r)
before = list(sys.path)
import dbchagent.runtime
import time
import struct
print(getattr(time, "SHADOW", False), getattr(struct, "SHADOW", False),
      "time" in sys.modules, hasattr(time, "ticks_ms"), sys.path == before)
"""


def test_a_file_named_like_a_built_in_does_not_stand_in_for_it(tmp_path: Path) -> None:
    # Before: `import time` in runtime.py found ./time.py (sys.path starts with "")
    for name in ("time", "struct"):
        (tmp_path / f"{name}.py").write_text("SHADOW = True\n")
    firmware = str(paths.firmware_dir())
    out = subprocess.run(
        [MICROPYTHON, "-c", PROBE % firmware],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    # not shadowed, kept in sys.modules, the real module, and sys.path as it was
    assert out.stdout.split() == ["False", "False", "True", "True", "True"], out.stdout


RELEASE = """
import sys
sys.path.insert(0, %r)
import dbchagent.runtime as rt
import dbchagent.errors
rt.release("dbchagent.errors")
gone = "dbchagent.errors" not in sys.modules and not hasattr(sys.modules["dbchagent"], "errors")
rt.release("dbchagent.errors")  # again: the package has no such attribute now
rt.release("nopackage.nomodule")  # nor is its package loaded
print(gone)
"""


def test_release_forgets_a_module_and_its_package_attribute_and_tolerates_either_absent() -> None:
    # (without dir(): MicroPython's tries every interned name, 47 ms a module on the WL55)
    out = subprocess.run(
        [MICROPYTHON, "-c", RELEASE % str(paths.firmware_dir())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True"], out.stdout
