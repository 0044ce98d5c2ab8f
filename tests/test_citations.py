"""Every citation of the project's own docs leads somewhere: a `docs/NAME.md` (or
`docs/NAME`) cited in code, tables, tests or docs is a file in docs/, and a `§N` after it
is a numbered section of that file (`## N. ...`). The review found 17 citations of
docs/gb-subghz.md and docs/radios.md, files the project never had."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITE = re.compile(r"(?<![\w/.])docs/([A-Za-z0-9_-]+)(?:\.md)?(?: §(\d+)(?:-(\d+))?)?")
TEXT = (".py", ".md", ".toml", ".xml", ".sh", ".json", ".h", ".mk", ".ld", ".yaml")


def tracked() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    this = Path(__file__).resolve()  # its examples are broken on purpose
    files = [ROOT / f for f in out if f.endswith(TEXT) or f == "Makefile"]
    return [f for f in files if f.resolve() != this]


def sections(doc: Path) -> set[int]:
    return {int(m) for m in re.findall(r"^#{2,3} (\d+)\.", doc.read_text(), re.M)}


def citations() -> list[tuple[str, str, int | None]]:
    found = []
    for f in tracked():
        for m in CITE.finditer(f.read_text(errors="replace")):
            first, last = m.group(2), m.group(3) or m.group(2)
            rel = str(f.relative_to(ROOT))
            if first is None:
                found.append((rel, m.group(1), None))
            else:
                found += [(rel, m.group(1), n) for n in range(int(first), int(last) + 1)]
    return found


def test_every_cited_doc_and_section_exists() -> None:
    cited = citations()
    assert len(cited) > 30  # the scan finds the citations (code, tables, docs)
    broken = []
    for where, name, section in cited:
        doc = ROOT / "docs" / f"{name}.md"
        if not doc.is_file():
            broken.append(f"{where}: docs/{name}.md does not exist")
        elif section is not None and section not in sections(doc):
            broken.append(f"{where}: docs/{name}.md has no section {section}")
    assert not broken, "\n".join(sorted(set(broken)))


def test_the_scan_sees_a_broken_citation(tmp_path: Path) -> None:
    text = "see docs/gb-subghz.md §4 and docs/reference.md §9 and docs/reference.md §1"
    got = [(m.group(1), m.group(2)) for m in CITE.finditer(text)]
    assert got == [("gb-subghz", "4"), ("reference", "9"), ("reference", "1")]
    assert 9 not in sections(ROOT / "docs" / "reference.md")
    assert {1, 2, 3, 4, 5, 6} <= sections(ROOT / "docs" / "reference.md")
