"""`make mutants`: each safety layer switched off on its own must fail the tests that name
it (tests/mutants/mutants.toml). Each mutant is applied to a scratch copy of the
repository, never to the checkout; the tests run there on unix twins (no MicroPython
source: what CI runs), first unmutated (they must pass), then once per mutant.

Exit 0 when every mutant is killed, 1 when one survives (or its tests ran none), 2 when
the list or the unmutated run is broken. Writes build/mutants.json."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIST = Path(__file__).with_name("mutants.toml")


def load(path: Path = LIST) -> list[dict]:
    mutants = tomllib.loads(path.read_text())["mutant"]
    for m in mutants:
        text = (ROOT / m["file"]).read_text()
        n = text.count(m["find"])
        if n != 1:
            raise SystemExit(f"{path.name}: {m['name']}: `find` occurs {n} times in {m['file']}")
    return mutants


def scratch_copy(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())


def run_tests(scratch: Path, tests: list[str], junit: Path) -> tuple[int, int, float, str]:
    """(tests run, tests failed or in error, seconds, the first failure's message)."""
    env = {k: v for k, v in os.environ.items() if k != "MICROPYTHON_DIR"}
    env.update(
        PYTHONPATH=str(scratch / "host_tools"),  # the scratch's dbch, not the checkout's
        DBCH_ROOT=str(scratch),
        XDG_CACHE_HOME=str(scratch / ".cache"),  # no MicroPython source: unix twins
    )
    t0 = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            *tests,
        ],
        cwd=scratch,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    took = time.monotonic() - t0
    if not junit.exists():
        return 0, 0, took, ""
    suites = ET.parse(junit).getroot()
    suite = suites if suites.tag == "testsuite" else suites.find("testsuite")
    assert suite is not None
    ran = int(suite.get("tests", 0)) - int(suite.get("skipped", 0))
    bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    why = ""
    for case in suite.iter("testcase"):
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is not None and not why:
                first = (el.get("message") or "").strip().splitlines()
                why = f"{case.get('name')}: {first[0][:150] if first else tag}"
    junit.unlink()
    return ran, bad, took, why


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="mutant names to run (default: all)")
    args = ap.parse_args(argv)
    mutants = load()
    if args.only:
        mutants = [m for m in mutants if m["name"] in args.only]
    results = []
    with tempfile.TemporaryDirectory(prefix="dbch-mutants-") as tmp:
        scratch = Path(tmp) / "repo"
        scratch_copy(scratch)
        junit = Path(tmp) / "junit.xml"
        every = sorted({t for m in mutants for t in m["tests"]})
        ran, bad, took, why = run_tests(scratch, every, junit)
        print(f"unmutated: {ran} tests, {bad} failed ({took:.0f} s)", flush=True)
        if bad or not ran:
            print(f"the unmutated sources fail (or run none of) the named tests: {why}")
            return 2
        for m in mutants:
            target = scratch / m["file"]
            original = target.read_text()
            target.write_text(original.replace(m["find"], m["replace"], 1))
            try:
                ran, bad, took, why = run_tests(scratch, m["tests"], junit)
            finally:
                target.write_text(original)
            verdict = "killed" if ran and bad else ("not run" if not ran else "SURVIVED")
            results.append({**m, "verdict": verdict, "seconds": round(took, 1), "by": why})
            print(f"{verdict:9} {m['name']:20} {m['layer']} ({took:.0f} s)", flush=True)
            if why:
                print(f"          {why}", flush=True)
    out = ROOT / "build" / "mutants.json"
    out.parent.mkdir(exist_ok=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    out.write_text(
        json.dumps(
            {"date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit, "mutants": results},
            indent=1,
        )
    )
    alive = [r["name"] for r in results if r["verdict"] != "killed"]
    print(
        f"{len(results) - len(alive)} of {len(results)} killed"
        + (f"; not killed: {', '.join(alive)}" if alive else "")
    )
    return 1 if alive else 0


if __name__ == "__main__":
    sys.exit(main())
