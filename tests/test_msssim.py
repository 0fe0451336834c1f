"""nvbench.msssim gives pytorch-msssim's MS-SSIM bit for bit, in every layout evaluation meets."""

from __future__ import annotations

import pytest
import torch
from pytorch_msssim import ms_ssim

from nvbench.metrics import QualityAccumulator
from nvbench.msssim import ms_ssim_frames

CL = torch.channels_last


def _pair(shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth 8-bit 'frame' batch and a noisy 8-bit copy of it, as scoring sees them."""
    g = torch.Generator().manual_seed(seed)
    b, c, h, w = shape
    base = torch.rand(b, c, h // 8 + 1, w // 8 + 1, generator=g)
    gt = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)
    gt = (gt * 255).round() / 255
    x = ((gt + 0.04 * torch.randn(shape, generator=g)).clamp(0, 1) * 255).round() / 255
    return x, gt


LAYOUTS = {"nchw": torch.contiguous_format, "cl": CL}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layouts", [("nchw", "nchw"), ("cl", "cl"), ("cl", "nchw"), ("nchw", "cl")])
@pytest.mark.parametrize("shape,win", [((8, 3, 160, 320), 7), ((3, 3, 161, 333), 7), ((2, 3, 177, 250), 11),
                                       ((5, 3, 49, 67), 3), ((1, 3, 97, 130), 3)])
def test_bitwise_equal_to_pytorch_msssim(threads: int, layouts: tuple[str, str], shape: tuple[int, ...],
                                         win: int) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x, y = _pair(shape, seed=sum(shape) + win)
        x, y = x.contiguous(memory_format=LAYOUTS[layouts[0]]), y.contiguous(memory_format=LAYOUTS[layouts[1]])
        want = ms_ssim(x, y, data_range=1.0, size_average=False, win_size=win)
        got = ms_ssim_frames(x, y, win)
    finally:
        torch.set_num_threads(before)
    assert got.shape == (shape[0],)
    assert torch.equal(got, want), (got - want).abs().max().item()
    assert 0.5 < float(got.min()) < 1.0  # a real similarity, not a degenerate constant


def test_identical_images_and_strided_views() -> None:
    x, y = _pair((2, 3, 120, 200), seed=3)
    assert torch.allclose(ms_ssim_frames(y, y, 7), torch.ones(2), atol=1e-6)
    wide = torch.cat([x, x], dim=3)[..., :200]  # neither NCHW- nor channels_last-contiguous
    want = ms_ssim(wide, y, data_range=1.0, size_average=False, win_size=7)
    assert torch.equal(ms_ssim_frames(wide, y, 7), want)


@pytest.mark.parametrize("shape", [(2, 1, 170, 200), (3, 4, 100, 130)])
def test_other_channel_counts_and_float64(shape: tuple[int, ...]) -> None:
    x, y = _pair(shape, seed=7)
    win = 7 if min(shape[-2:]) > 96 else 3
    assert torch.equal(ms_ssim_frames(x, y, win), ms_ssim(x, y, data_range=1.0, size_average=False, win_size=win))
    x64, y64 = x.double(), y.double()  # float64 convolves outside oneDNN: pytorch-msssim's own path
    assert torch.equal(ms_ssim_frames(x64, y64, win),
                       ms_ssim(x64, y64, data_range=1.0, size_average=False, win_size=win))


def test_rejects_what_pytorch_msssim_rejects() -> None:
    x, y = _pair((1, 3, 96, 96), seed=1)
    with pytest.raises(ValueError, match="short side above 96"):
        ms_ssim_frames(x, y, 7)
    with pytest.raises(ValueError, match="odd"):
        ms_ssim_frames(x, y, 4)
    with pytest.raises(ValueError, match="one shape"):
        ms_ssim_frames(x, y[..., :90], 3)


def test_quality_accumulator_keeps_its_values() -> None:
    """The accumulator's MS-SSIM equals pytorch-msssim's on a channels_last prediction against
    NCHW 8-bit ground truth (what a decoder's output meets in scoring)."""
    x, y = _pair((6, 3, 160, 320), seed=5)
    acc, want = QualityAccumulator(), []
    gt8 = (y * 255).round().to(torch.uint8)
    for s in (0, 4):
        pred = x[s : s + 4].contiguous(memory_format=CL)
        acc.add(pred, gt8[s : s + 4])
        # what the accumulator computed before: pytorch-msssim on the same tensors
        rounded = (pred.clamp(0, 1) * 255.0).round_().to(torch.uint8).float() / 255.0
        want += ms_ssim(rounded, gt8[s : s + 4].float() / 255.0, data_range=1.0, size_average=False,
                        win_size=7).tolist()
    assert acc.window == 7
    assert acc.ms_ssim_frames == want


_ISA_CHECK = """
import torch
from pytorch_msssim import ms_ssim
from nvbench.msssim import ms_ssim_frames
g = torch.Generator().manual_seed(11)
y = torch.rand(3, 3, 161, 200, generator=g)
x = (y + 0.05 * torch.randn(y.shape, generator=g)).clamp(0, 1)
pairs = [(x, y), (x.contiguous(memory_format=torch.channels_last), y)]
ok = all(torch.equal(ms_ssim_frames(a, b, 7), ms_ssim(a, b, data_range=1.0, size_average=False, win_size=7))
         for a, b in pairs)
print("equal" if ok else "differ")
"""


@pytest.mark.parametrize("isa,aten", [("SSE41", "default"), ("AVX2", "avx2")])
def test_bitwise_equal_on_older_instruction_sets(isa: str, aten: str) -> None:  # "isa" in -k
    """oneDNN picks other depthwise kernels on CPUs without AVX-512 (a GEMM for NCHW under SSE4.1,
    brdgmm/jit_dw under AVX2): the sums still agree. Emulated with oneDNN's and ATen's ISA caps."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": isa, "ATEN_CPU_CAPABILITY": aten}
    out = subprocess.run([sys.executable, "-c", _ISA_CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip() == "equal"
