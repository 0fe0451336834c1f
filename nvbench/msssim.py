"""MS-SSIM for evaluation: pytorch-msssim's values, bit for bit, in a third to two fifths of its
time wherever an input is NCHW (about the same when both are channels_last already).

Why: every scored file runs MS-SSIM over every frame (the main job scores fifteen files), and
pytorch-msssim spends about 80 % of it in its separable Gaussian filter, a depthwise
convolution that oneDNN runs slowly on (B, 3, H, W) tensors in NCHW layout. The same
convolution on a channels_last tensor takes a fast depthwise kernel whose sums come out
bitwise equal (tests/test_msssim.py checks that, and the values, against pytorch-msssim).
That is oneDNN's behaviour (CPU, float32); other devices and dtypes run pytorch-msssim itself.

Everything else is pytorch-msssim's ``ms_ssim(X, Y, data_range, size_average=False, win_size)``
as written: the same element-wise operations in the same order (their values do not depend on
the layout), average pooling (each output the same four-term sum in any layout), and the two
maps that are averaged laid out as pytorch-msssim's would be, so their means add in the same
order. That layout is X's: each of its element-wise steps takes the layout of its first operand,
and X (or a map filtered from it) comes first in every one that mixes X's and Y's maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nvbench.ssim_autograd import K1, K2, gaussian_window

#: pytorch-msssim's default level weights
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

_CL = torch.channels_last


def _window(size: int, channels: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """pytorch-msssim's 1-D Gaussian (float32, normalised) as the (C,1,size,1) and (C,1,1,size)
    depthwise filters it applies along H, then W."""
    g = gaussian_window(size).to(like.device, like.dtype)
    win = g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    return win.transpose(2, -1), win


def _layout(t: torch.Tensor) -> torch.memory_format | None:
    """NCHW or channels_last (a tensor that is both counts as NCHW); None for any other strides."""
    if t.is_contiguous():
        return torch.contiguous_format
    return _CL if t.is_contiguous(memory_format=_CL) else None


def ms_ssim_frames(x: torch.Tensor, y: torch.Tensor, win_size: int, data_range: float = 1.0) -> torch.Tensor:
    """Per-image MS-SSIM (B,) of float (B,C,H,W) batches, equal to
    ``pytorch_msssim.ms_ssim(x, y, data_range, size_average=False, win_size=win_size)``."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ms_ssim_frames needs two (B,C,H,W) tensors of one shape, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    if win_size % 2 != 1:
        raise ValueError(f"win_size must be odd, got {win_size}")
    if min(x.shape[-2:]) <= (win_size - 1) * 16:
        raise ValueError(f"MS-SSIM with a {win_size}-pixel window needs a short side above {(win_size - 1) * 16} px, "
                         f"got {tuple(x.shape[-2:])}")
    lx, ly = _layout(x), _layout(y)
    if lx is None or ly is None or x.device.type != "cpu" or x.dtype != torch.float32 or y.dtype != torch.float32:
        # a strided view, cuDNN, or a dtype oneDNN does not take (float64 convolves natively): pytorch-msssim
        from pytorch_msssim import ms_ssim

        return ms_ssim(x, y, data_range=data_range, size_average=False, win_size=win_size)
    c = x.shape[1]
    wh, ww = _window(win_size, c, x)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, wh, groups=c), ww, groups=c)

    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    x, y = x.contiguous(memory_format=_CL), y.contiguous(memory_format=_CL)  # every map channels_last
    mcs: list[torch.Tensor] = []
    ssim_per_channel = torch.empty(0)
    for level in range(len(WEIGHTS)):
        mu1, mu2 = blur(x), blur(y)
        mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
        sigma1_sq = blur(x * x) - mu1_sq
        sigma2_sq = blur(y * y) - mu2_sq
        sigma12 = blur(x * y) - mu1_mu2
        cs_map = (2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2)
        ssim_map = ((2 * mu1_mu2 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map
        # the two averaged maps in the layout pytorch-msssim's have: X's
        cs_map, ssim_map = cs_map.contiguous(memory_format=lx), ssim_map.contiguous(memory_format=lx)
        ssim_per_channel = torch.flatten(ssim_map, 2).mean(-1)
        cs = torch.flatten(cs_map, 2).mean(-1)
        if level < len(WEIGHTS) - 1:
            mcs.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    weights = x.new_tensor(WEIGHTS)
    stacked = torch.stack(mcs + [torch.relu(ssim_per_channel)], dim=0)  # (level, batch, channel)
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean(1)
