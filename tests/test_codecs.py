"""Codec baselines (x264/x265 through ffmpeg, CompressAI), the colour conversion, LPIPS and VMAF."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import smooth_video

from nvbench.colour import rgb_to_yuv420, roundtrip_ceiling, yuv420_to_rgb, yuv_psnr
from representations.ffmpeg_codecs import AOMMethod, SVTAV1Method, X264Method, X265Method, ffmpeg_encoders


def _psnr(a, b):
    mse = ((a.astype(np.float64) - b) ** 2).mean()
    return 10 * np.log10(255**2 / mse)


def test_yuv420_round_trip_and_ceiling():
    v = smooth_video(4, 40, 80).frames
    Y, U, V = rgb_to_yuv420(v)
    assert Y.shape == (4, 40, 80) and U.shape == (4, 20, 40)
    assert 16 <= Y.min() and Y.max() <= 235  # limited range
    back = yuv420_to_rgb(Y, U, V)
    assert _psnr(back, v) == pytest.approx(roundtrip_ceiling(v), abs=0.05)  # pooled vs per-frame mean
    assert roundtrip_ceiling(v) > 40  # smooth content loses little to 4:2:0
    grey = np.full((1, 4, 4, 3), 128, np.uint8)
    assert np.abs(yuv420_to_rgb(*rgb_to_yuv420(grey)).astype(int) - 128).max() <= 1
    odd = smooth_video(2, 41, 79).frames
    assert yuv420_to_rgb(*rgb_to_yuv420(odd), 41, 79).shape == odd.shape
    p = yuv_psnr((Y, U, V), (Y, U, V))
    assert p["psnr_y"] == float("inf")


@pytest.mark.parametrize("method", [X264Method, X265Method, SVTAV1Method, AOMMethod])
def test_ffmpeg_codec_ladder(method, tmp_path):
    if method.encoder not in ffmpeg_encoders():
        pytest.skip(f"no {method.encoder}")
    v = smooth_video(8, 40, 80).frames
    crfs = method.qualities("smoke", {})
    assert max(crfs) == method.crf_range[1]  # the ladder reaches the lowest rate
    sizes, psnrs = [], []
    for crf in sorted(crfs, reverse=True):
        path = method.encode(v, crf, tmp_path, {})
        out = method.decode(path, v.shape[:3], tmp_path, {})
        assert out.rgb.shape == v.shape and out.rgb.dtype == np.uint8
        sizes.append(path.stat().st_size)
        psnrs.append(_psnr(out.rgb, v))
        # decoded planes are what the RGB came from
        assert np.array_equal(yuv420_to_rgb(*out.yuv), out.rgb)
    assert sizes == sorted(sizes) and psnrs == sorted(psnrs)  # lower CRF: more bits, better quality
    assert psnrs[-1] > 35


def test_lpips_random_backbone_properties():
    pytest.importorskip("lpips")
    from nvbench.perceptual import lpips_model, lpips_score

    model = lpips_model(pnet_rand=True)
    v = smooth_video(2, 64, 64).frames
    rng = np.random.default_rng(0)
    assert lpips_score(v, v, model) == pytest.approx(0.0, abs=1e-6)
    scores = []
    for sigma in (5, 20, 60):
        noisy = np.clip(v + rng.normal(0, sigma, v.shape), 0, 255).astype(np.uint8)
        scores.append(lpips_score(v, noisy, model))
    assert 0 < scores[0] < scores[1] < scores[2]


def test_lpips_without_weights_says_how_to_fetch(monkeypatch, tmp_path):
    pytest.importorskip("lpips")
    import torch

    from nvbench.perceptual import lpips_score

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    v = smooth_video(1, 32, 32).frames
    msg = lpips_score(v, v)
    assert msg.startswith("unavailable: no AlexNet weights") and "alexnet" in msg


def test_vmaf_orders_quality():
    from nvbench.perceptual import vmaf, vmaf_available

    if not vmaf_available():
        pytest.skip("no libvmaf")
    v = smooth_video(4, 64, 96).frames
    rng = np.random.default_rng(0)
    light = np.clip(v + rng.normal(0, 3, v.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(v + rng.normal(0, 30, v.shape), 0, 255).astype(np.uint8)
    assert vmaf(v, light) > vmaf(v, heavy)


def test_compressai_codec_full_path_with_test_weights(tmp_path, monkeypatch):
    """Weights the test makes (a few training steps) in a temporary TORCH_HOME: real
    compress/decompress, bpp from the real strings. Such numbers never reach a report."""
    pytest.importorskip("compressai")
    import torch
    from compressai.zoo.image import cfgs, model_architectures

    from representations.compressai_codecs import Bmshj2018Factorized as M

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("NVBENCH_COMPRESSAI_WEIGHTS", raising=False)
    assert "no weights" in M.unavailable_reason() and "pretrained=True" in M.unavailable_reason()
    torch.manual_seed(0)
    model = model_architectures[M.arch](*cfgs[M.arch][1])
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(2, 3, 64, 64)
    for _ in range(3):
        out = model(x)
        bpp = sum(torch.log(lk).sum() for lk in out["likelihoods"].values()) / (-np.log(2) * 2 * 64 * 64)
        loss = ((out["x_hat"] - x) ** 2).mean() * 100 + bpp + model.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    ckpt = tmp_path / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    torch.save(model.state_dict(), ckpt / f"{M.file_prefix}-1-00000000.pth.tar")
    assert M.unavailable_reason() is None
    assert M.qualities("smoke", {}) == [1]
    v = smooth_video(2, 40, 80).frames
    path = M.encode(v, 1, tmp_path, {})
    dec = M.decode(path, v.shape[:3], tmp_path, {})
    assert dec.rgb.shape == v.shape
    again = M.decode(path, v.shape[:3], tmp_path, {})
    assert np.array_equal(dec.rgb, again.rgb)  # the entropy decoder is deterministic
    assert 0 < path.stat().st_size < v.size  # a real, compressed bitstream
