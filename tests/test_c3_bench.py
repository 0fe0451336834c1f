"""Benchmarks (pytest-benchmark, `-m bench`): C3's training steps per second through the shared
loop and its decode rate from the .nvb file (range decoding of the latents + synthesis), at the
smoke preset (8 frames of 40x80) and the cpu preset's shape (132 frames of 160x320, 4 patches).

Run: pytest -m bench tests/test_c3_bench.py --benchmark-enable. Weights and latents are those
of a few training steps (speed does not depend on training)."""

from __future__ import annotations

import time

import pytest
import torch

from nvbench.compress.nvb import decode_frames
from nvbench.train import FrameSource, TrainSettings, train
from representations.c3 import C3_RECIPE, C3Method
from representations.c3_net import C3
from tests.conftest import smooth_video

SHAPES = {"smoke": (8, 40, 80), "cpu": (132, 160, 320)}


def _fit(shape, steps):
    video = smooth_video(*shape)
    cfg = C3Method.plan(*shape, None, {"lambda": 1e-3})
    torch.manual_seed(1)
    model = C3(cfg)
    source = FrameSource(video.frames, torch.device("cpu"))
    t0 = time.perf_counter()
    res = train(model, source, TrainSettings(epochs=steps, recipe=C3_RECIPE, seed=1))
    return model.eval(), cfg, source, res, time.perf_counter() - t0


@pytest.mark.bench
@pytest.mark.parametrize("preset", ["smoke", "cpu"])
def test_bench_c3_train_steps(benchmark, preset):
    steps = 10 if preset == "smoke" else 2
    res = benchmark.pedantic(lambda: _fit(SHAPES[preset], steps)[3], rounds=1, iterations=1)
    assert res.steps == steps
    benchmark.extra_info.update(preset=preset, steps_per_s=res.steps / res.train_seconds)


@pytest.mark.bench
@pytest.mark.parametrize("preset", ["smoke", "cpu"])
def test_bench_c3_decode_file(benchmark, preset):
    from types import SimpleNamespace

    from representations.c3_compress import encode_point

    model, cfg, source, _, _ = _fit(SHAPES[preset], 2)
    data, _ = encode_point(SimpleNamespace(model=model, config=cfg, source=source), 1e-3, "coordinate")
    frames = benchmark.pedantic(lambda: decode_frames(data), rounds=2, iterations=1, warmup_rounds=0)
    assert frames.shape == (cfg["frames"], cfg["height"], cfg["width"], 3)
    if benchmark.stats:
        benchmark.extra_info.update(preset=preset, frames_per_s=cfg["frames"] / benchmark.stats.stats.mean,
                                    bytes=len(data))
