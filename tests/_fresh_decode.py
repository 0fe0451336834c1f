"""`nvbench decode FILE` in a fresh process, as a user runs it: the frames it writes, for tests
that compare them with the frames a compression job scored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def fresh_decode(file: str | Path, out_dir: Path, threads: int = 2) -> np.ndarray:
    """The uint8 frames (T,H,W,3) `nvbench decode FILE -o out_dir --format npy` writes, decoded in a
    new interpreter with `threads` OpenMP threads (the file alone; nothing shared with the job)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-m", "nvbench.cli", "decode", str(file), "-o", str(out_dir),
                          "--format", "npy"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return np.load(Path(out_dir) / "frames.npy")
