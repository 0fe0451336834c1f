"""The per-video autoencoder's torch modules (imported only when a model is built)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nvbench.nn import Decoder, NeuralRepresentation, blocks_then_head
from representations.nerv_net import NeRVBlock


class AEEncoder(nn.Module):
    """Per stride: patchify conv (k = stride) -> GELU -> conv3x3 -> GELU; then 1x1 to the latent
    channels (no activation: the latent is what is stored)."""

    def __init__(self, strides: list[int], enc_dim: int, latent_channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for s in strides:
            layers += [nn.Conv2d(cin, enc_dim, s, stride=s), nn.GELU(), nn.Conv2d(enc_dim, enc_dim, 3, padding=1),
                       nn.GELU()]
            cin = enc_dim
        layers.append(nn.Conv2d(cin, latent_channels, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AEDecoderNet(nn.Module):
    """Latent (B,c,h,w) -> conv3x3 + GELU -> one up-sampling block per stride -> conv3x3 head -> sigmoid."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        w = config["dec_width"]
        self.stem = nn.Conv2d(config["latent_channels"], w, 3, padding=1)
        self.blocks = nn.Sequential(*(NeRVBlock(w, w, s) for s in config["strides"]))
        self.head = nn.Conv2d(w, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(blocks_then_head(self.blocks, self.head, F.gelu(self.stem(z))))


class Autoencoder(NeuralRepresentation):
    hybrid = True
    interpolation_variants = ("interp-embed", "encode-frame")

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.encoder = AEEncoder(config["strides"], config["enc_dim"], config["latent_channels"])
        self.decoder = AEDecoderNet(config)

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        if frames is None:
            raise ValueError("the autoencoder is hybrid: forward needs the frames to encode")
        return self.decoder(self.encoder(frames))

    @torch.no_grad()
    def interpolate(self, variant: str, idx: torch.Tensor, frames_of: Any, train_indices: list[int]) -> torch.Tensor:
        """'encode-frame': the held-out frame through the encoder; 'interp-embed': the mean of the
        nearest trained neighbours' latents (one neighbour at the ends), as for HNeRV."""
        if variant == "encode-frame":
            return self.decoder(self.encoder(frames_of(idx)))
        if variant == "interp-embed":
            trained = sorted(train_indices)
            lats = []
            for i in idx.tolist():
                nb = torch.as_tensor([t for t in trained if t < i][-1:] + [t for t in trained if t > i][:1])
                lats.append(self.encoder(frames_of(nb)).mean(0, keepdim=True))
            return self.decoder(torch.cat(lats))
        return super().interpolate(variant, idx, frames_of, train_indices)

    @torch.no_grad()
    def export(self, frames_of: Any = None) -> AutoencoderDecoder:
        n = self.config["frames"]
        lats = [self.encoder(frames_of(torch.arange(s, min(n, s + 16)))).float().contiguous()
                for s in range(0, n, 16)]
        dec = AutoencoderDecoder(self.config)
        dec.net.load_state_dict(self.decoder.state_dict())
        dec.latents.copy_(torch.cat(lats).to(dec.latents.device))
        return dec.to(next(self.parameters()).device)


class AutoencoderDecoder(Decoder):
    """The stored autoencoder: per-frame latents (N,c,h,w) and the decoder network."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        h, w = config["latent_hw"]
        self.register_buffer("latents", torch.zeros(config["frames"], config["latent_channels"], h, w))
        self.net = AEDecoderNet(config)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.net(self.latents[idx.to(self.latents.device)])

    def decode_embeddings(self, emb: torch.Tensor) -> torch.Tensor:
        return self.net(emb)
