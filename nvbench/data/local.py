"""The user's own clip as a one-sequence dataset: `nvbench run --dataset PATH`.

PATH is a video file (MP4, MKV, Y4M, ... decoded by ffmpeg with its default colour handling),
a raw 8-bit YUV 4:2:0 file with WIDTHxHEIGHT in its name (converted with BT.709 limited
range, like UVG), or a folder of PNG/JPEG frames (natural order, one size). It is prepared
once into `<data root>/local/<name>-<id>/` (the same memory-mapped store as UVG/DAVIS); the
id hashes the path, size and modification time, so an edited file is prepared again.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from nvbench.data import readers, store
from nvbench.data.base import DatasetCard, DatasetPlugin, SequenceInfo, clip_crop, data_root
from nvbench.errors import FormatError, MissingDataError
from nvbench.video import Video

IMAGE_COLOUR = "RGB as stored in the image files (JPEG: JFIF BT.601 full range), decoded by Pillow"
VIDEO_COLOUR = "ffmpeg default (colour tags honoured; untagged: BT.601 limited range)"


def looks_like_path(name: str) -> bool:
    """A --dataset value that names a file or folder rather than a registered dataset."""
    p = Path(name).expanduser()
    return p.exists() or "/" in name or "\\" in name or p.suffix.lower() in (
        readers.VIDEO_EXTS + readers.YUV_EXTS)


def _kind(path: Path) -> str:
    if path.is_dir():
        return "images"
    suffix = path.suffix.lower()
    if suffix in readers.YUV_EXTS:
        return "yuv"
    if suffix in readers.IMAGE_EXTS:
        raise FormatError(f"{path}: a single image; pass the folder that holds the frames")
    return "video"


def _identity(path: Path) -> str:
    h = hashlib.sha256(str(path).encode())
    files = readers.list_images(path) if path.is_dir() else [path]
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


class LocalClip(DatasetPlugin):
    """One sequence from a path; prepared on first use."""

    def __init__(self, path: str | Path, echo: Any = None):
        path = Path(path).expanduser()
        if not path.exists():
            raise MissingDataError(f"{path}: no such file or folder (--dataset takes a dataset name from "
                                   "`nvbench data list`, a video file, a .yuv file or a folder of frames)")
        self.path = path.resolve()
        self.name = str(self.path)  # what jobs record as their dataset
        self.kind = _kind(self.path)
        self.sequence_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.path.stem if self.path.is_file() else self.path.name)
        self.dir = data_root() / "local" / f"{self.sequence_name}-{_identity(self.path)}"
        if not store.is_prepared(self.dir):
            self.prepare(echo)
        meta = store.read_meta(self.dir)
        t, h, w, _ = meta["shape"]
        self.card = DatasetCard(
            name=self.name, title=f"your clip {self.path.name}",
            sequences=(SequenceInfo(self.sequence_name, int(t), int(h), int(w), float(meta["fps"])),),
            paper_crop=clip_crop(int(h), int(w)), colour=meta["colour"], licence="yours", citation="-",
            source=str(self.path), notes="paper crop: the largest centre 1:2 crop (nvbench.data.base.clip_crop); "
                                         "--crop full keeps the whole frame",
        )

    def prepare(self, echo: Any = None) -> dict[str, Any]:
        p = self.path
        if self.kind == "yuv":
            raw = readers.open_yuv420(p)
            h, w = readers.yuv_size_from_name(p) or (0, 0)
            fps_m = re.search(r"(\d+(?:\.\d+)?)fps", p.name, re.I)
            fps, colour = float(fps_m.group(1)) if fps_m else 25.0, readers.YUV_COLOUR
            n, chunks = raw.shape[0], readers.iter_yuv420_rgb(raw, h, w)
        elif self.kind == "images":
            files = readers.list_images(p)
            h, w = readers.check_one_size(files)
            n, fps, colour = len(files), 25.0, IMAGE_COLOUR
            chunks = readers.iter_images(files, h, w)
        else:
            n, h, w, fps = readers.video_info(p)
            colour = VIDEO_COLOUR
            chunks = readers.iter_video_rgb(p, h, w)
        if n == 0:
            raise FormatError(f"{p}: no frames")
        if echo:
            echo(f"preparing {p} ({n} frames of {w}x{h}) into {self.dir}")
        with store.SequenceWriter(self.dir, n, h, w) as wr:
            for block in chunks:
                if wr.count + block.shape[0] > n:
                    raise FormatError(f"{p}: more frames than the {n} counted")
                wr.write(block)
            if wr.count != n:
                raise FormatError(f"{p}: {wr.count} frames decoded, {n} expected")
            return wr.finish({"dataset": "local", "sequence": self.sequence_name, "fps": fps, "colour": colour,
                              "source": str(p), "kind": self.kind})

    def checksum(self, sequence: str | None = None) -> str:
        self.card.sequence(sequence)
        return str(store.read_meta(self.dir)["checksum"])

    def load(self, sequence: str | None = None) -> Video:
        info = self.card.sequence(sequence)
        return Video(frames=store.open_frames(self.dir), name=info.name, fps=info.fps, source=str(self.path),
                     dataset=self.name, colour=self.card.colour)


def get_dataset(name: str) -> DatasetPlugin:
    """A registered dataset plugin by name, or the user's clip when `name` is a path."""
    from nvbench import registry

    if name in registry.datasets.names():
        return registry.datasets.get(name)()
    if looks_like_path(name):
        return LocalClip(name)
    return registry.datasets.get(name)()  # raises UnknownNameError with suggestions
