"""Torch modules of NeRV and of the NeRV baseline inside the HNeRV code (imported only when a
model is built). Index-based: the network itself is what is stored."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nvbench.nn import (
    Decoder,
    NeuralRepresentation,
    SubpixelConv,
    blocks_then_head,
    gelu_,
    is_channels_last,
    tanh_unit_,
)
from representations.nerv import PE_PRECISIONS


def positional_encoding(t: torch.Tensor, b: float, levels: int, interleaved: bool = True,
                        precision: str = "float64") -> torch.Tensor:
    """Gamma(t) = [sin(b^i pi t), cos(b^i pi t)]_{i<l} with the arithmetic of `precision` (PE_PRECISIONS).
    The precision matters: at the high levels (b^79 pi ~ 1e8 rad) float32 angles and float64 angles
    are unrelated numbers, so each method computes them as its official code does. Always on the CPU,
    so training and decoding on any device see the same numbers. interleaved: sin0,cos0,sin1,...
    (NeRV, E-NeRV); else all sin then all cos (HNeRV)."""
    cpu = {"device": "cpu"}  # explicit: also right under a `torch.device("meta")` context
    t64 = t.detach().to("cpu", torch.float64).reshape(-1, 1)
    if precision == "float32":  # pos * b**i * math.pi on a float32 index, left to right
        freqs = torch.tensor([float(b) ** i for i in range(levels)], dtype=torch.float32, **cpu)
        ang = (t64.float() * freqs) * torch.tensor(math.pi, dtype=torch.float32, **cpu)
    elif precision == "float32-freq":  # b ** torch.arange(l) * pi (float32), times the float64 index
        freqs = torch.pow(torch.tensor(float(b), dtype=torch.float32, **cpu),
                          torch.arange(levels, dtype=torch.float32, **cpu)) * math.pi
        ang = t64 * freqs.double()
    elif precision == "float64":
        f64 = {"dtype": torch.float64, **cpu}
        ang = t64 * ((torch.tensor(float(b), **f64) ** torch.arange(levels, **f64)) * math.pi)
    else:
        raise ValueError(f"positional encoding precision {precision!r} is not one of {', '.join(PE_PRECISIONS)}")
    s, c = torch.sin(ang), torch.cos(ang)
    out = torch.stack([s, c], dim=-1).reshape(len(t64), 2 * levels) if interleaved else torch.cat([s, c], dim=1)
    return out.float()


def pe_precision(config: dict[str, Any]) -> str:
    """A config's PE precision; configs planned before it was recorded (v1) used float64."""
    return config.get("pe_precision", "float64")


def normalised_index(idx: torch.Tensor, frames: int, mode: str) -> torch.Tensor:
    """'i/N' (NeRV, HNeRV) or 'i/(N-1)' (E-NeRV), in float64 on the CPU."""
    i = idx.detach().to("cpu", torch.float64)
    return i / frames if mode == "i/N" else i / max(1, frames - 1)


