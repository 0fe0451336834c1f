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


def shuffle_cells(y: torch.Tensor, s: int) -> torch.Tensor:
    """Pixel shuffle of a channels_last (B, s*s*C, h, w) map whose channels are in (i, j, c)
    order: one copy of runs of s*C contiguous floats, giving a channels_last (B, C, h*s, w*s)."""
    b, sc, h, w = y.shape
    c = sc // (s * s)
    # (b, h, w, i, j, c) -> (b, h, i, w, j, c): the NHWC memory of the shuffled frame
    nhwc = y.permute(0, 2, 3, 1).reshape(b, h, w, s, s, c).permute(0, 1, 3, 2, 4, 5)
    return nhwc.reshape(b, h * s, w * s, c).permute(0, 3, 1, 2)


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

    def forward(self, x: torch.Tensor, shuffle: bool = True) -> torch.Tensor:
        """shuffle=False: the unshuffled output (channels_last input, scale > 1), through the
        module call, so that hooks (`nvbench speed`'s layer walk) see the conv."""
        s = self.scale
        if not shuffle:
            return self.unshuffled(x)
        if s == 1 or not is_channels_last(x):
            y = super().forward(x)
            y = self.activation(y) if self.activation is not None else y
            return F.pixel_shuffle(y, s) if s > 1 else y
        return shuffle_cells(self.unshuffled(x), s)

    def unshuffled(self, x: torch.Tensor) -> torch.Tensor:
        """The activated conv output before the shuffle, channels in (i, j, c) order."""
        order = self._subpixel_order
        bias = self.bias[order] if self.bias is not None else None
        weight = self.weight[order]
        if self.activation is gelu_ and _fused_gelu_ok(x):
            return _conv_gelu(x, weight, bias, self)
        y = F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)
        return self.activation(y) if self.activation is not None else y


def _fused_gelu_ok(x: torch.Tensor) -> bool:
    """Conv + GELU as one oneDNN primitive (GELU applied as the conv writes its output, instead of
    a second pass over it): only when decoding float32 channels_last on the CPU, outside autocast.
    Measured 1.5 ms of HNeRV's and 2.4 ms of NeRV's ~25 ms decode batch at the cpu preset."""
    return (_HAS_CONV_POINTWISE and not torch.is_grad_enabled() and x.device.type == "cpu"
            and x.dtype == torch.float32 and is_channels_last(x) and not torch.is_autocast_enabled("cpu"))


def _conv_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: nn.Conv2d) -> torch.Tensor:
    return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, list(conv.padding), list(conv.stride),
                                                   list(conv.dilation), conv.groups, "gelu", [], "none")


_HAS_CONV_POINTWISE = (bool(getattr(torch._C, "_has_mkldnn", False))
                       and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))


