"""Prepared sequences: uint8 frames in a memory-mappable .npy plus a JSON sidecar.

Layout under the data root (nvbench.data.base.data_root()):

    <dataset>/<sequence>/frames.npy   uint8 (T, H, W, 3), opened with np.load(mmap_mode="r")
    <dataset>/<sequence>/masks.npy    optional uint8 (T, H, W) object ids (DAVIS annotations)
    <dataset>/<sequence>/meta.json    shape, checksum (as Video.checksum computes it), colour,
                                      source files, timings

Why not the `datasets` library (Arrow): a run needs random access to whole frames as a
(T, H, W, 3) uint8 array without copies; a .npy memory map gives exactly that with numpy
alone, opens in well under a millisecond and costs no anonymous memory. Arrow stores frames
as binary/list cells, so every batch needs a decode/reshape copy, and the current pyarrow
wheels require NumPy 2 while compressai pins NumPy < 2 (measured figures: datasets/README.md).

A sequence is written once into a hidden temporary folder next to its final place and
renamed at the end, so a crash or a bad input never leaves a half-written sequence: a folder
without meta.json is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from nvbench.errors import FormatError, NvbenchError

FRAMES = "frames.npy"
MASKS = "masks.npy"
META = "meta.json"


def is_prepared(folder: Path) -> bool:
    return (folder / META).is_file() and (folder / FRAMES).is_file()


def read_meta(folder: Path) -> dict[str, Any]:
    """The sidecar; cheap (job keys read the checksum from here)."""
    with open(folder / META, encoding="utf-8") as fh:
        return json.load(fh)


def open_frames(folder: Path) -> np.ndarray:
    """The frames, memory-mapped read-only (file-backed pages: no anonymous memory)."""
    try:
        frames = np.load(folder / FRAMES, mmap_mode="r")  # allow_pickle=False: an object array is refused
    except ValueError as exc:
        raise FormatError(f"{folder / FRAMES}: not a plain uint8 array ({exc}); prepare it again") from None
    meta = read_meta(folder)
    if list(frames.shape) != list(meta["shape"]) or frames.dtype != np.uint8:
        raise FormatError(f"{folder / FRAMES}: shape {frames.shape} {frames.dtype} does not match "
                          f"{META} ({meta['shape']} uint8); prepare it again")
    return frames


def open_masks(folder: Path) -> np.ndarray | None:
    path = folder / MASKS
    try:
        return np.load(path, mmap_mode="r") if path.is_file() else None
    except ValueError as exc:
        raise FormatError(f"{path}: not a plain uint8 array ({exc}); prepare it again") from None


class SequenceWriter:
    """Writes one sequence chunk by chunk, hashing as it goes, then renames it into place.

    Use as a context manager: on an exception the temporary folder is removed.
    """

    def __init__(self, dest: Path, frames: int, height: int, width: int, masks: bool = False):
        self.dest = Path(dest)
        self.shape = (int(frames), int(height), int(width), 3)
        self.frames = self.masks = None
        try:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(dir=self.dest.parent, prefix=f".{self.dest.name}.", suffix=".tmp"))
        except OSError as exc:
            raise self._disk_error(exc) from None
        # plain sequential writes, not a writable memory map: a full disk is then an OSError
        # (ENOSPC) from write(), where a memory map kills the process with SIGBUS
        self.frames = self._open(self.tmp / FRAMES, self.shape)
        self.masks = self._open(self.tmp / MASKS, self.shape[:3]) if masks else None
        self._hash = hashlib.sha256(f"{self.shape}".encode())
        self.count = 0
        self.write_seconds = 0.0
        self._t0 = time.perf_counter()

    def _open(self, path: Path, shape: tuple[int, ...]) -> Any:
        try:
            fh = open(path, "wb")
            np.lib.format.write_array_header_1_0(fh, {"descr": np.dtype(np.uint8).str, "fortran_order": False,
                                                      "shape": shape})
            return fh
        except OSError as exc:
            self.abort()
            raise self._disk_error(exc) from None

    def _disk_error(self, exc: OSError) -> NvbenchError:
        return NvbenchError(f"cannot write the prepared sequence under {self.dest.parent}: "
                            f"{exc.strerror or exc}; nothing was kept")

    def write(self, chunk: np.ndarray, masks: np.ndarray | None = None) -> None:
        """Append frames (n, H, W, 3) uint8 (and their masks (n, H, W))."""
        n = int(chunk.shape[0])
        if chunk.shape[1:] != self.shape[1:] or chunk.dtype != np.uint8:
            raise ValueError(f"chunk {chunk.dtype} {chunk.shape} does not fit {self.shape}")
        if self.count + n > self.shape[0]:
            raise ValueError(f"more than {self.shape[0]} frames written")
        t0 = time.perf_counter()
        try:
            for t in range(n):
                data = np.ascontiguousarray(chunk[t]).tobytes()
                self.frames.write(data)
                self._hash.update(data)
            if self.masks is not None:
                if masks is None or masks.shape != (n, *self.shape[1:3]):
                    raise ValueError(f"masks {None if masks is None else masks.shape} do not fit {n} frames")
                self.masks.write(np.ascontiguousarray(masks, dtype=np.uint8).tobytes())
        except OSError as exc:
            raise self._disk_error(exc) from None
        self.count += n
        self.write_seconds += time.perf_counter() - t0

    def finish(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Flush, write meta.json last and rename the folder into place; returns the meta."""
        if self.count != self.shape[0]:
            raise ValueError(f"{self.count} of {self.shape[0]} frames written")
        try:
            for fh in (self.frames, self.masks):
                if fh is not None:
                    fh.flush()
                    os.fsync(fh.fileno())
                    fh.close()
        except OSError as exc:
            raise self._disk_error(exc) from None
        full = {
            **meta,
            "shape": list(self.shape),
            "checksum": self._hash.hexdigest(),
            "has_masks": (self.tmp / MASKS).is_file(),
            "prepare_seconds": round(time.perf_counter() - self._t0, 3),
            "write_seconds": round(self.write_seconds, 3),
            "format": "npy uint8 (T,H,W,3), memory-mapped",
        }
        try:
            with open(self.tmp / META, "w", encoding="utf-8") as fh:
                json.dump(full, fh, indent=1, sort_keys=True)
        except OSError as exc:
            raise self._disk_error(exc) from None
        for name in (FRAMES, MASKS, META):
            if (self.tmp / name).exists():
                os.chmod(self.tmp / name, 0o644)
        os.chmod(self.tmp, 0o755)
        replace_dir(self.tmp, self.dest)
        return full

    def abort(self) -> None:
        for attr in ("frames", "masks"):
            fh = getattr(self, attr, None)
            if fh is not None:
                try:
                    fh.close()
                except OSError:
                    pass
                setattr(self, attr, None)
        if hasattr(self, "tmp"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> SequenceWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()


def replace_dir(src: Path, dest: Path) -> None:
    """Move a finished folder into place; an older version is moved aside first, then removed."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(dest, old)
    os.replace(src, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
