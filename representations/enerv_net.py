"""E-NeRV's torch modules (imported only when a model is built)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nvbench.nn import SubpixelConv, head_over_subpixel, is_channels_last
from representations.nerv_net import (
    IndexDecoder,
    IndexRepresentation,
    NeRVBlock,
    normalised_index,
    pe_precision,
    positional_encoding,
)


class Attention(nn.Module):
    """Multi-head self-attention: qkv without bias, softmax(q k^T / sqrt(d)) v, output projection
    (omitted when one head of the token width, as in [E])."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.out = nn.Identity() if (heads == 1 and dim_head == dim) else nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (t.view(b, n, self.heads, -1).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        attn = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        return self.out((attn @ v).transpose(1, 2).reshape(b, n, -1))


class TransformerBlock(nn.Module):
    """x + Attn(x), then x + FFN(x); no LayerNorm (prenorm=False in [E])."""

    def __init__(self, dim: int, heads: int, dim_head: int, mlp_dim: int):
        super().__init__()
        self.attn = Attention(dim, heads, dim_head)
        self.ffn = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.ffn(x)


class ConvUpBlock(nn.Module):
    """Stage 0: conv3x3 (C -> C/4 * s^2) -> PixelShuffle(s) -> conv3x3 (C/4 -> C_out) -> GELU
    (when C <= C_out; otherwise conv3x3 C -> C_out, then the up-sampling conv)."""

    def __init__(self, cin: int, cout: int, stride: int, inner: int):
        super().__init__()
        if cin <= cout:
            q = inner  # fc_dim // 4 in [E]
            self.conv1 = nn.Sequential(SubpixelConv(cin, q, stride, 3))  # keys conv1.0.*
            self.conv2 = nn.Conv2d(q, cout, 3, padding=1)
        else:
            self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
            self.conv2 = nn.Sequential(SubpixelConv(cout, cout, stride, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.conv2(self.conv1(x)))


def modulated_instance_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                            eps: float = 1e-5) -> torch.Tensor:
    """gamma * instance_norm(x) + beta (E-NeRV's t-conditioned affine before every stage) as one
    pass over x: x * scale + shift with per-(frame, channel) scale = gamma / std and shift =
    beta - mean * scale. Same values as F.instance_norm then the affine (tests/test_nerv_family.py),
    and the output keeps x's memory layout: F.instance_norm returns NCHW, which sent every stage
    of a channels_last E-NeRV through the slow layout (2 extra passes and a copy per stage)."""
    b, c, h, w = x.shape
    if is_channels_last(x):  # per-channel statistics over the pixels of the NHWC view: torch's
        v, dim = x.permute(0, 2, 3, 1).reshape(b, h * w, c), 1  # reductions over dims (2, 3) ran 6x slower
    else:
        v, dim = x.reshape(b, c, h * w), 2
    mean = v.mean(dim, keepdim=True)
    d = v - mean
    var = (d * d).mean(dim)  # two passes: no cancellation
    mean = mean.squeeze(dim)  # (b, c)
    scale = gamma * torch.rsqrt(var + eps)
    shift = beta - mean * scale
    return torch.addcmul(shift[..., None, None], x, scale[..., None, None])


class ENeRVNet(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        c = self.config = config
        gh, gw = c["fc_hw"]
        blk, td = c["block_dim"], c["t_dim"]
        self.stem_t = nn.Sequential(nn.Linear(2 * c["pe_l"], c["stem_dim"]), nn.GELU(),
                                    nn.Linear(c["stem_dim"], blk), nn.GELU())
        # the fixed token grid (x = i/gh, y = j/gw) and its PE: recomputed, never stored
        # on the CPU explicitly: .nvb decoding builds a shape-only skeleton under torch.device("meta")
        prec = self.pe_precision = pe_precision(c)
        grid_dtype = torch.float32 if prec == "float32" else torch.float64  # [E]: torch.arange(h) / h
        ys, xs = torch.meshgrid(torch.arange(gh, dtype=grid_dtype, device="cpu") / gh,
                                torch.arange(gw, dtype=grid_dtype, device="cpu") / gw, indexing="ij")
        xy_pe = torch.cat([positional_encoding(ys.flatten(), c["pe_b"], c["xy_l"], precision=prec),
                           positional_encoding(xs.flatten(), c["pe_b"], c["xy_l"], precision=prec)], dim=1)
        self.register_buffer("xy_pe", xy_pe, persistent=False)
        self.stem_xy = nn.Sequential(nn.Linear(4 * c["xy_l"], blk), nn.GELU())
        h1, h2 = c["heads"]
        self.trans1 = TransformerBlock(blk, h1, c["dim_head"], c["mlp_dim"])
        self.trans2 = TransformerBlock(blk, h2, c["dim_head"], c["mlp_dim"])
        self.toconv = nn.Identity() if blk == c["fc_dim"] else nn.Sequential(nn.Linear(blk, c["fc_dim"]), nn.GELU())
        self.t_branch = nn.Sequential(nn.Linear(2 * c["tm_l"], td), nn.GELU(), nn.Linear(td, td), nn.GELU())
        self.t_layers, self.layers = nn.ModuleList(), nn.ModuleList()
        cin = c["fc_dim"]
        for i, (s, cout) in enumerate(zip(c["strides"], c["widths"])):
            self.t_layers.append(nn.Sequential(nn.Linear(td, 2 * cin), nn.GELU()))
            self.layers.append(ConvUpBlock(cin, cout, s, c["up_inner"]) if i == 0 else NeRVBlock(cin, cout, s))
            cin = cout
        self.head = nn.Conv2d(cin, 3, 1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        c = self.config
        dev = self.head.weight.device
        t = normalised_index(idx, c["frames"], "i/(N-1)")
        prec = self.pe_precision
        t_emb = self.stem_t(positional_encoding(t, c["pe_b"], c["pe_l"], precision=prec).to(dev))  # (B, blk)
        t_man = self.t_branch(positional_encoding(t, c["pe_b"], c["tm_l"], precision=prec).to(dev))  # (B, td)
        tokens = self.trans1(self.stem_xy(self.xy_pe.to(dev)).unsqueeze(0).expand(len(t_emb), -1, -1))
        tokens = self.toconv(self.trans2(tokens * t_emb.unsqueeze(1)))  # (B, gh*gw, fc)
        gh, gw = c["fc_hw"]
        x = tokens.reshape(len(t_emb), gh, gw, -1).permute(0, 3, 1, 2)
        last = len(self.layers) - 1
        for i, (t_layer, layer) in enumerate(zip(self.t_layers, self.layers)):
            gamma, beta = t_layer(t_man).chunk(2, dim=1)
            x = modulated_instance_norm(x, gamma, beta)
            if i == last and isinstance(layer, NeRVBlock):  # the head reads the last stage unshuffled
                return torch.sigmoid(head_over_subpixel(layer.conv, self.head, x))
            x = layer(x)
        return torch.sigmoid(self.head(x))


class ENeRVDecoder(IndexDecoder):
    net_class = ENeRVNet


class ENeRV(IndexRepresentation):
    net_class = ENeRVNet
    decoder_class = ENeRVDecoder
