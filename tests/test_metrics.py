"""The shared metrics on values whose right answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from nvbench.metrics import QualityAccumulator, measure_fps, ms_ssim_window, psnr_from_mse, to_uint8


def test_psnr_of_one_level_error():
    gt = torch.full((1, 3, 8, 8), 100, dtype=torch.uint8)
    pred = (gt.float() + 1) / 255.0  # exactly one 8-bit level off everywhere
    acc = QualityAccumulator(with_ms_ssim=False)
    acc.add(pred, gt)
    r = acc.result()
    assert r["psnr"] == pytest.approx(20 * math.log10(255), abs=1e-6)  # 48.13 dB
    assert r["psnr_pooled"] == pytest.approx(r["psnr"], abs=1e-6)


def test_rounding_is_what_the_user_sees():
    gt = torch.full((1, 3, 4, 4), 50, dtype=torch.uint8)
    pred = (gt.float() + 0.3) / 255.0  # rounds back to 50
    acc = QualityAccumulator(with_ms_ssim=False)
    acc.add(pred, gt)
    r = acc.result()
    assert math.isinf(r["psnr"])
    assert r["psnr_float"] == pytest.approx(20 * math.log10(255 / 0.3), abs=1e-3)


def test_mean_of_frames_differs_from_pooled():
    gt = torch.zeros((2, 3, 4, 4), dtype=torch.uint8)
    pred = torch.stack([torch.full((3, 4, 4), 1 / 255), torch.full((3, 4, 4), 10 / 255)])
    acc = QualityAccumulator(with_ms_ssim=False)
    acc.add(pred, gt)
    r = acc.result()
    per = [20 * math.log10(255 / 1), 20 * math.log10(255 / 10)]
    assert r["psnr"] == pytest.approx(sum(per) / 2, abs=1e-4)
    assert r["psnr_pooled"] == pytest.approx(10 * math.log10(255**2 / ((1 + 100) / 2)), abs=1e-4)


def test_ms_ssim_window_rule():
    assert ms_ssim_window(640, 1280) == 11
    assert ms_ssim_window(161, 320) == 11
    assert ms_ssim_window(160, 320) == 7
    assert ms_ssim_window(40, 80) == 3
    assert ms_ssim_window(32, 64) is None


def test_ms_ssim_identical_is_one_and_noise_lowers_it():
    g = torch.Generator().manual_seed(0)
    gt = (torch.rand(2, 3, 160, 320, generator=g) * 255).to(torch.uint8)
    acc = QualityAccumulator()
    acc.add(gt.float() / 255, gt)
    assert acc.result()["ms_ssim"] == pytest.approx(1.0, abs=1e-6)
    assert acc.result()["ms_ssim_window"] == 7
    noisy = QualityAccumulator()
    noisy.add((gt.float() / 255 + 0.1 * torch.randn(gt.shape, generator=g)).clamp(0, 1), gt)
    assert noisy.result()["ms_ssim"] < 0.99


def test_region_psnr_only_counts_region():
    gt = torch.zeros((1, 3, 4, 4), dtype=torch.uint8)
    pred = torch.zeros((1, 3, 4, 4))
    pred[..., :2, :] = 10 / 255  # error only in the top half
    region = torch.zeros((1, 1, 4, 4), dtype=torch.bool)
    region[..., 2:, :] = True
    acc = QualityAccumulator(with_ms_ssim=False)
    acc.add(pred, gt, region=region)
    assert math.isinf(acc.result()["psnr"])


def test_to_uint8_and_psnr_helpers():
    assert to_uint8(torch.tensor([0.0, 0.5, 1.2, -1.0])).tolist() == [0, 128, 255, 0]
    assert psnr_from_mse(1e-2) == pytest.approx(20.0)


def test_measure_fps_counts_frames():
    calls = []

    def decode(idx):
        calls.append(len(idx))
        return torch.zeros(len(idx), 3, 2, 2)

    fps = measure_fps(decode, frames=10, device=torch.device("cpu"), batch_size=4, warmup=1, min_seconds=0.01)
    assert fps > 0 and calls[0] == 4 and sum(calls[1:4]) == 10
