"""A user's 16:9 clip gets the preset's working size from the same rule as every dataset (the
card's paper crop, then the preset's scale): README's `nvbench run -m hnerv -d clip.mp4` works."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from nvbench.data.base import clip_crop
from nvbench.data.ffmpeg import ffmpeg_exe
from nvbench.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("dataset, preset, crop, resolution", [
    ("bunny", "smoke", (640, 1280), (40, 80)), ("bunny", "cpu", (640, 1280), (160, 320)),
    ("bunny", "paper", (640, 1280), None), ("uvg", "smoke", (960, 1920), (60, 120)),
    ("uvg", "cpu", (960, 1920), (240, 480)), ("uvg", "paper", (960, 1920), None),
    ("davis", "cpu", (960, 1920), (240, 480)), ("davis", "paper", (960, 1920), None),
])
def test_built_in_geometry_is_what_it_was(dataset, preset, crop, resolution):
    geo = PRESETS[preset].geometry_for(dataset)
    assert (geo.crop, geo.resolution) == (crop, resolution)


def test_committed_jobs_get_their_geometry_back():
    jobs = [json.loads(p.read_text())["job"] for p in sorted((ROOT / "reports/leaderboard/jobs").glob("*.json"))]
    assert jobs
    for j in jobs:
        geo = PRESETS[j["preset"]].geometry_for(j["dataset"])
        assert [list(geo.crop) if geo.crop else None, list(geo.resolution) if geo.resolution else None] == \
            [j["crop"], j["resolution"]], j


def test_clip_crop_rule():
    assert clip_crop(1080, 1920) == (960, 1920)  # a 1080p clip gets UVG's crop
    assert clip_crop(720, 1280) == (640, 1280)  # 720p gets Bunny's
    assert clip_crop(360, 640) == (320, 640)
    assert clip_crop(1920, 1080) == (320, 640)  # portrait: the largest 1:2 strip with a 320-multiple height
    assert clip_crop(100, 100) == (40, 80)
    assert clip_crop(32, 64) == (32, 64)


def _clip(path: Path, h: int, w: int, frames: int) -> Path:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-f", "lavfi", "-i",
                    f"testsrc2=size={w}x{h}:rate=25", "-frames:v", str(frames), "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-crf", "18", str(path)], check=True, timeout=120)
    return path


def test_a_16_9_clip_runs_at_the_presets_working_size(tmp_path, monkeypatch, capsys):
    from nvbench.cli import main
    from nvbench.results import Store

    monkeypatch.setenv("NVBENCH_DATA", str(tmp_path / "data"))
    clip = _clip(tmp_path / "clip.mp4", 360, 640, 10)
    # the cpu preset: 320x640 centre crop, 1/4 per side, planned by hnerv and hinerv alike
    from nvbench.expand import RunRequest, expand

    jobs = expand(RunRequest(methods=["hnerv", "hinerv"], tasks=["reconstruction"], datasets=[str(clip)], preset="cpu"))
    assert {(j.method, j.crop, j.resolution) for j in jobs} == {("hnerv", (320, 640), (80, 160)),
                                                                 ("hinerv", (320, 640), (80, 160))}
    assert main(["run", "-m", "hnerv", "-d", str(clip), "--preset", "cpu", "--dry-run",
                 "--results", str(tmp_path / "dry")]) == 0
    assert "1 jobs" in capsys.readouterr().out
    # and a real smoke run trains and scores at 40x80
    assert main(["run", "-m", "hnerv", "-d", str(clip), "--preset", "smoke", "--threads", "1",
                 "--results", str(tmp_path / "s")]) == 0
    recs = [r for r in Store(tmp_path / "s").records() if r.get("method") == "hnerv"]
    assert recs and all(r["status"] == "ok" for r in recs)
    assert {(r["height"], r["width"], r["crop"], r["resolution"]) for r in recs} == {(40, 80, "320x640", "40x80")}
    assert all(math.isfinite(r["psnr"]) and r["params"] > 0 for r in recs)