def head_over_subpixel(sub: SubpixelConv, head: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """head(sub(x)) for a 1x1 head, or a 3x3 head after a x2 SubpixelConv; when decoding (no
    autograd graph, channels_last) without materialising the shuffled frame, whose copy is the
    largest memory pass of a NeRV-family decoder.

    1x1 head: each output pixel reads only its own sub-pixel's channels, so the head is one
    1x1 conv (a matrix product) over the unshuffled map's NHWC rows, and only its few output
    channels are shuffled. 3x3 head (x2): a 3x3 conv with 3 output channels runs at ~55 GFLOP/s on this CPU
    (oneDNN's kernels want more output channels; padding them, NCHW, or a GEMM were not faster).
    Grouping the output in 2x2 cells shifted by one pixel, each cell depends on a 2x2 window of
    the unshuffled map: one 2x2 conv (4C -> 4*3 channels) on the small grid and a shuffle of 3
    channels; 1.8x the multiply-adds in a shape oneDNN runs well. Both exact up to float
    rounding (tests/test_subpixel.py).

    The 1x1 path also trains: it skips the shuffle of the C-channel frame forward and backward, and
    torch's choice for a 1x1 conv at batch < 16 on one thread (its non-oneDNN path, which zero-fills
    and copies the NHWC input); measured 1.3x on NeRV's last block + head (forward + backward) at the
    cpu preset, 1 thread, under contention. The 3x3 cell path stays decode-only."""
    plain = (sub.scale == 1 or not is_channels_last(x) or head.stride != (1, 1)
             or head.groups != 1 or head.dilation != (1, 1))
    if plain:
        return head(sub(x))
    s = sub.scale
    if head.kernel_size == (1, 1) and head.padding == (0, 0):
        low = sub(x, shuffle=False)  # (B, s*s*C, h, w) channels_last, channels (i, j, c)
        b, _, h, w = low.shape
        c, out = head.in_channels, head.out_channels
        rows = low.permute(0, 2, 3, 1).reshape(b, h, w, s * s, c)
        # the head module itself on the rows viewed as an NHWC (b*h, c, w*s*s, 1) map: oneDNN's 1x1
        # conv at batch b*h (faster than F.linear here, decoding and training), and hooks (the speed
        # layer walk) see the layer; y: (b*h, w*s*s, 1, out) = (b, h, w, (i, j), out) in memory
        y = head(rows.reshape(b * h, w * s * s, 1, c).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return shuffle_cells(y.reshape(b, h, w, s * s * out).permute(0, 3, 1, 2), s)
    if torch.is_grad_enabled() or s != 2 or head.kernel_size != (3, 3) or head.padding != (1, 1):
        return head(sub(x))
    low = sub.unshuffled(x)  # (B, 4C, h, w), channels (a, b, c)
    weight, bias = _cell_head_weights(head, sub.out_channels // 4)
    z = F.conv2d(low, weight, bias, padding=1)  # (B, 4*O, h+1, w+1), channels (p, q, o): cell (r, s) covers
    h1, w1 = z.shape[-2:]  # rows 2r-1+p and columns 2s-1+q
    return shuffle_cells(z, 2)[:, :, 1 : 2 * h1 - 1, 1 : 2 * w1 - 1]


def blocks_then_head(blocks: nn.Sequential, head: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """head(blocks(x)) for a chain of up-sampling blocks whose last one computes `last.conv(x)`
    (a SubpixelConv, as representations.nerv_net.NeRVBlock): the last block and the head go
    through head_over_subpixel, so decoding skips the last shuffle."""
    *body, last = blocks
    for block in body:
        x = block(x)
    return head_over_subpixel(last.conv, head, x)


def _cell_head_weights(head: nn.Conv2d, channels: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The 2x2 conv equal to `head` (3x3 on the x2-shuffled map) on the unshuffled map; cached
    on the head until its weights change."""
    wt = head.weight
    key = (wt.data_ptr(), wt._version, wt.device, wt.dtype, channels)
    cached = getattr(head, "_cell_head_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    out = wt.shape[0]
    w2 = wt.new_zeros(out, 2, 2, 2, 2, channels, 2, 2)  # (o, p, q, a, b, c, ky, kx)
    for p in range(2):
        for a in range(2):
            for ky in range(2):
                dy = 2 * ky + a - 1 - p  # offset on the shuffled map of input row 2(r-1+ky)+a from output 2r-1+p
                if not -1 <= dy <= 1:
                    continue
                for q in range(2):
                    for b in range(2):
                        for kx in range(2):
                            dx = 2 * kx + b - 1 - q
                            if -1 <= dx <= 1:
                                w2[:, p, q, a, b, :, ky, kx] = wt[:, :, dy + 1, dx + 1].detach()
    # output channels in (p, q, o) order: the shuffle after the conv copies runs of 2*O floats
    weight = w2.permute(1, 2, 0, 3, 4, 5, 6, 7).reshape(out * 4, 4 * channels, 2, 2)
    weight = weight.contiguous(memory_format=torch.channels_last)
    bias = head.bias.detach().repeat(4) if head.bias is not None else None
    head._cell_head_cache = (key, weight, bias)  # not a buffer: never saved, rebuilt when needed
    return weight, bias


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
