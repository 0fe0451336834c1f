"""Torch-side base classes shared by the neural representations."""

from __future__ import annotations

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
