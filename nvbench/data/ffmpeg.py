"""Decoding video files with the ffmpeg binary that the imageio-ffmpeg package ships."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from nvbench.errors import FormatError, MissingDataError


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDataError("ffmpeg is needed: pip install imageio-ffmpeg") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: Path) -> dict[str, float | int]:
    """Width, height and fps of the first video stream (parsed from ffmpeg's banner)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    m = re.search(r"Video: .*?, (\d{2,5})x(\d{2,5})[, \[]", proc.stderr)
    if not m:
        raise FormatError(f"{path}: no video stream found by ffmpeg")
    fps = re.search(r"([\d.]+) fps", proc.stderr)
    return {"width": int(m.group(1)), "height": int(m.group(2)), "fps": float(fps.group(1)) if fps else 25.0}


def decode_rgb(path: Path, extra_filters: str | None = None) -> np.ndarray:
    """All frames of a video file as uint8 RGB (T,H,W,3), with ffmpeg's default conversion
    (untagged clips: BT.601 limited range), which is how the papers' PNG frames were made."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path}: no such video file")
    info = probe(path)
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path)]
    if extra_filters:
        cmd += ["-vf", extra_filters]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise FormatError(f"{path}: ffmpeg failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    h, w = int(info["height"]), int(info["width"])
    frame_bytes = h * w * 3
    if len(proc.stdout) % frame_bytes:
        raise FormatError(f"{path}: decoded {len(proc.stdout)} bytes, not a whole number of {w}x{h} frames")
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, h, w, 3)


def ffmpeg_version() -> str:
    out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "?"

