"""What every dataset plugin provides: a card (facts) and a reader (frames as a Video)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nvbench.errors import UnknownNameError
from nvbench.video import Video


def data_root() -> Path:
    """Where prepared data lives: $NVBENCH_DATA, else ./datasets (the repository's folder)."""
    env = os.environ.get("NVBENCH_DATA")
    return Path(env).expanduser() if env else Path.cwd() / "datasets"


#: a clip's crop height is a multiple of this when it can be: the smoke (1/16) and cpu (1/4) presets
#: then divide it exactly into multiples of 20 and 80 (HNeRV's 2x4 grid and HiNeRV's 40/60 strides)
CLIP_CROP_UNIT = 320


def clip_crop(height: int, width: int) -> tuple[int, int]:
    """The "paper crop" of a clip that has none (a user's file): the largest centre crop of aspect
    1:2 (H:W) whose height is a multiple of CLIP_CROP_UNIT (else of 40, else even). 1:2 is the
    aspect of every built-in paper crop (Bunny 720x1280 -> 640x1280, UVG 1080x1920 -> 960x1920, as
    HNeRV and HiNeRV crop them) and the one the NeRV family's default grids need; a 16:9 1080p clip
    gets UVG's 960x1920."""
    m = min(int(height), int(width) // 2)
    for unit in (CLIP_CROP_UNIT, 40, 2):
        if m >= unit:
            h = m // unit * unit
            return h, 2 * h
    return int(height), int(width)  # a frame too small to crop


@dataclass(frozen=True)
class SequenceInfo:
    name: str
    frames: int
    height: int
    width: int
    fps: float


@dataclass(frozen=True)
class DatasetCard:
    name: str
    title: str
    sequences: tuple[SequenceInfo, ...]
    paper_crop: tuple[int, int]  # centre crop the papers use (H, W)
    colour: str
    licence: str
    citation: str
    source: str
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def sequence(self, name: str | None) -> SequenceInfo:
        if name is None:
            return self.sequences[0]
        for s in self.sequences:
            if s.name.lower() == name.lower():
                return s
        raise UnknownNameError(f"sequence of {self.name}", name, [s.name for s in self.sequences])


class DatasetPlugin:
    """Base class for dataset plugins: a `card` and `load(sequence)` giving full-size frames."""

    name: ClassVar[str]
    card: ClassVar[DatasetCard]
    requires: ClassVar[tuple[str, ...]] = ()

    def load(self, sequence: str | None = None) -> Video:  # pragma: no cover - interface
        raise NotImplementedError

    def checksum(self, sequence: str | None = None) -> str:
        """sha256 of the sequence's source frames, cheap when the plugin knows it (job keys use
        it); the default decodes the frames."""
        return self.load(sequence).checksum()
