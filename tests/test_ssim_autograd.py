"""nvbench.ssim_autograd: the hand-written SSIM backward gives pytorch-msssim's values and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pytorch_msssim import ssim as reference

from nvbench.ssim_autograd import ssim
from nvbench.train import compute_loss


def _pair(target: torch.Tensor, seed: int, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A prediction near `target` (noise plus a little blur, as a half-trained model gives)."""
    g = torch.Generator().manual_seed(seed)
    pred = (F.avg_pool2d(target, 3, 1, 1, count_include_pad=False) * 0.5 + target * 0.5
            + 0.05 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return pred.contiguous(memory_format=fmt), target.contiguous(memory_format=fmt)


def _compare(pred: torch.Tensor, target: torch.Tensor, both: bool) -> None:
    """Value within 1e-6, gradients within 1e-5 relative (norm-wise and element-wise, relative to
    the largest element) of autograd through pytorch-msssim, in float32."""
    grads = []
    for fn in (lambda a, b: reference(a, b, data_range=1.0, size_average=True), ssim):
        a, b = pred.clone().requires_grad_(True), target.clone().requires_grad_(both)
        v = fn(a, b)
        v.backward()
        grads.append((v.detach(), a.grad, b.grad))
    (v_ref, gx_ref, gy_ref), (v, gx, gy) = grads
    assert abs(v.item() - v_ref.item()) <= 1e-6
    pairs = [(gx, gx_ref)] + ([(gy, gy_ref)] if both else [])
    if not both:
        assert gy is None
    for got, want in pairs:
        assert got.shape == want.shape and got.dtype == torch.float32
        assert ((got - want).norm() / want.norm()).item() <= 1e-5
        assert ((got - want).abs().max() / want.abs().max()).item() <= 1e-5


@pytest.mark.parametrize("shape,channels_last,both", [
    ((1, 3, 160, 320), True, False),  # the cpu preset's training batch
    ((2, 3, 37, 53), False, True),  # odd sizes, batch 2, NCHW, a gradient for both inputs
    ((1, 1, 11, 12), True, True),  # one channel, exactly the window's height
])
def test_random_frames_match_pytorch_msssim(shape, channels_last, both):
    target = torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)))
    _compare(*_pair(target, 1, channels_last), both)


@pytest.mark.parametrize("height,width", [(160, 320), (45, 83)])
def test_bunny_frames_match_pytorch_msssim(height, width):
    from _data_fixtures import bunny_frames

    frames = bunny_frames(2, height, width)
    target = torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2).float() / 255.0
    _compare(*_pair(target, 2, True), both=False)
    _compare(*_pair(target[:1], 3, False), both=True)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 2, 13, 15, dtype=torch.float64, generator=g).requires_grad_(True)
    y = torch.rand(2, 2, 13, 15, dtype=torch.float64, generator=g).requires_grad_(True)
    assert torch.autograd.gradcheck(ssim, (x, y), eps=1e-6, atol=1e-8, rtol=1e-6)
    ref = reference(x.detach(), y.detach(), data_range=1.0, size_average=True)
    assert abs(ssim(x, y).item() - ref.item()) < 1e-12


def test_frames_smaller_than_the_window_take_the_reference_path():
    x, y = torch.rand(1, 3, 8, 40), torch.rand(1, 3, 8, 40)
    with pytest.warns(UserWarning):  # pytorch-msssim skips the short axis and says so
        assert ssim(x, y).item() == reference(x, y, data_range=1.0, size_average=True).item()
    with pytest.raises(ValueError, match="one shape"):
        ssim(x, y[..., :20])


def test_fusion6_loss_is_the_paper_formula_with_its_gradient():
    """The training loss uses this SSIM: value and gradient as 0.7*L1 + 0.3*(1 - pytorch-msssim)."""
    pred, target = _pair(torch.rand(1, 3, 40, 80, generator=torch.Generator().manual_seed(5)), 4, True)
    weight = (torch.rand(1, 1, 40, 80, generator=torch.Generator().manual_seed(6)) > 0.3).float()
    for w in (None, weight):
        a, b = pred.clone().requires_grad_(True), pred.clone().requires_grad_(True)
        got = compute_loss("fusion6", a, target, w)
        got.backward()
        pa, ta = (b * w, target * w) if w is not None else (b, target)
        l1 = ((b - target).abs() * w.expand_as(b)).sum() / w.expand_as(b).sum() if w is not None \
            else F.l1_loss(b, target)
        want = 0.7 * l1 + 0.3 * (1.0 - reference(pa, ta, data_range=1.0, size_average=True))
        want.backward()
        assert abs(got.item() - want.item()) <= 1e-6
        assert ((a.grad - b.grad).norm() / b.grad.norm()).item() <= 1e-5
