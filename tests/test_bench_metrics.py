"""Benchmark (pytest-benchmark, `-m bench`): MS-SSIM of a scoring batch (8 frames of the cpu
preset's 160x320, window 7, one thread) by nvbench.msssim against pytorch-msssim, timed in
alternating rounds in one run; the ratio goes to the benchmark's extra_info, not into an assertion.

Run: pytest -m bench tests/test_bench_metrics.py --benchmark-enable (or `tox -e bench`)."""

from __future__ import annotations

import pytest
import torch
from pytorch_msssim import ms_ssim

from nvbench.msssim import ms_ssim_frames
from nvbench.speed import best_time


@pytest.mark.bench
# both NCHW; a channels_last decoder output against the NCHW source (a .nvb file's scoring); both
# channels_last (a codec's frames and the source viewed from numpy, rgb_metrics)
@pytest.mark.parametrize("layouts", ["nchw", "cl-pred", "cl-both"])
def test_bench_ms_ssim_against_pytorch_msssim(benchmark, layouts):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # scoring's thread count (nvbench.compress.nvb.REFERENCE_THREADS)
    try:
        g = torch.Generator().manual_seed(0)
        gt = (torch.rand(8, 3, 160, 320, generator=g) * 255).round() / 255
        x = ((gt + 0.05 * torch.randn(gt.shape, generator=g)).clamp(0, 1) * 255).round() / 255
        if layouts != "nchw":
            x = x.contiguous(memory_format=torch.channels_last)
        if layouts == "cl-both":
            gt = gt.contiguous(memory_format=torch.channels_last)
        ours = benchmark.pedantic(lambda: ms_ssim_frames(x, gt, 7), rounds=5, iterations=1, warmup_rounds=1)
        theirs = ms_ssim(x, gt, data_range=1.0, size_average=False, win_size=7)
        assert torch.equal(ours, theirs)
        t_ours, t_theirs = [], []
        for _ in range(3):  # alternating rounds: the ratio of one run, not absolute times
            t_ours.append(best_time(lambda: ms_ssim_frames(x, gt, 7), 0.3))
            t_theirs.append(best_time(lambda: ms_ssim(x, gt, data_range=1.0, size_average=False, win_size=7), 0.3))
        benchmark.extra_info.update(layouts=layouts, seconds_nvbench=min(t_ours), seconds_pytorch_msssim=min(t_theirs),
                                    speedup=min(t_theirs) / min(t_ours))
    finally:
        torch.set_num_threads(before)
