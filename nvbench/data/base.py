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
