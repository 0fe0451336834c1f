"""The main job's shortcuts change no result: the integer area resize, the source's 4:2:0 planes
converted once per content, libvmaf's presence asked once, MS-SSIM by nvbench.msssim. Each is
compared with the way it was done before, and the smoke-preset main job (a method's compression job
plus the x265 anchor the runner adds) gives the same records, timings aside, as with every shortcut
replaced by the old code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nvbench import colour, msssim, perceptual, video
from nvbench.compress import pipeline

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def float_mean_resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """The area resize as it was: float32 block means."""
    t, h, w, c = frames.shape
    fh, fw = h // height, w // width
    blocks = frames.reshape(t, height, fh, width, fw, c).astype(np.float32)
    return np.clip(np.rint(blocks.mean(axis=(2, 4))), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("fh,fw", [(1, 1), (2, 2), (3, 3), (4, 4), (2, 5), (16, 16), (17, 17)])
def test_area_resize_equals_float_block_means(fh, fw):
    rng = np.random.default_rng(fh * 31 + fw)
    frames = rng.integers(0, 256, (3, 4 * fh, 6 * fw, 3), dtype=np.uint8)
    frames[0, :fh, :fw] = 255  # the largest sums
    frames[1, :fh, :fw] = np.arange(fh * fw * 3).reshape(fh, fw, 3) % 2  # means at .5: ties round to even
    out = video.area_resize(frames, 4, 6)
    assert out.dtype == np.uint8 and out.shape == (3, 4, 6, 3)
    assert np.array_equal(out, float_mean_resize(frames, 4, 6))
    assert np.array_equal(video.block_sums(frames, fh, fw)[0, 0, 0], [fh * fw * 255] * 3)


def test_source_planes_equal_a_fresh_conversion_and_follow_the_content():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (20, 10, 14, 3), dtype=np.uint8)
    first = colour.source_planes(frames)
    for got, want in zip(first, colour.rgb_to_yuv420(frames)):
        assert np.array_equal(got, want) and not got.flags.writeable
    assert colour.source_planes(frames.copy())[0] is first[0]  # equal content: converted once
    frames[3, 2, 2] = 255 - frames[3, 2, 2]
    changed = colour.source_planes(frames)
    assert changed[0] is not first[0]
    assert np.array_equal(changed[0], colour.rgb_to_yuv420(frames)[0])


def test_vmaf_available_is_asked_once(monkeypatch):
    perceptual.vmaf_available.cache_clear()
    calls = []
    real = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or real(*a, **k))
    first = perceptual.vmaf_available()
    assert perceptual.vmaf_available() == first and len(calls) == 1


def _main_job(root: Path) -> list[dict]:
    """The smoke-preset main job in a fresh store, every cache of the process emptied first."""
    from nvbench import jobrun
    from nvbench.expand import RunRequest, expand
    from nvbench.matrix import run_matrix
    from nvbench.results import Store

    jobrun._VIDEO_CACHE.clear()
    colour._SOURCE_PLANES.clear()
    pipeline._CEILING.clear()
    jobs = expand(RunRequest(methods=["hnerv"], tasks=["compression"], preset="smoke",
                             settings={"bits": "8,5", "prune": "0,0.3", "finetune_epochs": "1"}))
    return [r for p in run_matrix(jobs, Store(root)) for r in p["records"]]


def _pytorch_msssim(x, y, win_size):
    from pytorch_msssim import ms_ssim

    return ms_ssim(x, y, data_range=1.0, size_average=False, win_size=win_size)


class _NoMemo(dict):
    """A memo that never remembers: every call computes again, as before."""

    def __setitem__(self, key: object, value: object) -> None:
        pass


@pytest.mark.slow  # two smoke main jobs, ~20 s on one thread: run with -m slow
def test_smoke_main_job_records_equal_the_old_code_paths(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("records_diff", TOOLS / "records_diff.py")
    rd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rd)
    new = _main_job(tmp_path / "new")
    with monkeypatch.context() as m:  # every shortcut replaced by the code it replaced
        m.setattr(video, "area_resize", float_mean_resize)
        m.setattr(colour, "source_planes", colour.rgb_to_yuv420)
        m.setattr(pipeline, "_CEILING", _NoMemo())
        m.setattr(perceptual, "vmaf_available", perceptual.vmaf_available.__wrapped__)
        m.setattr(msssim, "ms_ssim_frames", _pytorch_msssim)
        old = _main_job(tmp_path / "old")
    assert {r["method"] for r in new} == {"hnerv", "x265"} and all(r["status"] == "ok" for r in new)
    assert len(new) == len(old) == 4 + 3
    assert rd.differences(rd.store_records(tmp_path / "new"), rd.store_records(tmp_path / "old")) == []
    assert any(isinstance(r["vmaf"], float) for r in new) or all(str(r["vmaf"]).startswith("unavailable")
                                                                   for r in new)
    out = subprocess.run([sys.executable, str(TOOLS / "records_diff.py"), str(tmp_path / "new"),
                          str(tmp_path / "old")], capture_output=True, text=True)
    assert out.returncode == 0 and "identical" in out.stdout
