"""Shared fixtures: a temporary results store, a data root, and small synthetic videos."""

from __future__ import annotations

import os

# Tests fix torch's thread count (below); trainings in them do not time a calibration first
# (nvbench/threads.py; tests/test_threads.py switches it on where it is the subject).
os.environ.setdefault("NVBENCH_THREADS_MODE", "fixed")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nvbench.video import Video  # noqa: E402


def pytest_configure(config):
    """The process-wide host-allocator setting the `nvbench` command makes (nvbench/hostmem.py),
    so that benchmarks and timings in tests see what users see."""
    from nvbench.hostmem import retain_freed_memory

    retain_freed_memory()


@pytest.fixture
def store_dir(tmp_path):
    return tmp_path / "results"


@pytest.fixture(autouse=True)
def _threads():
    """Keep torch at two threads at most (CI has two cores)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, 2))
    yield
    torch.set_num_threads(before)


def smooth_video(frames: int = 8, height: int = 40, width: int = 80, seed: int = 0) -> Video:
    """A smooth moving pattern (easy to fit, so learning shows within a few steps)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 3)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        for c in range(3):
            v = 0.5 + 0.4 * np.sin(x / width * 2 * np.pi + phase[c] + 0.2 * t) * np.cos(y / height * np.pi + 0.1 * t)
            out[t, :, :, c] = np.clip(np.rint(v * 255), 0, 255)
    return Video(frames=out, name="smooth", dataset="synthetic", colour="synthetic RGB")
