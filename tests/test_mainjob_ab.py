"""tools/mainjob_ab.py: alternating fresh-store main jobs at git revisions, with their records
compared (run here on the smoke preset, two worktrees of HEAD; no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout (worktrees of HEAD)")
def test_two_revisions_alternate_and_their_records_are_compared(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "mainjob_ab.py"), "HEAD=a", "HEAD=b", "--pairs", "1",
                          "--", "--preset", "smoke", "--epochs", "1", "--threads", "1"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-800:]
    runs = re.findall(r"^pair 1 (a|b) +wall +([\d.]+) s, steal ([\d.-]+) %, x265: ([\d.]+) s, "
                      r"hnerv: training ([\d.]+) s \+ rest ([\d.]+) s$", out.stdout, re.M)
    assert [r[0] for r in runs] == ["a", "b"], out.stdout
    assert all(float(r[1]) > float(r[3]) for r in runs)  # the wall time holds both jobs
    assert "pair 1 records a vs b: identical" in out.stdout
    listed = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout
    assert "mainjob-ab-" not in listed  # its worktrees are removed


def test_pairs_is_validated():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "mainjob_ab.py"), "HEAD", "--pairs", "0"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--pairs must be at least 1, got 0" in out.stderr
