"""Readers for the files people download: raw YUV 4:2:0, image folders, video files.

Raw YUV 4:2:0 8-bit (UVG): converted here, not by ffmpeg, with BT.709 limited-range
coefficients (UVG is BT.709; ffmpeg's default for untagged raw YUV is BT.601). Chroma is
upsampled 2x in each direction by bilinear interpolation with centre siting (each chroma
sample lies between its 2x2 luma samples; output weights 3/4 and 1/4), edges replicated.
That is what ffmpeg's swscale does with `flags=bilinear+accurate_rnd+full_chroma_int`
(tests: mean difference < 0.01 levels, max 1). Against the plain
`scale=in_color_matrix=bt709:in_range=tv` (bicubic chroma, fast integer path) the median
difference is 0 once accurate_rnd is on; without it swscale rounds down by about one level.

Image folders: PNG/JPEG/BMP files in natural order (2.jpg before 10.jpg), all one size,
decoded by Pillow (JPEG: JFIF, BT.601 full range).

Video files (MP4, MKV, Y4M, ...): streamed through the ffmpeg binary of imageio-ffmpeg, frame
by frame (the whole clip is never held in memory).
"""

from __future__ import annotations

import collections
import os
import re
import select
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from nvbench.data.ffmpeg import ffmpeg_exe, probe
from nvbench.errors import FormatError, MissingDataError

YUV_COLOUR = ("BT.709 limited range, own conversion (nvbench.data.readers.yuv420_to_rgb; "
              "chroma: bilinear, centre-sited)")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_EXTS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".y4m", ".m4v")
YUV_EXTS = (".yuv",)

# BT.709: Kr = 0.2126, Kb = 0.0722; limited range: Y in [16, 235], Cb/Cr in [16, 240]
_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB
_Y_SCALE, _C_SCALE = 255.0 / 219.0, 255.0 / 224.0
_R_CR = 2.0 * (1.0 - _KR) * _C_SCALE
_B_CB = 2.0 * (1.0 - _KB) * _C_SCALE
_G_CB = 2.0 * _KB * (1.0 - _KB) / _KG * _C_SCALE
_G_CR = 2.0 * _KR * (1.0 - _KR) / _KG * _C_SCALE


