"""Interpolation task: splits, the neighbour-average anchor, HNeRV's variants, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _task_fixtures import context, linear_clip, register, smooth_clip

from nvbench.errors import NvbenchError
from nvbench.tasks.interpolation import neighbours, split_indices


def test_split_follows_the_official_rule():
    assert split_indices("even", 7) == ([0, 2, 4, 6], [1, 3, 5])
    assert split_indices("1_1_2", 7) == split_indices("even", 7)
    assert split_indices("odd", 5) == ([1, 3], [0, 2, 4])
    assert split_indices("2_2_3", 7) == ([0, 1, 3, 4, 6], [2, 5])
    assert split_indices("0_1_2", 4) == ([], [1, 3])
    with pytest.raises(NvbenchError, match="use even, odd or a_b_c"):
        split_indices("every", 4)


def test_held_out_last_frame_uses_its_one_neighbour():
    assert neighbours(3, [0, 2]) == (2, 2, 0.0)
    assert neighbours(1, [0, 2]) == (0, 2, 0.5)
    assert neighbours(0, [1, 3]) == (1, 1, 0.0)


def test_neighbour_average_is_exact_on_a_linear_clip(tmp_path):
    clip = linear_clip(frames=7)  # odd count: every held-out frame has two neighbours
    ctx, task = context("neighbour-average", "interpolation", clip, tmp_path)
    (rec,) = task.run(ctx)
    assert rec["split"] == "held-out" and rec["frames_evaluated"] == 3 and rec["status"] == "ok"
    assert math.isinf(rec["psnr"]) and math.isinf(rec["psnr_pooled"])
    # an even count holds out the last frame, which copies its one neighbour: 9 grey levels off
    ctx, task = context("neighbour-average", "interpolation", linear_clip(frames=8), tmp_path)
    (rec,) = task.run(ctx)
    assert rec["psnr_pooled"] == pytest.approx(10 * math.log10(4 / (9 / 255) ** 2), abs=1e-6)


def test_neighbour_average_on_a_non_linear_clip_is_finite(tmp_path):
    ctx, task = context("neighbour-average", "interpolation", smooth_clip(), tmp_path)
    (rec,) = task.run(ctx)
    assert 25 < rec["psnr"] < 60


def test_hnerv_records_seen_and_each_held_out_variant(tmp_path):
    clip = smooth_clip()
    ctx, task = context("hnerv", "interpolation", clip, tmp_path, epochs=3)
    recs = task.run(ctx)
    by = {(r["split"], r["variant"]): r for r in recs}
    assert set(by) == {("seen", ""), ("held-out", "interp-embed"), ("held-out", "encode-frame")}
    assert by["seen", ""]["frames_evaluated"] == 4 and by["held-out", "encode-frame"]["frames_evaluated"] == 4
    assert all(r["index_normalisation"].startswith("i/N") for r in recs)
    for r in recs:
        assert r["status"] == "ok" and 5 < r["psnr"] < 60 and r["epoch"] == 3
    # the two variants decode different embeddings, so their numbers differ
    assert by["held-out", "interp-embed"]["psnr_float"] != by["held-out", "encode-frame"]["psnr_float"]


def test_runner_records_bad_input_and_goes_on(tmp_path):
    from nvbench.expand import RunRequest, expand
    from nvbench.matrix import run_matrix
    from nvbench.results import Store, load

    register()
    req = RunRequest(methods=["neighbour-average", "masked-input"], tasks=["interpolation"],
                     datasets=["tiny-linear"], preset="smoke", settings={"split": "0_1_2"})
    bad = run_matrix(expand(req), Store(tmp_path))
    recs = [r for p in bad for r in p["records"]]
    assert [r["status"] for r in recs] == ["failed", "not_applicable"]
    assert "leaves no training frame" in recs[0]["reason"]
    assert "interpolate" in recs[1]["reason"]
    good = run_matrix(expand(RunRequest(methods=["neighbour-average"], tasks=["interpolation"],
                                        datasets=["tiny-linear"], preset="smoke")), Store(tmp_path))
    assert good[0]["records"][0]["status"] == "ok"
    df = load(tmp_path)
    assert sorted(df["status"]) == ["failed", "not_applicable", "ok"]
    # 8 frames: three exact held-out frames (infinite PSNR, left out of the mean) and the last
    # one, a copy of its neighbour 9 grey levels off
    ok = df[df.status == "ok"].iloc[0]
    assert ok["psnr"] == pytest.approx(10 * np.log10((255 / 9) ** 2), abs=1e-6)
    assert ok["frames_evaluated"] == 4 and ok["variant"] == "" and ok["split"] == "held-out"
