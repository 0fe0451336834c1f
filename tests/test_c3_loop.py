"""The training loop's rate term, progress hook and gradient clip (any method may use them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from nvbench.nn import NeuralRepresentation
from nvbench.recipe import Recipe
from nvbench.train import FrameSource, TrainSettings, train


class Frames(NeuralRepresentation):
    """A learnable video (T,3,H,W) with a rate term lambda * mean(v^2)."""

    def __init__(self, t: int, h: int, w: int, lam: float):
        super().__init__({})
        self.video = torch.nn.Parameter(torch.full((t, 3, h, w), 0.5))
        self.lam = lam
        self.fractions: list[float] = []
        self._rate: torch.Tensor | None = None

    def forward(self, idx, frames=None):
        v = self.video[idx]
        self._rate = self.lam * (self.video ** 2).mean()
        return v

    def rate_term(self):
        return self._rate

    def on_progress(self, fraction: float) -> None:
        self.fractions.append(fraction)


@dataclass(frozen=True)
class ClippedRecipe(Recipe):
    grad_clip: float = 0.0


def _source() -> FrameSource:
    rng = np.random.default_rng(0)
    return FrameSource(rng.integers(0, 256, (4, 6, 8, 3), dtype=np.uint8), torch.device("cpu"), channels_last=False)


def test_rate_term_enters_the_loss_and_the_log():
    recipe = Recipe("t", loss="l2", lr=1e-2, betas=(0.9, 0.999), warmup=0.0, batch_size=4)
    model = Frames(4, 6, 8, lam=0.5)
    res = train(model, _source(), TrainSettings(epochs=3, recipe=recipe, channels_last=False))
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    for h in res.history:
        assert h["rate"] > 0 and h["loss"] > h["rate"]  # loss = mse + rate
    # the rate pulls the video towards 0: the same run without it ends further from 0
    plain = Frames(4, 6, 8, lam=0.0)
    train(plain, _source(), TrainSettings(epochs=3, recipe=recipe, channels_last=False))
    assert model.video.abs().mean() < plain.video.abs().mean()
    # on_progress saw every step's fraction of the schedule, increasing from 0
    assert model.fractions == pytest.approx([0.0, 1 / 3, 2 / 3])


def test_models_without_hooks_log_no_rate():
    recipe = Recipe("t", loss="l2", lr=1e-2, betas=(0.9, 0.999), warmup=0.0, batch_size=4)

    class NoHooks(NeuralRepresentation):
        def __init__(self):
            super().__init__({})
            self.video = torch.nn.Parameter(torch.zeros(4, 3, 6, 8))

        def forward(self, idx, frames=None):
            return self.video[idx]

    res = train(NoHooks(), _source(), TrainSettings(epochs=1, recipe=recipe, channels_last=False))
    assert "rate" not in res.history[0]


def test_grad_clip_bounds_the_gradient_the_optimiser_sees():
    recipe = ClippedRecipe("t", loss="l2", lr=1e-3, betas=(0.9, 0.999), warmup=0.0, batch_size=4, grad_clip=1e-3)
    model = Frames(4, 6, 8, lam=0.0)
    orig = torch.nn.utils.clip_grad_norm_
    norms = []

    def spy(params, max_norm, *a, **k):
        params = list(params)
        out = orig(params, max_norm, *a, **k)
        norms.append(float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))))
        return out

    torch.nn.utils.clip_grad_norm_ = spy
    try:
        train(model, _source(), TrainSettings(epochs=2, recipe=recipe, channels_last=False))
    finally:
        torch.nn.utils.clip_grad_norm_ = orig
    assert len(norms) == 2 and all(n <= 1e-3 * (1 + 1e-5) for n in norms)
