"""Presets fix the scale of a run: a scale rule for the frame size, frames, epochs and the size ladder.

Geometry is the dataset card's paper crop (centre) plus the preset's rule: area-resize it by 1/scale
per side (paper: none; never below MIN_SIDE). Any dataset gets its working size this way — a new dataset plugin and a
user's clip included (nvbench.data.base.clip_crop chooses a clip's crop). Within a preset every
method sees the same frames; a method adapts its grid or strides to the frame size and records how.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nvbench.errors import NvbenchError, UnknownNameError


@dataclass(frozen=True)
class Geometry:
    crop: tuple[int, int] | None  # centre crop (H, W) of the native frames, None = full frame
    resolution: tuple[int, int] | None  # area resize after the crop, None = keep the crop


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    epochs: int
    sizes: tuple[int, ...]  # the ladder; the first is the default
    frames: int | None  # None = all frames of the sequence
    scale: int | None = None  # the paper crop is area-resized by 1/scale per side; None = kept
    batch_size: int | None = None  # None = the recipe's

    def geometry_for(self, dataset: Any) -> Geometry:
        """The working geometry of a dataset (its card, or the name of a registered dataset): the
        card's paper crop — no crop where that is every sequence's whole frame — then the scale rule."""
        card = dataset if hasattr(dataset, "paper_crop") else _card(str(dataset))
        crop = (int(card.paper_crop[0]), int(card.paper_crop[1]))
        geo = scaled(crop, self.scale)
        whole = bool(card.sequences) and all((s.height, s.width) == crop for s in card.sequences)
        return Geometry(None, geo.resolution) if whole else geo

    @property
    def default_size(self) -> int:
        return self.sizes[0]


#: the scale rule never makes the short side smaller than this (the smoke preset's Bunny height):
#: a small dataset is resized less, or not at all, rather than to a few pixels
MIN_SIDE = 40


def scaled(crop: tuple[int, int], scale: int | None) -> Geometry:
    """The crop area-resized by 1/scale per side, the factor lowered so that the short side stays
    >= MIN_SIDE (1 = no resize); sides rounded down to even numbers (clip_crop picks crops that
    divide exactly)."""
    h, w = int(crop[0]), int(crop[1])
    s = max(1, min(scale or 1, min(h, w) // MIN_SIDE))
    if s == 1:
        return Geometry((h, w), None)
    return Geometry((h, w), (h // s // 2 * 2, w // s // 2 * 2))


def _card(name: str) -> Any:
    from nvbench.data.local import get_dataset

    return get_dataset(name).card


PRESETS: dict[str, Preset] = {
    "paper": Preset(
        "paper",
        "the papers' scale: Bunny 640x1280, UVG/DAVIS 960x1920, 300 epochs",
        epochs=300,
        sizes=(1_500_000, 350_000, 750_000, 3_000_000),
        frames=None,
        scale=None,
    ),
    "cpu": Preset(
        "cpu",
        "paper crop area-resized by 4 per side (Bunny 160x320), 30 epochs; sizes = 1.5M/3M/6M over 16x fewer pixels",
        epochs=30,
        sizes=(94_000, 188_000, 375_000),
        frames=None,
        scale=4,
    ),
    "smoke": Preset(
        "smoke",
        "seconds per run, for tests: paper crop resized by 16 per side (Bunny 40x80), 8 frames, 2 epochs",
        epochs=2,
        sizes=(24_000,),
        frames=8,
        scale=16,
    ),
}

DEFAULT_PRESET = "cpu"


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UnknownNameError("preset", name, PRESETS)
    return PRESETS[name]


_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*$")


def parse_size(text: str | int) -> int | str:
    """'94k' -> 94000, '1.5M' -> 1500000, '120000' -> 120000; a word (e.g. 'released') stays a
    named size that the method resolves itself."""
    if isinstance(text, int):
        return text
    m = _SIZE_RE.match(str(text))
    if not m:
        if re.fullmatch(r"[a-z][a-z0-9_-]*", str(text)):
            return str(text)
        raise NvbenchError(f"bad size {text!r}: use a number of parameters like 94k, 1.5M or 120000")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
    return int(round(value))


def format_size(size: int | str) -> str:
    if isinstance(size, str):
        return size
    if size >= 1_000_000:
        return f"{size / 1e6:g}M"
    if size >= 1000:
        return f"{size / 1e3:g}k"
    return str(size)


def parse_resolution(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise NvbenchError(f"bad resolution {text!r}: use HxW, e.g. 160x320")
    return int(m.group(1)), int(m.group(2))