def natural_key(name: str) -> list[int | str]:
    """'frame10' after 'frame9': digit runs compare as numbers."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


# ---------------------------------------------------------------- raw YUV 4:2:0

_SIZE_RE = re.compile(r"(?<![0-9])(\d{2,5})x(\d{2,5})(?![0-9])")


def yuv_size_from_name(path: Path) -> tuple[int, int] | None:
    """(height, width) from a name like Beauty_1920x1080_120fps_420_8bit_YUV.yuv (WxH)."""
    m = _SIZE_RE.search(Path(path).name)
    return (int(m.group(2)), int(m.group(1))) if m else None


def yuv420_frame_bytes(height: int, width: int) -> int:
    return height * width * 3 // 2


def open_yuv420(path: Path, height: int | None = None, width: int | None = None,
                frames: int | None = None) -> np.ndarray:
    """The file as a read-only memory map of shape (T, H*W*3/2), checked: even frame size,
    a whole number of frames and, when `frames` is given, exactly that many."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path}: no such file")
    if height is None or width is None:
        hw = yuv_size_from_name(path)
        if hw is None:
            raise FormatError(f"{path}: cannot tell the frame size of a raw .yuv file; put it in the name "
                              "as WIDTHxHEIGHT, e.g. myclip_1920x1080.yuv")
        height, width = hw
    if height % 2 or width % 2:
        raise FormatError(f"{path}: frame size {width}x{height} is odd; YUV 4:2:0 needs even width and height")
    fb = yuv420_frame_bytes(height, width)
    size = path.stat().st_size
    if frames is not None and size != frames * fb:
        raise FormatError(f"{path}: {size} bytes, expected {frames * fb} ({frames} frames of {width}x{height} "
                          f"YUV 4:2:0 8-bit, {fb} bytes each); the file is "
                          f"{'truncated' if size < frames * fb else 'longer than expected'} or not {width}x{height}")
    if size == 0 or size % fb:
        raise FormatError(f"{path}: {size} bytes is not a whole number of {width}x{height} YUV 4:2:0 8-bit frames "
                          f"({fb} bytes each): truncated, or the size in the name is wrong")
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(size // fb, fb))


def _upsample_chroma(c: np.ndarray) -> np.ndarray:
    """(h, w) -> (2h, 2w) float32, bilinear with centre siting, edge samples replicated."""
    c = c.astype(np.float32)
    p = np.pad(c, 1, mode="edge")
    rows = np.empty((2 * c.shape[0], p.shape[1]), np.float32)
    rows[0::2] = 0.75 * p[1:-1] + 0.25 * p[:-2]
    rows[1::2] = 0.75 * p[1:-1] + 0.25 * p[2:]
    out = np.empty((rows.shape[0], 2 * c.shape[1]), np.float32)
    out[:, 0::2] = 0.75 * rows[:, 1:-1] + 0.25 * rows[:, :-2]
    out[:, 1::2] = 0.75 * rows[:, 1:-1] + 0.25 * rows[:, 2:]
    return out


def yuv420_to_rgb(frame: np.ndarray, height: int, width: int, out: np.ndarray | None = None,
                  rows: int = 32) -> np.ndarray:
    """One raw 4:2:0 8-bit frame (H*W*3/2 bytes) -> uint8 RGB (H, W, 3), BT.709 limited range.

    Works in strips of `rows` luma rows (each with one chroma row of context on either side),
    so the float temporaries stay in the CPU cache: twice as fast as whole-frame arrays at
    1080p, with identical output."""
    n = height * width
    y = frame[:n].reshape(height, width)
    u = frame[n : n + n // 4].reshape(height // 2, width // 2)
    v = frame[n + n // 4 : n + n // 2].reshape(height // 2, width // 2)
    if out is None:
        out = np.empty((height, width, 3), np.uint8)
    hc = height // 2
    rows += rows % 2
    for r0 in range(0, height, rows):
        r1 = min(r0 + rows, height)
        c0, c1 = r0 // 2, r1 // 2
        lo, hi = max(c0 - 1, 0), min(c1 + 1, hc)
        skip = 2 * (c0 - lo)
        cb = _upsample_chroma(u[lo:hi])[skip : skip + r1 - r0] - 128.0
        cr = _upsample_chroma(v[lo:hi])[skip : skip + r1 - r0] - 128.0
        yf = (y[r0:r1].astype(np.float32) - 16.0) * _Y_SCALE
        o = out[r0:r1]
        for ch, (a, b) in enumerate(((0.0, _R_CR), (-_G_CB, -_G_CR), (_B_CB, 0.0))):
            t = yf + a * cb if a else yf.copy()
            if b:
                t += b * cr
            np.rint(t, out=t)
            np.clip(t, 0, 255, out=t)
            o[..., ch] = t
    return out


def iter_yuv420_rgb(raw: np.ndarray, height: int, width: int, chunk: int = 8) -> Iterator[np.ndarray]:
    """Chunks of converted frames (n, H, W, 3) uint8 from `open_yuv420`'s map."""
    for s in range(0, raw.shape[0], chunk):
        block = np.empty((min(chunk, raw.shape[0] - s), height, width, 3), np.uint8)
        for i in range(block.shape[0]):
            yuv420_to_rgb(raw[s + i], height, width, out=block[i])
        yield block


# ---------------------------------------------------------------- image folders


def list_images(folder: Path, exts: tuple[str, ...] = IMAGE_EXTS) -> list[Path]:
    """Image files of a folder in natural order; an empty folder is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingDataError(f"{folder}: no such folder")
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in exts),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise FormatError(f"{folder}: no image files ({', '.join(exts)}) in this folder")
    return files


def read_image(source: Path | object, name: str, mode: str = "RGB") -> np.ndarray:
    """Decode one image (a path or a binary file object) fully; a corrupted or truncated file
    is a FormatError naming it. mode 'P' keeps palette indices (DAVIS annotations)."""
    from PIL import Image

    try:
        with Image.open(source) as img:  # type: ignore[arg-type]
            img.load()
            if mode == "P":
                if img.mode not in ("P", "L"):
                    raise FormatError(f"{name}: an annotation must be a palette or greyscale PNG, got mode {img.mode}")
                return np.asarray(img, dtype=np.uint8).copy()
            if mode == "RGB" and img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
                # 16-bit greyscale: scaled to 8 bits (v / 257, rounded); convert("RGB") would clip it to white
                grey = np.asarray(img, dtype=np.float64)
                grey = np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8)
                return np.repeat(grey[..., None], 3, axis=2)
            return np.asarray(img.convert(mode), dtype=np.uint8).copy()
    except FormatError:
        raise
    except Exception as exc:  # PIL raises OSError, UnidentifiedImageError, SyntaxError, ValueError
        raise FormatError(f"{name}: corrupted or unreadable image ({exc})") from None


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the header only."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.height, img.width
    except Exception as exc:
        raise FormatError(f"{path}: corrupted or unreadable image ({exc})") from None


def check_one_size(files: list[Path]) -> tuple[int, int]:
    """All images share the first one's size; else name the first that does not."""
    h, w = image_size(files[0])
    for p in files[1:]:
        hw = image_size(p)
        if hw != (h, w):
            raise FormatError(f"{p}: {hw[1]}x{hw[0]} differs from {files[0].name} ({w}x{h}); "
                              "all frames of a sequence must share one size")
    return h, w


def iter_images(files: list[Path], height: int, width: int, chunk: int = 8) -> Iterator[np.ndarray]:
    for s in range(0, len(files), chunk):
        block = np.stack([read_image(p, str(p)) for p in files[s : s + chunk]])
        if block.shape[1:3] != (height, width):
            raise FormatError(f"{files[s]}: frame size changed while reading")
        yield block


# ---------------------------------------------------------------- video files


#: seconds ffmpeg may deliver nothing before a read gives up (a stream that stopped); $NVBENCH_FFMPEG_STALL
STALL_SECONDS = float(os.environ.get("NVBENCH_FFMPEG_STALL", "120"))


class _Stalled(Exception):
    pass


class FFmpegStream:
    """An ffmpeg child whose stdout is read with a stall limit and whose stderr is drained by a
    thread all the time (a pipe nobody reads blocks ffmpeg after 64 KB of warnings); the last
    lines of stderr are kept for the error message. `close()` kills it if it still runs."""

    def __init__(self, cmd: list[str]):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in iter(self.proc.stderr.readline, b""):
            self.tail.append(line.decode(errors="replace").rstrip())

    def read(self, n: int, stall: float) -> bytes:
        """Up to n bytes (fewer only at the end of the stream); _Stalled after `stall` seconds
        without a byte."""
        assert self.proc.stdout is not None
        fd, buf = self.proc.stdout.fileno(), bytearray()
        while len(buf) < n:
            ready, _, _ = select.select([fd], [], [], stall)
            if not ready:
                raise _Stalled(bytes(buf))  # what arrived before the stall
            data = os.read(fd, min(n - len(buf), 1 << 22))
            if not data:
                break
            buf += data
        return bytes(buf)

    def stderr_text(self) -> str:
        return " | ".join(line for line in self.tail if line.strip())[-300:]

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait()
        self._drain.join(timeout=5)
        for fh in (self.proc.stdout, self.proc.stderr):
            if fh is not None:
                fh.close()
        return code


def count_video_frames(path: Path, stall: float | None = None) -> int:
    """Exact frame count by decoding with ffmpeg's null muxer (no pixels kept)."""
    stall = STALL_SECONDS if stall is None else stall
    stream = FFmpegStream([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
                           "-f", "null", "-progress", "pipe:1", "-"])
    text = b""
    try:
        while chunk := stream.read(1 << 16, stall):
            text += chunk
    except _Stalled as stalled:
        stream.close()
        found = re.findall(rb"^frame=(\d+)", text + stalled.args[0], flags=re.M)
        raise FormatError(f"{path}: ffmpeg stopped delivering frames after frame {int(found[-1]) if found else 0} "
                          f"(nothing for {stall:g} s)") from None
    code = stream.close()
    found = re.findall(rb"^frame=(\d+)", text, flags=re.M)
    if code != 0 or not found:
        raise FormatError(f"{path}: ffmpeg cannot decode it: {stream.stderr_text()}")
    return int(found[-1])


def iter_video_rgb(path: Path, height: int, width: int, chunk: int = 8, frames: int | None = None,
                   stall: float | None = None) -> Iterator[np.ndarray]:
    """Frames of a video file as uint8 RGB chunks, streamed from ffmpeg (its default colour
    handling: tags honoured, untagged = BT.601 limited; rotation tags applied, so height x width
    is the size after rotation, as `probe` reports it). A stream that stops delivering, breaks
    off inside a frame or ends before `frames` frames is a FormatError naming the file and the frame."""
    stall = STALL_SECONDS if stall is None else stall
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    fb = height * width * 3
    stream = FFmpegStream(cmd)
    done = 0
    try:
        while True:
            try:
                data = stream.read(fb * chunk, stall)
            except _Stalled as stalled:
                whole = done + len(stalled.args[0]) // fb
                raise FormatError(f"{path}: ffmpeg stopped delivering frames after frame {whole} "
                                  f"(nothing for {stall:g} s)") from None
            if not data:
                break
            if len(data) % fb:
                raise FormatError(f"{path}: the stream breaks off inside frame {done + len(data) // fb + 1} "
                                  f"({len(data) % fb} of {fb} bytes of a {width}x{height} frame)")
            block = np.frombuffer(data, np.uint8).reshape(-1, height, width, 3)
            done += block.shape[0]
            yield block
    finally:
        code = stream.close()
    if code != 0:
        raise FormatError(f"{path}: ffmpeg failed after frame {done}: {stream.stderr_text()}")
    if frames is not None and done != frames:
        raise FormatError(f"{path}: the stream ended after frame {done} of the {frames} announced")


def video_info(path: Path) -> tuple[int, int, int, float]:
    """(frames, height, width, fps) of a video file."""
    info = probe(path)
    return count_video_frames(path), int(info["height"]), int(info["width"]), float(info["fps"])
