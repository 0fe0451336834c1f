"""The project must not point to documents a user who clones it does not have: the protocol lives
in docs/, so no tracked file of the package, the methods, the tests, the docs or the README may
name the session notes outside the repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCOPE = ("nvbench", "representations", "tests", "docs", "README.md")
# split so that this file does not contain what it looks for
FORBIDDEN = ("../" + "shared", "/work/" + "shared", "SPEC" + ".md", "SPEC" + " §", "SPEC" + "-NEXT",
             "ARCHITECTURE" + ".md")


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--", *SCOPE], capture_output=True,
                             check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    me = Path(__file__).resolve()
    files = [ROOT / p for p in out.decode().split("\0") if p]
    return [p for p in files if p.resolve() != me and p.is_file()]


def offending_lines(paths: list[Path]) -> list[str]:
    hits = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files cannot hold a reference a reader would follow
        for n, line in enumerate(text.splitlines(), 1):
            if any(s in line for s in FORBIDDEN):
                name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                hits.append(f"{name}:{n}: {line.strip()[:100]}")
    return hits


def test_no_reference_outside_the_repository():
    paths = tracked_files()
    assert any(p.name == "README.md" and p.parent == ROOT for p in paths)  # the scope is really scanned
    hits = offending_lines(paths)
    assert not hits, "references to documents outside the repository (point to docs/ instead):\n" + "\n".join(hits)


def test_the_check_finds_a_reference(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Sizes as in ' + "SPEC" + ' §1.3."""\n')
    good = tmp_path / "good.py"
    good.write_text('"""Sizes as in docs/methods/hnerv.md."""\n')
    assert len(offending_lines([bad, good])) == 1
