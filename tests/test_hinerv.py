"""HiNeRV's network and recipe: patches equal crops of whole frames, the training loop's patch
batches (for every method), the recipe's schedule and loss window."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nvbench.recipe import HINERV_RECIPE, HNERV_RECIPE, Recipe
from nvbench.train import FrameSource, TrainSettings, crop_patches, msssim_loss_window, patch_side, train
from representations.hinerv import HiNeRVMethod
from representations.hinerv_net import HiNeRV, patch_paddings


def _model(frames=8, h=40, w=80, size=24_000, seed=0):
    torch.manual_seed(seed)
    return HiNeRV(HiNeRVMethod.plan(frames, h, w, size, {})).double()


def test_paddings_are_the_official_compute_paddings():
    # official compute_paddings((1,40,40), scales 5,2,2,2, kernels 3, depths 3,3,3,1) -> [[0,2,2],[0,7,7],[0,6,6],
    # [0,4,4],[0,1,1]]; the stem adds (3-1)//2
    assert patch_paddings([5, 2, 2, 2], [3, 3, 3, 1], [3, 3, 3, 3], 3) == (3, [7, 6, 4, 1])
    assert patch_paddings([5, 3, 2, 2], [3, 3, 3, 1], [3, 3, 3, 3], 3) == (3, [6, 6, 4, 1])  # official: same


@pytest.mark.parametrize("shape", [(8, 40, 80, 24_000), (6, 160, 320, 60_000)])
def test_patches_equal_crops_of_whole_frames(shape):
    frames, h, w, size = shape
    model = _model(frames, h, w, size)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # away from the near-zero grids of the init
        idx = torch.tensor([0, frames - 1, 2])
        full = model(idx)
        ph, pw = model.train_patch
        for r in range(h // ph):
            for c in range(w // pw):
                rows, cols = torch.full((3,), r), torch.full((3,), c)
                crop = model.forward_patches(idx, rows, cols, (ph, pw))
                assert torch.allclose(crop, full[:, :, r * ph:(r + 1) * ph, c * pw:(c + 1) * pw], atol=1e-12)
    assert full.std() > 0.01  # the test compares real content


def test_crop_patches_and_patch_side():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    got = crop_patches(x, torch.tensor([1, 0]), torch.tensor([2, 0]), 2, 2)
    assert torch.equal(got[0], x[0, :, 2:4, 4:6]) and torch.equal(got[1], x[1, :, 0:2, 0:2])
    model = _model()
    assert patch_side(model, HINERV_RECIPE, 40, 80) == (40, 40)
    assert patch_side(model, HNERV_RECIPE, 40, 80) is None
    with pytest.raises(ValueError, match="does not tile"):
        patch_side(model, Recipe("x", "l2", 1e-3, (0.9, 0.999), 0.1, 1, patch=30), 40, 80)


def test_patch_batches_take_a_frames_worth_per_step_for_any_method():
    """A model without forward_patches trains on crops of its whole-frame output."""
    seen = []

    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.frames = torch.nn.Parameter(torch.zeros(4, 3, 8, 16))

        def forward(self, idx, frames=None):
            seen.append(len(idx))
            return torch.sigmoid(self.frames[idx])

    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, (4, 8, 16, 3), dtype=np.uint8)
    recipe = Recipe("t", "l1", 1e-2, (0.9, 0.999), 0.0, 2, patch=4)
    res = train(Plain(), FrameSource(video, torch.device("cpu"), channels_last=False),
                TrainSettings(epochs=2, recipe=recipe, channels_last=False))
    assert res.steps == 4 and seen == [16] * 4  # 2 frames x 8 crops of 4x4 per step, 2 steps per epoch
    assert res.history[-1]["loss"] < res.history[0]["loss"]


def test_hinerv_trains_on_patches():
    model = _model()
    calls = []
    orig = model.forward_patches

    def spy(idx, rows, cols, patch):
        calls.append((len(idx), patch))
        return orig(idx, rows, cols, patch)

    model.forward_patches = spy
    model = model.float()
    rng = np.random.default_rng(0)
    video = (rng.random((8, 40, 80, 3)) * 255).astype(np.uint8)
    res = train(model, FrameSource(video, torch.device("cpu")), TrainSettings(epochs=1, recipe=HINERV_RECIPE))
    assert res.status == "ok" and calls == [(2, (40, 40))] * 8  # one frame's worth (2 patches) per step


def test_recipe_schedule_is_timm_cosine_with_warmup():
    r = HINERV_RECIPE
    assert r.lr_at(0.0) == pytest.approx(2e-5)  # --warmup-lr 2e-5
    assert r.lr_at(0.05) == pytest.approx(2e-5 + 0.5 * (2e-3 - 2e-5))
    p = 0.1  # the cosine runs over the whole schedule (timm without warmup_prefix)
    assert r.lr_at(p) == pytest.approx(2e-5 + 0.5 * (2e-3 - 2e-5) * (1 + math.cos(math.pi * p)))
    assert r.lr_at(1.0) == pytest.approx(2e-5)  # --min-lr 2e-5
    assert (r.grad_clip, r.patch, r.loss, r.batch_size) == (1.0, -1, "l1_msssim5", 1)
    assert "schedule" not in HNERV_RECIPE.to_dict() and "patch" not in HNERV_RECIPE.to_dict()  # old keys kept
    assert HINERV_RECIPE.to_dict()["schedule"] == "timm"


def test_loss_window_rule():
    assert msssim_loss_window(80, 80, 5) == 5  # the repository's 5x5 where the patch allows it (> 64 px)
    assert msssim_loss_window(40, 40, 5) == 3  # the smoke preset's 40x40 patches: nvbench.metrics' window
    with pytest.raises(ValueError):
        msssim_loss_window(32, 32, 5)


def test_every_task_it_supports_at_the_smoke_preset(tmp_path):
    """reconstruction, convergence, interpolation (variant `index`: any frame index decodes; no
    encoder, so no `encode-frame`) and inpainting (the loss weight is cropped with the patches)."""
    from nvbench.expand import RunRequest, expand
    from nvbench.matrix import run_matrix
    from nvbench.results import Store

    tasks = ["reconstruction", "convergence", "interpolation", "inpainting"]
    jobs = expand(RunRequest(methods=["hinerv"], tasks=tasks, preset="smoke"))
    records = [r for p in run_matrix(jobs, Store(tmp_path)) for r in p["records"]]
    assert {r["task"] for r in records} == set(tasks)
    assert all(r["status"] == "ok" for r in records), [r.get("reason") for r in records]
    assert all(r["params"] == 23_336 for r in records)
    held = [r for r in records if r["task"] == "interpolation" and r["split"] == "held-out"]
    assert [r["variant"] for r in held] == ["index"] and held[0]["psnr"] > 8
    assert all(np.isfinite(r["psnr"]) for r in records)
