"""pytest-benchmark: one HNeRV training step and one decode batch at the cpu preset."""

from __future__ import annotations

import pytest
import torch

from nvbench.recipe import HNERV_RECIPE
from nvbench.train import compute_loss, make_optimizer
from representations.hnerv import HNeRVMethod

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def cpu_model():
    config = HNeRVMethod.plan(132, 160, 320, 94_000, {})
    model = HNeRVMethod.build(config).to(memory_format=torch.channels_last)
    return config, model


def test_bench_hnerv_train_step(benchmark, cpu_model):
    _, model = cpu_model
    opt = make_optimizer(model, HNERV_RECIPE, torch.device("cpu"))  # the shared loop's optimiser
    x = torch.rand(2, 3, 160, 320).contiguous(memory_format=torch.channels_last)
    idx = torch.tensor([0, 1])

    def step():
        loss = compute_loss("l2", model(idx, x), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    benchmark(step)
    benchmark.extra_info["frames_per_second"] = 2 / benchmark.stats["mean"]


def test_bench_hnerv_decode_batch(benchmark, cpu_model):
    _, model = cpu_model
    dec = model.export(lambda idx: torch.rand(len(idx), 3, 160, 320)).eval()
    dec = dec.to(memory_format=torch.channels_last)  # as fit.py and .nvb decoding prepare it
    idx = torch.arange(8)

    def decode():
        with torch.inference_mode():
            dec(idx)

    benchmark(decode)
    benchmark.extra_info["frames_per_second"] = 8 / benchmark.stats["mean"]
