"""Real inputs for the dataset tests, made the way users get them: raw YUV from the Bunny clip
(ffmpeg), .7z archives (py7zr), DAVIS-shaped zips of JPEG frames and palette-PNG annotations."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import numpy as np

from nvbench.data.bunny import clip_path
from nvbench.data.ffmpeg import ffmpeg_exe


def make_yuv(dest: Path, frames: int = 4, size: tuple[int, int] | None = None) -> Path:
    """The first `frames` frames of the Bunny clip as raw yuv420p (optionally scaled to (H, W))."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin", "-i", str(clip_path()), "-frames:v", str(frames)]
    if size:
        cmd += ["-vf", f"scale={size[1]}:{size[0]}"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "yuv420p", str(dest)]
    subprocess.run(cmd, check=True)
    return dest


def ffmpeg_rgb(yuv: Path, height: int, width: int, vf: str) -> np.ndarray:
    """ffmpeg's own conversion of a raw yuv420p file to RGB24 with the filter `vf`."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-f", "rawvideo", "-pix_fmt", "yuv420p",
                          "-s", f"{width}x{height}", "-i", str(yuv), "-vf", vf, "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, height, width, 3)


def make_7z(dest: Path, files: dict[str, Path]) -> Path:
    import py7zr

    with py7zr.SevenZipFile(dest, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": 1}]) as z:
        for arcname, path in files.items():
            z.write(path, arcname)
    return dest


def bunny_frames(count: int, height: int, width: int) -> np.ndarray:
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(clip_path()), "-frames:v", str(count),
                          "-vf", f"scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(count, height, width, 3)


def jpeg_bytes(img: np.ndarray, quality: int = 95) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def annotation_png(ids: np.ndarray) -> bytes:
    """A palette PNG like DAVIS's: pixel values are object ids."""
    from PIL import Image

    img = Image.fromarray(ids.astype(np.uint8), mode="P")
    img.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def object_ids(frames: int, height: int, width: int) -> np.ndarray:
    """Two moving rectangles: object 1 and object 2."""
    ids = np.zeros((frames, height, width), np.uint8)
    for t in range(frames):
        ids[t, 4 + t : 20 + t, 8 : 40] = 1
        ids[t, 30:44, 60 + 2 * t : 90 + 2 * t] = 2
    return ids


def make_davis_zip(dest: Path, sequences: dict[str, int], height: int = 48, width: int = 96,
                   root: str = "DAVIS", res: str = "Full-Resolution", annotations: bool = True,
                   corrupt: str | None = None, odd_size: str | None = None) -> dict[str, np.ndarray]:
    """A zip laid out like DAVIS-2017-trainval-Full-Resolution.zip; returns the object ids."""
    frames = bunny_frames(max(sequences.values()), height, width)
    ids_out = {}
    with zipfile.ZipFile(dest, "w") as z:
        for seq, n in sequences.items():
            ids = object_ids(n, height, width)
            ids_out[seq] = ids
            for t in range(n):
                name = f"{root}/JPEGImages/{res}/{seq}/{t:05d}.jpg"
                img = frames[t]
                if odd_size == name:
                    img = frames[t][:-2]
                data = jpeg_bytes(img)
                if corrupt == name:
                    data = data[: len(data) // 3]
                z.writestr(name, data)
                if annotations:
                    z.writestr(f"{root}/Annotations/{res}/{seq}/{t:05d}.png", annotation_png(ids[t]))
        z.writestr(f"{root}/ImageSets/2017/val.txt", "\n".join(sequences) + "\n")
    return ids_out
