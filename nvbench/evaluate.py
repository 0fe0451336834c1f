"""Decoding a representation over frames and scoring it with the shared metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nvbench.metrics import QualityAccumulator, to_uint8
from nvbench.train import FrameSource


def decoded_batches(decode: Callable[[torch.Tensor], torch.Tensor], indices: Sequence[int],
                    batch_size: int = 8) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """(position in `indices`, index tensor, float frames (B,3,H,W)) per batch, decoded without
    autograd: the one decode loop of evaluation, file decoding and writing frames."""
    idx_all = list(indices)
    for s in range(0, len(idx_all), batch_size):
        idx = torch.as_tensor(idx_all[s : s + batch_size])
        with torch.inference_mode():  # per batch: a generator must not leave the mode set across a yield
            pred = decode(idx).float()
        yield s, idx, pred


def to_host_uint8(frames: torch.Tensor) -> np.ndarray:
    """Float frames (B,3,H,W) in [0,1] -> uint8 (B,H,W,3) on the host, as a frame file holds them."""
    return to_uint8(frames).permute(0, 2, 3, 1).cpu().numpy()


@torch.inference_mode()
def evaluate_frames(
    decode: Callable[[torch.Tensor], torch.Tensor],
    source: FrameSource,
    indices: Sequence[int] | None = None,
    batch_size: int = 8,
    with_ms_ssim: bool = True,
) -> dict[str, Any]:
    """Metrics of decode(idx) against the source frames over `indices` (default all)."""
    acc = QualityAccumulator(with_ms_ssim=with_ms_ssim)
    for _, idx, pred in decoded_batches(decode, range(source.num_frames) if indices is None else indices,
                                        batch_size):
        acc.add(pred, source.uint8(idx))
    return acc.result()


def uint8_batches(decode: Callable[[torch.Tensor], torch.Tensor], indices: Sequence[int],
                  batch_size: int = 8) -> Iterator[tuple[int, np.ndarray]]:
    """(position in `indices`, uint8 (B,H,W,3) host array) per decoded batch: frames leave the
    decoder in batches and are rounded to 8 bits there, never held as floats."""
    for s, _, pred in decoded_batches(decode, indices, batch_size):
        yield s, to_host_uint8(pred)


def decode_uint8(decode: Callable[[torch.Tensor], torch.Tensor], indices: Sequence[int],
                 batch_size: int = 8) -> np.ndarray:
    """Decoded frames as uint8 (T,H,W,3) on the host."""
    out = [batch for _, batch in uint8_batches(decode, indices, batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0, 0, 3), np.uint8)


def decode_to_npy(decode: Callable[[torch.Tensor], torch.Tensor], indices: Sequence[int], path: str | Path,
                  height: int, width: int, batch_size: int = 8) -> Path:
    """Decode straight into a uint8 (T,H,W,3) .npy file, batch by batch: the whole video is
    never in memory. Plain sequential writes after the header (measured 1.5x faster than
    filling a memory map, which page-faults on every new page of the file)."""
    path = Path(path)
    header = {"descr": "|u1", "fortran_order": False, "shape": (len(indices), height, width, 3)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for _, batch in uint8_batches(decode, indices, batch_size):
            if batch.shape[1:] != (height, width, 3):
                raise ValueError(f"decoded frames are {batch.shape[1:3]}, the file was opened for {(height, width)}")
            f.write(np.ascontiguousarray(batch).data)
    return path


def sample_indices(n: int) -> list[int]:
    """First, middle and last frame: the frames tasks save for the report."""
    return sorted({0, n // 2, n - 1})
