"""Decoding a representation over frames and scoring it with the shared metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from nvbench.metrics import QualityAccumulator, to_uint8
from nvbench.train import FrameSource


@torch.inference_mode()
def evaluate_frames(
    decode: Callable[[torch.Tensor], torch.Tensor],
    source: FrameSource,
    indices: Sequence[int] | None = None,
    batch_size: int = 8,
    with_ms_ssim: bool = True,
) -> dict[str, Any]:
    """Metrics of decode(idx) against the source frames over `indices` (default all)."""
    idx_all = list(range(source.num_frames)) if indices is None else list(indices)
    acc = QualityAccumulator(with_ms_ssim=with_ms_ssim)
    for s in range(0, len(idx_all), batch_size):
        idx = torch.as_tensor(idx_all[s : s + batch_size])
        acc.add(decode(idx).float(), source.uint8(idx))
    return acc.result()


@torch.inference_mode()
def decode_uint8(decode: Callable[[torch.Tensor], torch.Tensor], indices: Sequence[int],
                 batch_size: int = 8) -> np.ndarray:
    """Decoded frames as uint8 (T,H,W,3) on the host."""
    out = []
    idx_all = list(indices)
    for s in range(0, len(idx_all), batch_size):
        idx = torch.as_tensor(idx_all[s : s + batch_size])
        out.append(to_uint8(decode(idx).float()).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0, 0, 3), np.uint8)


def sample_indices(n: int) -> list[int]:
    """First, middle and last frame: the frames tasks save for the report."""
    return sorted({0, n // 2, n - 1})
