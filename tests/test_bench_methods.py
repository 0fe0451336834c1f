"""Benchmarks (pytest-benchmark, `-m bench`): training frames/s (one optimiser step with the
method's own recipe: loss and batch size) and decode fps (one batch of 8 frames from the stored
decoder) for every representation at the cpu preset (Bunny 160x320, 132 frames, 94k).

Run: pytest -m bench tests/test_bench_methods.py --benchmark-enable
Synthetic frames: the speed does not depend on the content, and no data is needed."""

from __future__ import annotations

import pytest
import torch

from nvbench import registry
from nvbench.train import compute_loss, crop_patches, make_optimizer, patch_side

N, H, W, SIZE = 132, 160, 320, 94_000
NAMES = ["nerv", "nerv-hnerv", "enerv", "hnerv", "autoencoder", "hnerv-boost", "hinerv"]


def _setup(name: str):
    method = registry.methods.get(name)
    cfg = method.plan(N, H, W, SIZE, {})
    torch.manual_seed(0)
    frames = torch.rand(N, 3, H, W).contiguous(memory_format=torch.channels_last)
    model = method.build(cfg).to(memory_format=torch.channels_last)
    return method, model, frames


@pytest.mark.bench
@pytest.mark.parametrize("name", NAMES)
def test_bench_train_step(benchmark, name):
    method, model, frames = _setup(name)
    recipe = method.recipe
    opt = make_optimizer(model, recipe, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)

    patch = patch_side(model, recipe, H, W)  # patch batches (HiNeRV): a frame's worth of crops per step
    per_frame = (H // patch[0]) * (W // patch[1]) if patch else 1

    def step():
        idx = torch.randint(0, N, (recipe.batch_size * per_frame,), generator=gen)
        target = frames[idx]
        if patch:
            rows = torch.randint(0, H // patch[0], idx.shape, generator=gen)
            cols = torch.randint(0, W // patch[1], idx.shape, generator=gen)
            pred, target = model.forward_patches(idx, rows, cols, patch), crop_patches(target, rows, cols, *patch)
        else:
            pred = model(idx, target if model.hybrid else None)
        loss = compute_loss(recipe.loss, pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    step()  # warm-up
    loss = benchmark.pedantic(step, rounds=5, iterations=1)
    assert loss == loss  # finite
    if benchmark.stats:
        benchmark.extra_info["train_frames_per_s"] = recipe.batch_size / benchmark.stats.stats.mean


@pytest.mark.bench
@pytest.mark.parametrize("name", NAMES)
def test_bench_decode_batch(benchmark, name):
    _, model, frames = _setup(name)
    model.eval()
    dec = model.export(lambda idx: frames[idx]).eval().to(memory_format=torch.channels_last)  # as fit.py does
    idx = torch.arange(8)

    def decode():
        with torch.inference_mode():
            return dec(idx)

    decode()  # warm-up
    out = benchmark.pedantic(decode, rounds=5, iterations=1)
    assert out.shape == (8, 3, H, W)
    if benchmark.stats:
        benchmark.extra_info["decode_fps"] = 8 / benchmark.stats.stats.mean
