"""Video: uint8 frames (T, H, W, 3) plus where they came from.

Frames stay uint8 (possibly memory-mapped); consumers convert small batches to float on
their device. Geometry changes are centre crop then area resize, in that order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Video:
    frames: np.ndarray  # (T, H, W, 3) uint8
    name: str
    fps: float = 25.0
    source: str = ""
    dataset: str = ""
    colour: str = ""  # how RGB was obtained, e.g. "ffmpeg default (BT.601 limited)"
    geometry: dict[str, Any] = field(default_factory=dict)  # crop / resize applied, recorded

    def __post_init__(self) -> None:
        f = self.frames
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise ValueError(f"Video frames must be uint8 (T,H,W,3), got {f.dtype} {f.shape}")

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def checksum(self) -> str:
        """sha256 of the frame bytes (what every job key names)."""
        h = hashlib.sha256()
        h.update(f"{self.frames.shape}".encode())
        for t in range(self.num_frames):
            h.update(np.ascontiguousarray(self.frames[t]).tobytes())
        return h.hexdigest()

    def select(self, count: int | None) -> Video:
        """The first `count` frames (None: all)."""
        if count is None or count >= self.num_frames:
            return self
        return replace(self, frames=self.frames[:count], geometry={**self.geometry, "frames": count})

    def center_crop(self, height: int, width: int) -> Video:
        if (height, width) == (self.height, self.width):
            return self
        if height > self.height or width > self.width:
            raise ValueError(f"crop {height}x{width} is larger than the {self.height}x{self.width} frames")
        top, left = (self.height - height) // 2, (self.width - width) // 2
        frames = self.frames[:, top : top + height, left : left + width]
        geo = {**self.geometry, "crop": f"{height}x{width}"}
        return replace(self, frames=frames, geometry=geo)

    def resize_area(self, height: int, width: int, chunk: int = 16) -> Video:
        """Area (box-average) resize, rounded to uint8, done in chunks of frames."""
        if (height, width) == (self.height, self.width):
            return self
        out = np.empty((self.num_frames, height, width, 3), dtype=np.uint8)
        for s in range(0, self.num_frames, chunk):
            out[s : s + chunk] = area_resize(np.asarray(self.frames[s : s + chunk]), height, width)
        geo = {**self.geometry, "resize": f"{height}x{width} (area)"}
        return replace(self, frames=out, geometry=geo)

    def crop_resize(self, crop: tuple[int, int] | None, size: tuple[int, int] | None) -> Video:
        v = self.center_crop(*crop) if crop else self
        return v.resize_area(*size) if size else v


def area_resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Box-filter downscale of uint8 (T,H,W,3); exact block means for integer factors."""
    t, h, w, c = frames.shape
    if h % height == 0 and w % width == 0:
        fh, fw = h // height, w // width
        if fh * fw * 255 < 1 << 24:  # block sums are exact in float32 whatever the order: integer sums give the same
            return np.clip(np.rint(block_sums(frames, fh, fw).astype(np.float32) / np.float32(fh * fw)),
                           0, 255).astype(np.uint8)
        blocks = frames.reshape(t, height, fh, width, fw, c).astype(np.float32)
        return np.clip(np.rint(blocks.mean(axis=(2, 4))), 0, 255).astype(np.uint8)
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(height, width), mode="area")
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def block_sums(frames: np.ndarray, fh: int, fw: int) -> np.ndarray:
    """Sums of the fh x fw blocks of uint8 (T,H,W,C) frames as integers, by adding whole rows and
    then whole columns: the same numbers as a float32 mean's sums (exact below 2^24) at about 5x
    the speed of numpy's two-axis float reduction."""
    t, h, w, c = frames.shape
    rows = frames.reshape(t, h // fh, fh, w // fw, fw * c)
    acc = np.dtype(np.uint16) if fh * fw * 255 <= np.iinfo(np.uint16).max else np.dtype(np.uint32)
    s = rows[:, :, 0].astype(acc)
    for i in range(1, fh):
        s += rows[:, :, i]
    cols = s.reshape(t, h // fh, w // fw, fw, c)
    out = cols[:, :, :, 0].copy()
    for j in range(1, fw):
        out += cols[:, :, :, j]
    return out
