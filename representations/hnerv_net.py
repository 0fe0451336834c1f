"""HNeRV's torch modules (imported only when a model is built)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nvbench.nn import Decoder, NeuralRepresentation, blocks_then_head, gelu_, tanh_unit_
from representations.nerv_net import upsampling_blocks  # NeRV blocks, shared with NeRV


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (B,C,H,W), eps 1e-6 (ConvNeXt)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, 4 * dim)
        self.pw2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pw2(F.gelu(self.pw1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtEncoder(nn.Module):
    """One stage per stride: non-overlapping patchify conv (+ channels-first LayerNorm) and one
    ConvNeXt block; every stage has c1 channels except the last, which has the embedding dim."""

    def __init__(self, strides: list[int], enc_dim: int, embed_dim: int):
        super().__init__()
        dims = [enc_dim] * (len(strides) - 1) + [embed_dim]
        self.down = nn.ModuleList()
        self.blocks = nn.ModuleList()
        cin = 3
        for i, (s, c) in enumerate(zip(strides, dims)):
            if i == 0:
                self.down.append(nn.Sequential(nn.Conv2d(cin, c, s, stride=s), ChannelsFirstLayerNorm(c)))
            else:
                self.down.append(nn.Sequential(ChannelsFirstLayerNorm(cin), nn.Conv2d(cin, c, s, stride=s)))
            self.blocks.append(ConvNeXtBlock(c))
            cin = c
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, block in zip(self.down, self.blocks):
            x = block(down(x))
        return x


class HNeRVDecoderNet(nn.Module):
    """Embedding (B,d,h,w) -> frame (B,3,H,W): 1x1 conv + GELU, the blocks, 3x3 head, 0.5*tanh+0.5."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        d, c2 = config["embed_dim"], config["c2"]
        self.stem = nn.Conv2d(d, c2, 1)
        self.blocks, cin = upsampling_blocks(c2, config["strides"], config["widths"], config["kernels"])
        self.head = nn.Conv2d(cin, 3, 3, padding=1)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return tanh_unit_(blocks_then_head(self.blocks, self.head, gelu_(self.stem(emb))))


@torch.no_grad()
def all_embeddings(encoder: nn.Module, frames: int, frames_of: Any) -> torch.Tensor:
    """The encoder's embeddings of every frame (N,d,h,w), float32, in batches of 16 frames."""
    embs = []
    for s in range(0, frames, 16):
        idx = torch.arange(s, min(frames, s + 16))
        embs.append(encoder(frames_of(idx)).float().contiguous())
    return torch.cat(embs)


@torch.no_grad()
def neighbour_embeddings(encoder: nn.Module, idx: torch.Tensor, frames_of: Any,
                         train_indices: list[int]) -> torch.Tensor:
    """For each held-out index, the mean of the embeddings of its nearest trained neighbours (one
    neighbour at the ends): what the stored representation alone allows for a frame it lacks."""
    trained = sorted(train_indices)
    embs = []
    for i in idx.tolist():
        lower = [t for t in trained if t < i][-1:]
        upper = [t for t in trained if t > i][:1]
        embs.append(encoder(frames_of(torch.as_tensor(lower + upper))).mean(0, keepdim=True))
    return torch.cat(embs)


class HNeRV(NeuralRepresentation):
    hybrid = True

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.encoder = ConvNeXtEncoder(config["strides"], config["enc_dim"], config["embed_dim"])
        self.decoder = HNeRVDecoderNet(config)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder(frames)

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        if frames is None:
            raise ValueError("HNeRV is hybrid: forward needs the frames to encode")
        return self.decoder(self.encoder(frames))

    interpolation_variants = ("interp-embed", "encode-frame")

    @torch.no_grad()
    def interpolate(self, variant: str, idx: torch.Tensor, frames_of: Any, train_indices: list[int]) -> torch.Tensor:
        """'encode-frame' (the paper's HNeRV-dagger): the held-out frame goes through the encoder.
        'interp-embed': the mean of the nearest trained neighbours' embeddings (one neighbour at
        the ends) — what the stored representation alone allows."""
        if variant == "encode-frame":
            return self.decoder(self.encoder(frames_of(idx)))
        if variant == "interp-embed":
            return self.decoder(neighbour_embeddings(self.encoder, idx, frames_of, train_indices))
        return super().interpolate(variant, idx, frames_of, train_indices)

    @torch.no_grad()
    def export(self, frames_of: Any = None) -> HNeRVDecoder:
        dec = HNeRVDecoder(self.config)
        dec.net.load_state_dict(self.decoder.state_dict())
        dec.embeddings.copy_(all_embeddings(self.encoder, self.config["frames"], frames_of).to(dec.embeddings.device))
        return dec.to(next(self.parameters()).device)


class HNeRVDecoder(Decoder):
    """The stored HNeRV: per-frame embeddings (N,d,h,w) and the decoder network."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        gh, gw = config["embed_hw"]
        self.register_buffer("embeddings", torch.zeros(config["frames"], config["embed_dim"], gh, gw))
        self.net = HNeRVDecoderNet(config)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.net(self.embeddings[idx.to(self.embeddings.device)])

    def decode_embeddings(self, emb: torch.Tensor) -> torch.Tensor:
        return self.net(emb)
