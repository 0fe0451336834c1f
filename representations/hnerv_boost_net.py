"""HNeRV-Boost's torch modules (imported only when a model is built). The encoder and the
embedding helpers are HNeRV's (representations.hnerv_net); the up-sampling conv is nvbench's
SubpixelConv with sin as its activation."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nvbench.nn import Decoder, NeuralRepresentation, SubpixelConv, gelu_, tanh_unit_
from representations.hnerv_net import ConvNeXtEncoder, all_embeddings, neighbour_embeddings


def time_encoding(idx: torch.Tensor, frames: int, base: float, levels: int) -> torch.Tensor:
    """[sin(w_i t), cos(w_i t)] (all sin, then all cos) of t = (i+1)/N as the official code computes
    it: the frequencies w_i = base^i * pi in float32 (torch's default dtype there), the products and
    sin/cos in float64 (its data loader hands t over as float64), the result cast to float32. On the
    CPU, so the high levels (w_79 ~ 1.4e8 rad) are the same numbers at training and decoding."""
    t = (idx.detach().to("cpu", torch.float64).reshape(-1, 1) + 1.0) / frames
    cpu32 = {"dtype": torch.float32, "device": "cpu"}  # explicit: also right under torch.device("meta")
    freqs = (torch.tensor(float(base), **cpu32) ** torch.arange(levels, **cpu32)) * math.pi
    ang = t * freqs.to(torch.float64)
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=1).float()


class TimeMLP(nn.Module):
    """PE(t) (2l) -> 2*t_dim -> t_dim, each layer followed by sin (NeRV_MLP with act sin)."""

    def __init__(self, pe_dim: int, t_dim: int):
        super().__init__()
        self.fc0 = nn.Linear(pe_dim, 2 * t_dim)
        self.fc1 = nn.Linear(2 * t_dim, t_dim)

    def forward(self, pe: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.fc1(torch.sin(self.fc0(pe))))


class TemporalAffine(nn.Module):
    """x * (1 + scale(t)) + shift(t), each of scale and shift a 1x1 MLP t -> t -> C with ReLU
    between (the official SFTLayer, factor 1)."""

    def __init__(self, t_dim: int, channels: int):
        super().__init__()
        self.scale0 = nn.Linear(t_dim, t_dim)
        self.scale1 = nn.Linear(t_dim, channels)
        self.shift0 = nn.Linear(t_dim, t_dim)
        self.shift1 = nn.Linear(t_dim, channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        scale = self.scale1(F.relu(self.scale0(t))).view(b, c, 1, 1)
        shift = self.shift1(F.relu(self.shift0(t))).view(b, c, 1, 1)
        return torch.addcmul(shift, x, scale + 1)  # one pass over x instead of a product and a sum


class AffineResBlock(nn.Module):
    """x + conv1(affine1(GELU(conv0(affine0(x, t))), t)) with 3x3 convs C -> C (ResBlock_SFT)."""

    def __init__(self, channels: int, t_dim: int):
        super().__init__()
        self.affine0 = TemporalAffine(t_dim, channels)
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.affine1 = TemporalAffine(t_dim, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        y = gelu_(self.conv0(self.affine0(x, t)))
        y = self.conv1(self.affine1(y, t))
        if torch.is_grad_enabled() and (y.requires_grad or x.requires_grad):
            return x + y
        return y.add_(x)  # decoding: the conv output is fresh, add in place


class BoostBlock(nn.Module):
    """conv k x k (C_in -> C_out*s^2) -> PixelShuffle(s) -> sin, then the affine residual block."""

    def __init__(self, cin: int, cout: int, stride: int, kernel: int, t_dim: int):
        super().__init__()
        self.conv = SubpixelConv(cin, cout, stride, kernel, activation=torch.sin)
        self.res = AffineResBlock(cout, t_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.res(self.conv(x), t)


def boost_blocks(config: dict[str, Any]) -> nn.ModuleList:
    """The stem (1x1 conv d -> c2, sin, affine block) and every stage's blocks."""
    t_dim = config["t_dim"]
    blocks = [BoostBlock(config["embed_dim"], config["c2"], 1, 1, t_dim)]
    cin = config["c2"]
    for s, k, cout, nb in zip(config["strides"], config["kernels"], config["widths"], config["blocks"]):
        for j in range(nb):
            blocks.append(BoostBlock(cin, cout, s if j == 0 else 1, k, t_dim))
            cin = cout
    return nn.ModuleList(blocks)


class BoostDecoderNet(nn.Module):
    """(embedding (B,d,h,w), frame index) -> frame (B,3,H,W): the time code, the blocks, 3x3 head,
    0.5*tanh+0.5."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = config
        self.time = TimeMLP(2 * config["pe_levels"], config["t_dim"])
        self.blocks = boost_blocks(config)
        self.head = nn.Conv2d(config["widths"][-1], 3, 3, padding=1)

    def time_code(self, idx: torch.Tensor) -> torch.Tensor:
        c = self.config
        pe = time_encoding(idx, c["frames"], c["pe_base"], c["pe_levels"])
        return self.time(pe.to(self.head.weight.device))

    def forward(self, emb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        t = self.time_code(idx)
        x = emb
        for block in self.blocks:
            x = block(x, t)
        return tanh_unit_(self.head(x))


class HNeRVBoost(NeuralRepresentation):
    hybrid = True
    interpolation_variants = ("interp-embed", "encode-frame")

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.encoder = ConvNeXtEncoder(config["strides"], config["enc_dim"], config["embed_dim"])
        self.decoder = BoostDecoderNet(config)

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        if frames is None:
            raise ValueError("HNeRV-Boost is hybrid: forward needs the frames to encode")
        return self.decoder(self.encoder(frames), idx)

    @torch.no_grad()
    def interpolate(self, variant: str, idx: torch.Tensor, frames_of: Any, train_indices: list[int]) -> torch.Tensor:
        """Both with the held-out frame's own time code t: 'interp-embed' (the official
        --embed_inter: the mean of the neighbours' embeddings) and 'encode-frame' (the held-out
        frame through the encoder)."""
        if variant == "encode-frame":
            return self.decoder(self.encoder(frames_of(idx)), idx)
        if variant == "interp-embed":
            return self.decoder(neighbour_embeddings(self.encoder, idx, frames_of, train_indices), idx)
        return super().interpolate(variant, idx, frames_of, train_indices)

    @torch.no_grad()
    def export(self, frames_of: Any = None) -> HNeRVBoostDecoder:
        dec = HNeRVBoostDecoder(self.config)
        dec.net.load_state_dict(self.decoder.state_dict())
        dec.embeddings.copy_(all_embeddings(self.encoder, self.config["frames"], frames_of).to(dec.embeddings.device))
        return dec.to(next(self.parameters()).device)


class HNeRVBoostDecoder(Decoder):
    """The stored HNeRV-Boost: per-frame embeddings (N,d,h,w) and the conditional decoder."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        gh, gw = config["embed_hw"]
        self.register_buffer("embeddings", torch.zeros(config["frames"], config["embed_dim"], gh, gw))
        self.net = BoostDecoderNet(config)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.net(self.embeddings[idx.to(self.embeddings.device)], idx)
