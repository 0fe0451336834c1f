"""Inpainting masks: the paper's fixed boxes, a central box, and object masks read from files.

A mask is bool, True where a pixel is missing. Fixed geometries are one (H, W) mask shared by
every frame; object masks are one per frame. Numpy (and Pillow for files) only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nvbench.errors import FormatError, MissingDataError, NvbenchError

#: the paper's box side (50 px) is defined at this frame height (480x960); it scales with height
DISPERSE_SIDE_PX = 50
DISPERSE_REF_HEIGHT = 480
MASK_SUFFIXES = (".png", ".bmp", ".gif", ".tif", ".tiff", ".jpg", ".jpeg")


@dataclass
class MaskSet:
    """Masks of a whole video: `shared` (H, W) for fixed boxes or `per_frame` (T, H, W)."""

    kind: str
    height: int
    width: int
    shared: np.ndarray | None = None
    per_frame: np.ndarray | None = None
    side_px: int | None = None  # box side in pixels (disperse)
    info: dict[str, Any] = field(default_factory=dict)

    def frames(self, idx: Any) -> np.ndarray:
        """bool (B, H, W) for frame indices `idx`."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        if self.per_frame is not None:
            return self.per_frame[idx]
        return np.broadcast_to(self.shared, (len(idx), self.height, self.width))

    @property
    def fraction(self) -> float:
        """Share of masked pixels over the video."""
        m = self.per_frame if self.per_frame is not None else self.shared
        return float(m.mean())

    def digest(self) -> str:
        m = self.per_frame if self.per_frame is not None else self.shared
        return hashlib.sha256(np.packbits(np.ascontiguousarray(m)).tobytes() + str(m.shape).encode()).hexdigest()[:16]

    def record_fields(self) -> dict[str, Any]:
        return {"mask": self.kind, "mask_side_px": self.side_px, "mask_fraction": round(self.fraction, 6),
                **self.info}


def disperse_side(height: int) -> int:
    """The paper's 50-px box side at 480 rows, scaled with the frame height (100 px at 960)."""
    return max(1, int(round(DISPERSE_SIDE_PX * height / DISPERSE_REF_HEIGHT)))


def disperse_mask(height: int, width: int, side: int | None = None) -> tuple[np.ndarray, int]:
    """Five square boxes centred at (H/2, W/2) and the four quarter points (H/4 or 3H/4, W/4 or
    3W/4), centres integer-truncated and each box [c - side//2, c - side//2 + side) as in the
    official HNeRV code (docs/tasks.md, inpainting)."""
    side = disperse_side(height) if not side else int(side)
    m = np.zeros((height, width), dtype=bool)
    centres = [(height // 2, width // 2), (height // 4, width // 4), (height // 4, 3 * width // 4),
               (3 * height // 4, width // 4), (3 * height // 4, 3 * width // 4)]
    for cy, cx in centres:
        y0, x0 = max(0, cy - side // 2), max(0, cx - side // 2)
        m[y0 : cy - side // 2 + side, x0 : cx - side // 2 + side] = True
    return m, side


def central_mask(height: int, width: int) -> np.ndarray:
    """One box of (H/4) x (W/4) at the centre (Boosting-NeRV's "center" mask; docs/tasks.md)."""
    bh, bw = max(1, height // 4), max(1, width // 4)
    top, left = (height - bh) // 2, (width - bw) // 2
    m = np.zeros((height, width), dtype=bool)
    m[top : top + bh, left : left + bw] = True
    return m


def list_mask_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MASK_SUFFIXES)


def read_mask(path: Path) -> np.ndarray:
    """bool (h, w): any non-zero value is masked (DAVIS annotations hold object ids in a
    palette image; a binary mask holds 0/255)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            a = np.asarray(im)
    except Exception as exc:  # PIL raises several kinds for a broken file
        raise FormatError(f"{path}: not a readable mask image ({exc})") from exc
    if a.ndim == 3:
        a = a[..., :3].max(axis=-1) if a.shape[-1] >= 3 else a[..., 0]
    return a > 0


def object_masks(folder: str | Path, frames: int, height: int, width: int, *, truncated: bool,
                 native: tuple[int, int] | None, crop: tuple[int, int] | None,
                 resolution: tuple[int, int] | None) -> MaskSet:
    """Per-frame masks from a folder of images (sorted by name), one per frame of the sequence.

    A mask may be at the working size or at the sequence's native size; native masks go through
    the same centre crop and area resize as the frames (a pixel is masked when any of its source
    pixels was). Too few masks, too many (unless the run uses only the first frames), or a size
    that is neither is an error naming the folder or file."""
    from nvbench.video import Video

    folder = Path(folder).expanduser()
    if not str(folder) or not folder.is_dir():
        raise MissingDataError(f"mask folder {folder} does not exist (set mask_dir=FOLDER of one mask image per frame, "
                               "e.g. DAVIS Annotations/Full-Resolution/<sequence>)")
    files = list_mask_files(folder)
    if len(files) < frames or (len(files) > frames and not truncated):
        raise FormatError(f"{folder}: {len(files)} mask images for {frames} frames (need one per frame)")
    files = files[:frames]
    masks = np.zeros((frames, height, width), dtype=bool)
    for t, path in enumerate(files):
        m = read_mask(path)
        if m.shape == (height, width):
            masks[t] = m
        elif native is not None and m.shape == tuple(native):
            rgb = np.repeat((m.astype(np.uint8) * 255)[None, :, :, None], 3, axis=-1)
            small = Video(rgb, name="mask").crop_resize(crop, resolution).frames[0, :, :, 0]
            if small.shape != (height, width):
                raise NvbenchError(f"{path}: mask geometry gives {small.shape}, frames are {height}x{width}")
            masks[t] = small > 0
        else:
            sizes = f"{height}x{width}" + (f" or the native {native[0]}x{native[1]}" if native else "")
            raise FormatError(f"{path}: mask is {m.shape[0]}x{m.shape[1]}, expected {sizes}")
    return MaskSet("object", height, width, per_frame=masks, info={"mask_dir": str(folder)})


def build_masks(options: dict[str, Any], frames: int, height: int, width: int, **geometry: Any) -> MaskSet:
    """The MaskSet an inpainting run asks for (options: mask, box, mask_dir)."""
    kind = options["mask"]
    if kind == "disperse":
        m, side = disperse_mask(height, width, options.get("box") or None)
        return MaskSet(kind, height, width, shared=m, side_px=side)
    if kind == "central":
        m = central_mask(height, width)
        return MaskSet(kind, height, width, shared=m, info={"mask_box": f"{height // 4}x{width // 4}"})
    if kind == "object":
        if not options.get("mask_dir"):
            raise NvbenchError("inpainting with mask=object needs --set mask_dir=FOLDER (one mask image per frame)")
        return object_masks(options["mask_dir"], frames, height, width, **geometry)
    raise NvbenchError(f"unknown mask {kind!r} (known: disperse, central, object)")
