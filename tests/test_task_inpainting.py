"""Inpainting task: a representation trained on known pixels beats a mean fill; the anchors;
the three PSNRs; object masks and bad mask folders through the runner."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _task_fixtures import context, register, smooth_clip
from PIL import Image

from nvbench.tasks.masks import build_masks


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(1 / float(((a - b) ** 2).mean()))


def test_masked_input_scores_are_the_masked_frame(tmp_path):
    clip = smooth_clip()
    ctx, task = context("masked-input", "inpainting", clip, tmp_path, task_options={"mask": "central"})
    (rec,) = task.run(ctx)
    m = build_masks(ctx.task_options, 8, 40, 80).frames(range(8))
    gt = clip.astype(np.float64) / 255
    masked = gt * ~m[..., None]
    assert rec["mask"] == "central" and rec["mask_fraction"] == pytest.approx(m.mean())
    # full-frame PSNR of the masked frame, per frame then averaged
    assert rec["psnr"] == pytest.approx(np.mean([_psnr(masked[t], gt[t]) for t in range(8)]), abs=1e-6)
    assert rec["psnr_masked"] == pytest.approx(
        np.mean([_psnr(masked[t][m[t]], gt[t][m[t]]) for t in range(8)]), abs=1e-6)
    assert rec["psnr_raw"] == pytest.approx(rec["psnr"], abs=1e-9)  # nothing filled in


def test_classical_inpainting_beats_the_masked_input(tmp_path):
    clip = smooth_clip()
    scores = {}
    for method in ("masked-input", "classical-inpaint"):
        ctx, task = context(method, "inpainting", clip, tmp_path, task_options={"mask": "disperse", "box": 6})
        (scores[method],) = task.run(ctx)
    assert scores["masked-input"]["mask_side_px"] == 6
    assert scores["classical-inpaint"]["psnr_masked"] > scores["masked-input"]["psnr_masked"] + 15
    assert scores["classical-inpaint"]["psnr"] > 40


def test_representation_trained_on_known_pixels_beats_a_mean_fill(tmp_path):
    clip = smooth_clip()
    ctx, task = context("hnerv", "inpainting", clip, tmp_path, epochs=15,
                        task_options={"mask": "disperse", "box": 6})
    (rec,) = task.run(ctx)
    m = build_masks(ctx.task_options, 8, 40, 80).frames(range(8))
    gt = clip.astype(np.float64) / 255
    fill = gt.copy()
    for t in range(8):
        fill[t][m[t]] = gt[t][~m[t]].mean(0)  # the masked region filled with the frame's mean colour
    mean_fill_region = np.mean([_psnr(fill[t][m[t]], gt[t][m[t]]) for t in range(8)])
    assert rec["status"] == "ok" and rec["epoch"] == 15
    assert rec["psnr_masked"] > mean_fill_region + 3, (rec["psnr_masked"], mean_fill_region)
    # compositing keeps the known pixels exact, so it can only beat the raw output
    assert rec["psnr"] > rec["psnr_raw"]
    assert rec["psnr"] > rec["psnr_masked"]


def test_hybrid_encoder_and_stored_embeddings_see_the_masked_frame(tmp_path):
    """The encoder never sees the missing pixels: changing them changes no output."""
    clip = smooth_clip()
    ctx, task = context("hnerv", "inpainting", clip, tmp_path / "a", epochs=1, task_options={"mask": "central"})
    (a,) = task.run(ctx)
    other = clip.copy()
    m = build_masks(ctx.task_options, 8, 40, 80).frames(range(8))
    other[m] = 255 - other[m]
    ctx2, _ = context("hnerv", "inpainting", other, tmp_path / "b", epochs=1, task_options={"mask": "central"})
    (b,) = task.run(ctx2)
    assert a["psnr_raw"] != b["psnr_raw"]  # the ground truth in the hole differs ...
    dec_a = np.load(tmp_path / "a" / "artifacts" / ctx.job.key / "composite.npz")["raw"]
    dec_b = np.load(tmp_path / "b" / "artifacts" / ctx2.job.key / "composite.npz")["raw"]
    assert np.array_equal(dec_a, dec_b)  # ... but the model's output does not


def test_object_masks_through_the_runner_and_bad_folders(tmp_path):
    from nvbench.expand import RunRequest, expand
    from nvbench.matrix import run_matrix
    from nvbench.results import Store, load

    register()
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    for t in range(8):
        m = np.zeros((40, 80), np.uint8)
        m[10 + t : 20 + t, 30:50] = 1  # a moving object, DAVIS-style ids (non-zero = object)
        Image.fromarray(m, mode="L").save(good / f"{t:05d}.png")
        if t < 5:
            Image.fromarray(m, mode="L").save(bad / f"{t:05d}.png")
    store = Store(tmp_path / "res")
    for folder in (bad, good):
        req = RunRequest(methods=["classical-inpaint", "neighbour-average"], tasks=["inpainting"],
                         datasets=["tiny-smooth"], preset="smoke",
                         settings={"mask": "object", "mask_dir": str(folder)})
        run_matrix(expand(req), store)
    df = load(tmp_path / "res")
    rows = {(r.status, r.mask_dir if isinstance(r.mask_dir, str) else None) for r in df.itertuples()}
    assert ("failed", None) in rows and ("ok", str(good)) in rows and ("not_applicable", None) in rows
    failed = df[df.status == "failed"].iloc[0]
    assert "5 mask images for 8 frames" in failed["reason"]
    ok = df[df.status == "ok"].iloc[0]
    assert ok["mask"] == "object" and ok["mask_fraction"] == pytest.approx(200 / 3200)
    assert ok["psnr_masked"] > 20 and ok["psnr"] > ok["psnr_masked"]
