"""Torch-side base classes shared by the neural representations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def gelu_(x: torch.Tensor) -> torch.Tensor:
    """GELU, in place when no autograd graph is being recorded (decoding): the conv output it
    is applied to is fresh, and skipping the copy is a measurable share of decode time."""
    if torch.is_grad_enabled() and x.requires_grad:
        return F.gelu(x)
    return torch.ops.aten.gelu_(x)


def tanh_unit_(x: torch.Tensor) -> torch.Tensor:
    """0.5*tanh(x) + 0.5 (the NeRV-family head), in place when decoding."""
    if torch.is_grad_enabled() and x.requires_grad:
        return torch.tanh(x) * 0.5 + 0.5
    return x.tanh_().mul_(0.5).add_(0.5)


def is_channels_last(x: torch.Tensor) -> bool:
    """NHWC in memory (and not also plain NCHW, which a 1x1 or one-channel tensor can be)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class SubpixelConv(nn.Conv2d):
    """Conv k x k (C_in -> C_out*s^2), an optional element-wise activation, then PixelShuffle(s):
    the up-sampling step of the NeRV family.

    Why not nn.Conv2d + nn.PixelShuffle: on channels_last tensors torch's pixel shuffle gathers
    every output value with a stride of s^2 floats, and its backward (pixel_unshuffle) is slower
    still. Here the conv's output channels are taken in (i, j, c) order instead of (c, i, j) (the
    weights are indexed, the stored parameters keep PyTorch's order), so the shuffle copies runs of
    s*C_out contiguous floats: measured 2.7x faster forward+backward and 2.8x faster forward at
    the cpu preset's shapes (tests/test_subpixel.py checks the values and gradients against
    nn.PixelShuffle). NCHW tensors take the ordinary path.
    """

    def __init__(self, cin: int, cout: int, scale: int, kernel: int = 3,
                 activation: Callable[[torch.Tensor], torch.Tensor] | None = None):
        super().__init__(cin, cout * scale * scale, kernel, padding=kernel // 2)
        self.scale = scale
        self.activation = activation
        # new channel (i, j, c) reads the conv's channel c*s^2 + i*s + j
        order = torch.arange(cout * scale * scale).view(cout, scale, scale).permute(1, 2, 0).reshape(-1)
        self.register_buffer("_subpixel_order", order, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, act = self.scale, self.activation
        if s == 1 or not is_channels_last(x):
            y = super().forward(x)
            y = act(y) if act is not None else y
            return F.pixel_shuffle(y, s) if s > 1 else y
        order = self._subpixel_order
        bias = self.bias[order] if self.bias is not None else None
        y = F.conv2d(x, self.weight[order], bias, self.stride, self.padding, self.dilation, self.groups)
        y = act(y) if act is not None else y
        b, _, h, w = y.shape
        c = self.out_channels // (s * s)
        # (b, h, w, i, j, c) -> (b, h, i, w, j, c): the NHWC memory of the shuffled frame
        nhwc = y.permute(0, 2, 3, 1).reshape(b, h, w, s, s, c).permute(0, 1, 3, 2, 4, 5)
        return nhwc.reshape(b, h * s, w * s, c).permute(0, 3, 1, 2)


class NeuralRepresentation(nn.Module):
    """A trainable representation. `forward(idx, frames)` gives (B,3,H,W) in [0,1];
    `frames` is only used by hybrid methods (an encoder that is not stored)."""

    hybrid: bool = False

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    #: how this representation can produce a frame it was not trained on (interpolation task);
    #: index-based methods decode the held-out index directly ("index").
    interpolation_variants: tuple[str, ...] = ()

    @torch.no_grad()
    def interpolate(self, variant: str, idx: torch.Tensor, frames_of: Any, train_indices: list[int]) -> torch.Tensor:
        """Frames (B,3,H,W) for held-out indices `idx`. `frames_of(idx)` gives float frames
        (for hybrid variants that encode a held-out frame); `train_indices` are the frames the
        model was trained on (for variants that use neighbours)."""
        if variant == "index" and "index" in self.interpolation_variants:
            return self.forward(idx, None)
        raise ValueError(f"{type(self).__name__} has no interpolation variant {variant!r} "
                         f"(it has: {', '.join(self.interpolation_variants) or 'none'})")

    @torch.no_grad()
    def export(self, frames_of: Any = None) -> Decoder:
        """The decoder-only module holding exactly what is stored. `frames_of(idx)` gives float
        frames for hybrid methods (to compute their embeddings)."""
        raise NotImplementedError


class Decoder(nn.Module):
    """What is stored and decoded: `forward(idx)` gives (B,3,H,W) in [0,1]; its state_dict is
    the stored representation (weights and embeddings)."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def stored_parameters(self) -> int:
        return sum(t.numel() for t in self.state_dict().values())


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
