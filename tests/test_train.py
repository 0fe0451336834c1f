"""The shared training loop: schedule, losses, learning, determinism, checkpoint resume."""

from __future__ import annotations

import math

import pytest
import torch

from nvbench.recipe import HNERV_RECIPE, NERV_RECIPE, SHARED_RECIPE, resolve_recipe
from nvbench.train import FrameSource, TrainSettings, compute_loss, train
from representations.hnerv import HNeRVMethod
from tests.conftest import smooth_video


def test_schedule_warmup_then_cosine():
    r = HNERV_RECIPE
    assert r.lr_at(0.0) == pytest.approx(0.1 * r.lr)
    assert r.lr_at(0.05) == pytest.approx(0.55 * r.lr)
    assert r.lr_at(0.1) == pytest.approx(r.lr)
    assert r.lr_at(0.55) == pytest.approx(0.5 * r.lr)
    assert r.lr_at(1.0) == pytest.approx(0.0, abs=1e-12)
    assert NERV_RECIPE.lr_at(0.2) == pytest.approx(NERV_RECIPE.lr)


def test_recipes_resolve():
    assert resolve_recipe("paper", NERV_RECIPE) is NERV_RECIPE
    assert resolve_recipe("shared", NERV_RECIPE) is SHARED_RECIPE
    assert SHARED_RECIPE.loss == "l2" and SHARED_RECIPE.batch_size == 2


def test_losses():
    a = torch.zeros(1, 3, 16, 16)
    b = torch.full((1, 3, 16, 16), 0.5)
    assert compute_loss("l2", a, b).item() == pytest.approx(0.25)
    assert compute_loss("fusion6", b, b).item() == pytest.approx(0.0, abs=1e-6)
    w = torch.zeros(1, 1, 16, 16)
    w[..., :8] = 1
    c = b.clone()
    c[..., 8:] = 0  # differs only where the weight is zero
    assert compute_loss("l2", c, b, w).item() == pytest.approx(0.0)


def _tiny_run(tmp_path, epochs, checkpoint=None, seed=1):
    video = smooth_video(frames=8, height=40, width=80)
    config = HNeRVMethod.plan(8, 40, 80, 24_000, {})
    torch.manual_seed(seed)  # the initial weights, independent of the tests that ran before
    model = HNeRVMethod.build(config)
    source = FrameSource(video.frames, torch.device("cpu"))
    settings = TrainSettings(epochs=epochs, recipe=HNERV_RECIPE, seed=seed, checkpoint=checkpoint,
                             checkpoint_every=2)
    return model, train(model, source, settings)


def test_training_learns(tmp_path):
    _, res = _tiny_run(tmp_path, epochs=20)
    assert res.status == "ok" and res.epochs_done == 20 and res.steps == 20 * 4
    assert res.history[-1]["train_psnr"] > res.history[0]["train_psnr"] + 2.5
    assert all(math.isfinite(h["loss"]) for h in res.history)


def test_l2_train_psnr_is_the_loss_itself(tmp_path):
    """With an unweighted L2 loss the epoch's train PSNR comes from the loss values themselves
    (no second MSE pass over the batch): the PSNR of the epoch's mean loss, exactly."""
    _, res = _tiny_run(tmp_path, epochs=2)
    for h in res.history:
        assert h["train_psnr"] == -10 * math.log10(h["loss"])


def test_same_seed_same_result(tmp_path):
    _, a = _tiny_run(tmp_path, epochs=3)
    _, b = _tiny_run(tmp_path, epochs=3)
    assert a.history[-1]["loss"] == b.history[-1]["loss"]


def test_resume_from_checkpoint_matches_uninterrupted(tmp_path):
    ref_model, ref = _tiny_run(tmp_path, epochs=6)
    ckpt = tmp_path / "ckpt.pt"
    model, res = _resume_case(ckpt)
    assert res.resumed_from == 4 and res.epochs_done == 6
    assert res.history[-1]["loss"] == ref.history[-1]["loss"]
    for p, q in zip(model.parameters(), ref_model.parameters(), strict=True):
        assert torch.equal(p, q)


def _resume_case(ckpt):
    """Train 6 epochs but crash during epoch 5 (after epoch 4's checkpoint), then resume."""
    video = smooth_video(frames=8, height=40, width=80)
    config = HNeRVMethod.plan(8, 40, 80, 24_000, {})
    source = FrameSource(video.frames, torch.device("cpu"))

    class Crash(Exception):
        pass

    def crash_at_5(log):
        if log["epoch"] == 5:
            raise Crash

    settings = TrainSettings(epochs=6, recipe=HNERV_RECIPE, seed=1, checkpoint=ckpt, checkpoint_every=2)
    torch.manual_seed(1)
    with pytest.raises(Crash):
        train(HNeRVMethod.build(config), source, settings, callbacks=[crash_at_5])
    assert torch.load(ckpt, weights_only=False)["epoch"] == 4
    model = HNeRVMethod.build(config)
    return model, train(model, source, settings)


def test_a_stuck_run_is_flagged_as_diverged():
    """lr 0: the output never changes, so half-way through a 20-epoch run it is recorded as stalled."""
    from dataclasses import replace

    video = smooth_video(frames=4, height=40, width=80)
    config = HNeRVMethod.plan(4, 40, 80, 24_000, {})
    source = FrameSource(video.frames, torch.device("cpu"))
    res = train(HNeRVMethod.build(config), source,
                TrainSettings(epochs=20, recipe=replace(HNERV_RECIPE, lr=0.0), seed=1))
    assert res.status == "diverged" and res.epochs_done == 10
    assert "stalled" in res.reason and "epoch 10" in res.reason
