"""HiNeRV's torch modules (imported only when a model is built); the plan is in hinerv.py.

Activations are NHWC (B, h, w, C): the up-sampling, the grid encodings, the LayerNorms and the
Linears work on the last axis, and the depthwise convs see the same memory as a channels_last
NCHW tensor. Time is never up-sampled (every stride is spatial, as in every repository cfg), so
a sample is one frame.

Two ways through the same weights:
- frames (`forward(idx)`): whole frames, bilinear up-sampling by F.interpolate, zero padding at
  the frame border, as the official code evaluates;
- patches (`forward_patches`): one crop of each frame, as the official code trains. Each stage
  computes its output patch plus a margin (the official `compute_paddings`), positions outside
  the frame are zero (its masks), and the up-sampling weights are built for the crop's global
  coordinates (its 'matmul-th-w'), so a patch equals the same crop of the whole frame up to
  float rounding (tests/test_hinerv.py checks it).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nvbench.nn import Decoder, NeuralRepresentation
from representations.hinerv import base_grid_shapes, local_grid_shapes, stage_widths

LN_EPS = 1e-6
GRID_INIT = 1e-3  # grids start uniform in +-1e-3 (the official --*-grid-init-scale)


def patch_paddings(strides: list[int], depths: list[int], kernels: list[int],
                   stem_kernel: int) -> tuple[int, list[int]]:
    """(stem margin, margin of each stage's output) in pixels of that level: the official
    compute_paddings for trilinear up-sampling (spatial axes; np.round is Python's round)."""
    pads_rev, p = [], 0
    for s, d, k in zip(reversed(strides), reversed(depths), reversed(kernels)):
        p += d * (k - 1) // 2
        pads_rev.append(p)
        p = round(p / s) + (1 if s > 1 else 0)
    return p + (stem_kernel - 1) // 2, list(reversed(pads_rev))


def time_lerp(grid: torch.Tensor, idx: torch.Tensor, frames: int) -> torch.Tensor:
    """Rows of `grid` (T_g, ...) linearly interpolated at frame indices idx of a clip of
    `frames`: source (i + 0.5) * T_g / frames - 0.5, clamped to the grid (align_corners=False,
    as F.interpolate and grid_sample with border padding compute it)."""
    tg = grid.shape[0]
    src = ((idx.to(torch.float64) + 0.5) * (tg / frames) - 0.5).clamp(0, tg - 1)
    i0 = src.floor().long()
    i1 = (i0 + 1).clamp(max=tg - 1)
    w = (src - i0).to(grid.dtype).view(-1, *([1] * (grid.dim() - 1)))
    i0, i1 = i0.to(grid.device), i1.to(grid.device)
    return grid[i0] * (1 - w.to(grid.device)) + grid[i1] * w.to(grid.device)


def lerp_matrix(out_start: torch.Tensor, out_len: int, in_start: torch.Tensor, in_len: int, scale: int,
                in_size: int, out_size: int) -> torch.Tensor:
    """(B, out_len, in_len) weights of x-scale linear up-sampling (align_corners=False) from the
    input rows [in_start, in_start + in_len) to the output rows [out_start, out_start + out_len)
    (global coordinates, may reach outside the frame: such output rows get zero weights)."""
    y = out_start[:, None] + torch.arange(out_len, device=out_start.device)[None, :]  # (B, out_len)
    src = ((y.to(torch.float64) + 0.5) / scale - 0.5).clamp(0, in_size - 1)
    i0 = src.floor().long()
    i1 = (i0 + 1).clamp(max=in_size - 1)
    lam = src - i0
    inside = ((y >= 0) & (y < out_size)).to(torch.float64)
    m = torch.zeros(y.shape[0], out_len, in_len, dtype=torch.float64, device=y.device)
    j0, j1 = i0 - in_start[:, None], i1 - in_start[:, None]
    if bool((j0 < 0).any() or (j1 >= in_len).any()):
        raise ValueError("hinerv: the patch margin is too small for the up-sampling")
    m.scatter_add_(2, j0[..., None], ((1 - lam) * inside)[..., None])
    m.scatter_add_(2, j1[..., None], (lam * inside)[..., None])
    return m


def inside_mask(start: torch.Tensor, length: int, size: int) -> torch.Tensor:
    """(B, length) True where the global position start + i lies inside [0, size)."""
    y = start[:, None] + torch.arange(length, device=start.device)[None, :]
    return (y >= 0) & (y < size)


class ConvNeXtBlock(nn.Module):
    """Depthwise k x k (no bias) -> LayerNorm (no affine) -> Linear -> GELU -> Linear (no biases);
    residual when the widths match (the official ConvNeXtBlock with its cfg defaults)."""

    def __init__(self, cin: int, cout: int, hidden: int, kernel: int):
        super().__init__()
        self.dconv = nn.Conv2d(cin, cin, kernel, padding=kernel // 2, groups=cin, bias=False)
        self.fc1 = nn.Linear(cin, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, cout, bias=False)
        self.residual = cin == cout

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = self.dconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(F.layer_norm(y, y.shape[-1:], eps=LN_EPS))))
        if mask is not None:
            y = y * mask
        return x + y if self.residual else y


class HiNeRVStage(nn.Module):
    """LayerNorm -> x s up-sampling -> + temporal-local grid encoding -> ConvNeXt blocks."""

    def __init__(self, index: int, cin: int, cout: int, scale: int, depth: int, exp: float, kernel: int,
                 config: dict[str, Any]):
        super().__init__()
        self.scale, self.cin = scale, cin
        shapes = local_grid_shapes(config["frames"], index, scale, config["enc_channels"], config["enc_levels"])
        self.grids = nn.ParameterList([nn.Parameter(torch.empty(t, n)) for t, n in shapes])
        self.linear = nn.Linear(sum(n // (scale * scale) for _, n in shapes), cin)
        hidden = int(cout * exp)
        self.blocks = nn.ModuleList([ConvNeXtBlock(cin if j == 0 else cout, cout, hidden, kernel)
                                     for j in range(depth)])

    def local_encoding(self, idx: torch.Tensor, frames: int) -> torch.Tensor:
        """(B, s, s, C_in): the s x s tile of encodings of each frame (tile offset = global pixel mod s)."""
        s = self.scale
        parts = [time_lerp(g, idx, frames).view(len(idx), s * s, -1) for g in self.grids]
        return self.linear(torch.cat(parts, -1)).view(len(idx), s, s, self.cin)


class HiNeRVDecoder(Decoder):
    """The stored HiNeRV: base grids, stem, stages, head. forward(idx) -> (B,3,H,W) in [0,1]."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        c = config
        self.frames, self.height, self.width = c["frames"], c["height"], c["width"]
        self.strides = list(c["strides"])
        total = math.prod(self.strides)
        self.h0, self.w0 = self.height // total, self.width // total
        shapes = base_grid_shapes(c["base_t"], self.h0, self.w0, c["grid_channels"], c["base_levels"])
        self.base_shapes = shapes
        self.base_grids = nn.ParameterList([nn.Parameter(torch.empty(t * h * w, ch)) for t, h, w, ch in shapes])
        widths = stage_widths(c["channels"], len(self.strides), c["reduce"])
        k0 = c["stem_kernel"]
        self.stem = nn.Conv2d(sum(ch for *_, ch in shapes), c["channels"], k0, padding=k0 // 2)
        self.stages = nn.ModuleList([
            HiNeRVStage(i, c1, c2, s, d, e, k, c)
            for i, ((c1, c2), s, d, e, k) in enumerate(zip(widths, self.strides, c["depths"], c["exps"], c["kernels"]))
        ])
        self.head = nn.Linear(widths[-1][1], 3)
        self.stem_pad, self.pads = patch_paddings(self.strides, c["depths"], c["kernels"], k0)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Grids uniform in +-1e-3, Linear/conv weights torch's default, every bias zero (the
        official initialisation)."""
        for g in list(self.base_grids) + [g for st in self.stages for g in st.grids]:
            if g.device.type != "meta":
                g.uniform_(-GRID_INIT, GRID_INIT)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)) and m.bias is not None and m.bias.device.type != "meta":
                m.bias.zero_()

    def base(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, h0, w0, C_base): each base-grid level interpolated in time at the frames."""
        out = []
        for g, (t, h, w, ch) in zip(self.base_grids, self.base_shapes):
            out.append(time_lerp(g.view(t, h, w, ch), idx, self.frames))
        return torch.cat(out, -1)

    def forward(self, idx: torch.Tensor, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None,
                patch: tuple[int, int] | None = None) -> torch.Tensor:
        """Whole frames; with rows/cols/patch the crops (forward_patches), so that one call path
        serves torch.func.functional_call (the compression pipeline's masked / noisy weights)."""
        if patch is not None:
            return self.forward_patches(idx, rows, cols, patch)
        idx = idx.reshape(-1)
        x = self.base(idx)
        x = self.stem(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        for stage in self.stages:
            s = stage.scale
            x = F.layer_norm(x, x.shape[-1:], eps=LN_EPS)
            b, h, w, ch = x.shape
            x = F.interpolate(x.permute(0, 3, 1, 2), size=(h * s, w * s), mode="bilinear",
                              align_corners=False).permute(0, 2, 3, 1)
            enc = stage.local_encoding(idx, self.frames)  # (B, s, s, C)
            x = x + enc.repeat(1, h, w, 1)
            for block in stage.blocks:
                x = block(x)
        y = torch.sigmoid(self.head(x))
        return y.permute(0, 3, 1, 2)

    def forward_patches(self, idx: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                        patch: tuple[int, int]) -> torch.Tensor:
        """(B,3,ph,pw): the crop at patch-grid cell (rows[b], cols[b]) of frame idx[b]."""
        ph, pw = patch
        total = math.prod(self.strides)
        dev = self.head.weight.device
        idx, rows, cols = idx.reshape(-1), rows.to(dev).long(), cols.to(dev).long()
        b = len(idx)
        # base level: the patch's base cells plus the stem margin; zeros outside the frame
        p = self.stem_pad
        bh, bw = ph // total, pw // total
        y0, x0 = rows * bh - p, cols * bw - p
        base = F.pad(self.base(idx), (0, 0, p, p, p, p))
        ys = (y0 + p)[:, None] + torch.arange(bh + 2 * p, device=dev)[None, :]
        xs = (x0 + p)[:, None] + torch.arange(bw + 2 * p, device=dev)[None, :]
        x = base[torch.arange(b, device=dev)[:, None, None], ys[:, :, None], xs[:, None, :]]
        mask = (inside_mask(y0, bh + 2 * p, self.h0)[:, :, None] & inside_mask(x0, bw + 2 * p, self.w0)[:, None, :])
        x = self.stem(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) * mask[..., None]
        h_in, w_in, rh, rw = self.h0, self.w0, bh, bw
        for stage, pad in zip(self.stages, self.pads):
            s = stage.scale
            h_out, w_out, rh_out, rw_out = h_in * s, w_in * s, rh * s, rw * s
            oy, ox = rows * rh_out - pad, cols * rw_out - pad
            ly, lx = rh_out + 2 * pad, rw_out + 2 * pad
            x = F.layer_norm(x, x.shape[-1:], eps=LN_EPS)
            my = lerp_matrix(oy, ly, y0, x.shape[1], s, h_in, h_out).to(x.dtype)
            mx = lerp_matrix(ox, lx, x0, x.shape[2], s, w_in, w_out).to(x.dtype)
            ch = x.shape[-1]
            x = torch.matmul(my, x.reshape(b, x.shape[1], -1)).view(b, ly, x.shape[2], ch)
            x = torch.matmul(mx[:, None], x)  # (B, ly, lx, C)
            mask = (inside_mask(oy, ly, h_out)[:, :, None] & inside_mask(ox, lx, w_out)[:, None, :])[..., None]
            enc = stage.local_encoding(idx, self.frames)  # (B, s, s, C)
            ty = torch.remainder(torch.arange(ly, device=dev) - pad, s)  # oy = rows*rh_out - pad, rh_out % s == 0
            tx = torch.remainder(torch.arange(lx, device=dev) - pad, s)
            x = x + enc[:, ty][:, :, tx] * mask
            for block in stage.blocks:
                x = block(x, mask)
            h_in, w_in, rh, rw, y0, x0 = h_out, w_out, rh_out, rw_out, oy, ox
        pad = self.pads[-1]
        y = torch.sigmoid(self.head(x[:, pad : pad + rh, pad : pad + rw]))
        return y.permute(0, 3, 1, 2)


class HiNeRV(NeuralRepresentation):
    """Trainable HiNeRV: the decoder itself (nothing but the stored tensors is trained)."""

    interpolation_variants = ("index",)

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.decoder = HiNeRVDecoder(config)
        self.train_patch = tuple(config["patch"])

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(idx)

    def forward_patches(self, idx: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                        patch: tuple[int, int]) -> torch.Tensor:
        return self.decoder.forward_patches(idx, rows, cols, patch)

    @torch.no_grad()
    def export(self, frames_of: Any = None) -> HiNeRVDecoder:
        dec = HiNeRVDecoder(self.config)
        dec.load_state_dict(self.decoder.state_dict())
        return dec.to(next(self.parameters()).device)
