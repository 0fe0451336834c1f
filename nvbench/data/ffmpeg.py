"""The ffmpeg binary that the imageio-ffmpeg package ships: the one place the engine and the codec
plugins find it, ask what it was built with, and decode video files with it."""

from __future__ import annotations

import functools
import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from nvbench.errors import FormatError, MissingDataError


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDataError("ffmpeg is needed: pip install imageio-ffmpeg") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


_SIZE = r"Video: .*?, (\d{1,5})x(\d{1,5})[, \[]"


def probe(path: Path, timeout: float = 120.0) -> dict[str, float | int]:
    """Width, height and fps of the first video stream as ffmpeg decodes it: after a rotation tag
    (a 90-degree phone clip comes out 720x1280, not its coded 1280x720). Read from the output
    stream of a one-frame decode, else from the input's size and its display rotation."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-frames:v", "1", "-f", "null",
           "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FormatError(f"{path}: ffmpeg did not finish reading the first frame within {timeout:g} s") from None
    inp, _, out = proc.stderr.partition("Output #0")
    m = re.search(_SIZE, inp)
    if not m:
        raise FormatError(f"{path}: no video stream found by ffmpeg")
    width, height = int(m.group(1)), int(m.group(2))
    shown = re.search(_SIZE, out)
    if shown:
        width, height = int(shown.group(1)), int(shown.group(2))
    else:
        rot = re.search(r"rotation of (-?[\d.]+) degrees|rotate\s*:\s*(-?\d+)", inp)
        if rot and round(float(rot.group(1) or rot.group(2))) % 180 == 90:
            width, height = height, width
    fps = re.search(r"([\d.]+) fps", inp)
    return {"width": width, "height": height, "fps": float(fps.group(1)) if fps else 25.0}


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
    return ffmpeg_build()["version"]


@functools.lru_cache(maxsize=1)
def ffmpeg_build() -> dict[str, Any]:
    """The binary's version line, its path and a digest of its configure line (two builds with
    the same version can link different encoder versions; the codec plugins record those too)."""
    try:
        out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError, MissingDataError):
        return {"version": "?", "binary": None, "configuration_sha256": None}
    lines = out.splitlines()
    conf = next((ln for ln in lines if ln.startswith("configuration:")), "")
    return {"version": lines[0] if lines else "?", "binary": Path(ffmpeg_exe()).name,
            "configuration_sha256": hashlib.sha256(conf.encode()).hexdigest()[:16] if conf else None}


@functools.lru_cache(maxsize=2)
def ffmpeg_coders(kind: str = "encoders") -> frozenset[str]:
    """Names of the video encoders (kind="encoders") or decoders ("decoders") the binary has;
    empty when it cannot run."""
    try:
        out = subprocess.run([ffmpeg_exe(), "-hide_banner", f"-{kind}"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError, MissingDataError):
        return frozenset()
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)