class NeRVBlock(nn.Module):
    """Conv k x k (C_in -> C_out*s^2) -> PixelShuffle(s) -> GELU."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int = 3):
        super().__init__()
        # GELU before the shuffle: identical (the shuffle only moves values), and in place when decoding
        self.conv = SubpixelConv(cin, cout, stride, kernel, activation=gelu_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def same_layout(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """x in the memory layout of `conv`'s weights: the MLP stem's output is a plain NCHW view, and
    a channels_last model would otherwise run its first block(s) on the NCHW path (at 94k torch
    took its non-oneDNN conv for NeRV's 5-channel block; measured effect small: +0-5 % decode)."""
    if is_channels_last(conv.weight) and not is_channels_last(x):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def upsampling_blocks(cin: int, strides: list[int], widths: list[int],
                      kernels: list[int] | None = None) -> tuple[nn.Sequential, int]:
    """The chain of NeRV blocks (one per stride) shared by NeRV, nerv-hnerv and HNeRV; returns the
    blocks and the last width."""
    blocks = []
    for i, (s, cout) in enumerate(zip(strides, widths)):
        blocks.append(NeRVBlock(cin, cout, s, kernels[i] if kernels else 3))
        cin = cout
    return nn.Sequential(*blocks), cin


class NeRVNet(nn.Module):
    """PE(t) -> Linear+GELU -> Linear+GELU -> (fc_dim, gh, gw) -> blocks -> 1x1 head -> (tanh+1)/2."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config
        gh, gw = config["fc_hw"]
        fc, stem = config["fc_dim"], config["stem_dim"]
        self.mlp = nn.Sequential(nn.Linear(2 * config["pe_l"], stem), nn.GELU(),
                                 nn.Linear(stem, gh * gw * fc), nn.GELU())
        self.blocks, cin = upsampling_blocks(fc, config["strides"], config["widths"])
        self.head = nn.Conv2d(cin, 3, 1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        c = self.config
        dev = self.head.weight.device
        t = normalised_index(idx, c["frames"], "i/N")
        pe = positional_encoding(t, c["pe_b"], c["pe_l"], precision=pe_precision(c)).to(dev)
        gh, gw = c["fc_hw"]
        x = same_layout(self.mlp(pe).view(len(pe), c["fc_dim"], gh, gw), self.blocks[0].conv)
        return (torch.tanh(blocks_then_head(self.blocks, self.head, x)) + 1) * 0.5


class IndexRepresentation(NeuralRepresentation):
    """An index-based representation: the trained network is the stored decoder; it can decode
    a held-out index of the video it was built for ("index" interpolation)."""

    interpolation_variants = ("index",)
    net_class: type[nn.Module] = nn.Module
    decoder_class: type[Decoder] = Decoder

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.net = self.net_class(config)

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(idx)

    @torch.no_grad()
    def export(self, frames_of: Any = None) -> Decoder:
        dec = self.decoder_class(self.config)
        dec.net.load_state_dict(self.net.state_dict())
        return dec.to(next(self.parameters()).device)


class IndexDecoder(Decoder):
    net_class: type[nn.Module] = nn.Module

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.net = self.net_class(config)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.net(idx)


class NeRVDecoder(IndexDecoder):
    net_class = NeRVNet


class NeRV(IndexRepresentation):
    net_class = NeRVNet
    decoder_class = NeRVDecoder


class HNeRVCodeNeRVNet(nn.Module):
    """The NeRV baseline of the HNeRV code (docs/methods/nerv-hnerv.md): PE [all sin, all cos] (1.25, 80), one 1x1
    conv (= Linear) 2l -> fc_dim*gh*gw + GELU, reshape, NeRV blocks with 3x3 kernels, halving
    channels (floor 12), 3x3 head, 0.5*tanh+0.5."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config
        gh, gw = config["fc_hw"]
        self.stem = nn.Linear(2 * config["pe_l"], config["fc_dim"] * gh * gw)
        self.blocks, cin = upsampling_blocks(config["fc_dim"], config["strides"], config["widths"], config["kernels"])
        self.head = nn.Conv2d(cin, 3, 3, padding=1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        c = self.config
        dev = self.head.weight.device
        t = normalised_index(idx, c["frames"], "i/N")
        pe = positional_encoding(t, c["pe_b"], c["pe_l"], interleaved=False, precision=pe_precision(c)).to(dev)
        gh, gw = c["fc_hw"]
        x = same_layout(F.gelu(self.stem(pe)).view(len(pe), c["fc_dim"], gh, gw), self.blocks[0].conv)
        return tanh_unit_(blocks_then_head(self.blocks, self.head, x))


class NeRVHNeRVDecoder(IndexDecoder):
    net_class = HNeRVCodeNeRVNet


class NeRVHNeRV(IndexRepresentation):
    net_class = HNeRVCodeNeRVNet
    decoder_class = NeRVHNeRVDecoder
