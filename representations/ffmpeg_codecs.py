"""Classical codec baselines (x264, x265, SVT-AV1) through the ffmpeg binary imageio-ffmpeg ships.

RGB frames -> Y'CbCr 4:2:0 BT.709 limited range (nvbench.colour, the same conversion for every
metric) -> raw planes piped to ffmpeg -> encoded at a CRF with a stated preset into an
elementary stream (Annex-B .264/.265, AV1 OBUs: no container overhead, the real bitstream) ->
decoded by ffmpeg back to raw 4:2:0 planes -> RGB with the same matrix.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import CODEC, MethodPlugin


@dataclass
class CodecOutput:
    rgb: Any  # uint8 (T,H,W,3)
    yuv: tuple[Any, Any, Any] | None = None  # uint8 planes when the codec works in 4:2:0


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.lru_cache(maxsize=1)
def ffmpeg_encoders() -> frozenset[str]:
    """Names of the encoders the bundled ffmpeg binary has (empty when it cannot run)."""
    try:
        out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError, RuntimeError, ImportError):
        return frozenset()
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    return frozenset(names)


_TAGS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv")


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise NvbenchError(f"ffmpeg failed ({' '.join(cmd[:6])} ...): {proc.stderr.decode(errors='replace')[-800:]}")
    return proc.stdout


class FFmpegCodec(MethodPlugin):
    """One ffmpeg encoder at a CRF ladder. Subclasses set the encoder and the ladders."""

    capabilities = frozenset({CODEC})
    requires = ("imageio_ffmpeg",)
    install_hint = "pip install imageio-ffmpeg"
    quality_name = "CRF (lower = better quality, more bits)"
    encoder: ClassVar[str] = ""
    muxer: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    crf_range: ClassVar[tuple[int, int]] = (0, 51)
    ladders: ClassVar[dict[str, list[int]]] = {}
    options: ClassVar[dict[str, Any]] = {"preset": "medium", "tune": "", "crfs": [], "keyint": 0, "threads": 0}
    option_types: ClassVar[dict[str, type]] = {"crfs": int}
    #: encoder speed presets; `tune` values (the empty string: none)
    presets: ClassVar[tuple[str, ...]] = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                                          "slower", "veryslow", "placebo")
    tunes: ClassVar[tuple[str, ...]] = ("", "psnr", "ssim", "grain", "fastdecode", "zerolatency", "film",
                                        "animation", "stillimage")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Declarations from each encoder's own CRF range, presets and tunes (subclasses may set their own)."""
        super().__init_subclass__(**kwargs)
        if "option_ranges" not in cls.__dict__:
            cls.option_ranges = {"crfs": cls.crf_range, "keyint": (0, None), "threads": (0, None)}
        if "option_choices" not in cls.__dict__:
            cls.option_choices = {"preset": cls.presets, "tune": cls.tunes}

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if cls.encoder not in ffmpeg_encoders():
            return f"the bundled ffmpeg has no {cls.encoder} encoder (try: pip install -U imageio-ffmpeg)"
        return None

    @classmethod
    def qualities(cls, preset: str, options: dict[str, Any]) -> list[int]:
        o = cls.resolve_options(options)
        crfs = [int(c) for c in o["crfs"]] or cls.ladders.get(preset, cls.ladders["cpu"])
        lo, hi = cls.crf_range
        bad = [c for c in crfs if not lo <= c <= hi]
        if bad:
            raise NvbenchError(f"{cls.name}: CRF {bad} outside {lo}..{hi}")
        return crfs

    @classmethod
    def encoder_args(cls, crf: int, o: dict[str, Any]) -> list[str]:
        args = ["-c:v", cls.encoder, "-preset", str(o["preset"]), "-crf", str(crf)]
        if o["tune"]:
            args += ["-tune", str(o["tune"])]
        if o["keyint"]:
            args += ["-g", str(o["keyint"])]
        return args

    @classmethod
    def encode(cls, frames: Any, quality: Any, workdir: Any, options: dict[str, Any], fps: float = 25.0) -> Path:
        from nvbench.colour import rgb_to_yuv420

        o = cls.resolve_options(options)
        Y, U, V = rgb_to_yuv420(frames)
        t, h, w = Y.shape
        raw = b"".join(Y[i].tobytes() + U[i].tobytes() + V[i].tobytes() for i in range(t))
        out = Path(workdir) / f"{cls.name}_crf{quality}{cls.suffix}"
        # the input is tagged as well: tags on the output alone make ffmpeg convert the planes
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p",
               "-s", f"{w}x{h}", "-r", f"{fps:g}", *_TAGS, "-i", "-"]
        cmd += cls.encoder_args(int(quality), o)
        if o["threads"]:
            cmd += ["-threads", str(o["threads"])]
        cmd += [*_TAGS, "-f", cls.muxer, str(out)]
        _run(cmd, raw)
        return out

    @classmethod
    def decode(cls, bitstream: Any, shape: tuple[int, int, int], workdir: Any, options: dict[str, Any]) -> CodecOutput:
        import numpy as np

        from nvbench.colour import yuv420_to_rgb

        t, h, w = shape
        he, we = h + h % 2, w + w % 2
        raw = _run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", cls.muxer, "-i", str(bitstream),
                    "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        fsize = he * we * 3 // 2
        if len(raw) != t * fsize:
            raise NvbenchError(f"{cls.name}: decoding {bitstream} gave {len(raw) / fsize:g} frames, expected {t}")
        buf = np.frombuffer(raw, np.uint8).reshape(t, fsize)
        Y = buf[:, : he * we].reshape(t, he, we)
        U = buf[:, he * we : he * we * 5 // 4].reshape(t, he // 2, we // 2)
        V = buf[:, he * we * 5 // 4 :].reshape(t, he // 2, we // 2)
        return CodecOutput(yuv420_to_rgb(Y, U, V, h, w), (Y.copy(), U.copy(), V.copy()))


# Ladders: CRF 51 (the lowest rate) up to visually lossless, so BD-rate finds an overlap with
# the neural methods' range at every preset.
_X26X = {"smoke": [51, 39, 27], "cpu": [51, 46, 41, 37, 33, 29, 25], "paper": [51, 45, 40, 36, 32, 28, 24, 20]}


class X264Method(FFmpegCodec):
    name = "x264"
    description = "H.264/AVC via libx264 (ffmpeg), BT.709 4:2:0, CRF ladder, preset medium"
    encoder = "libx264"
    muxer = "h264"
    suffix = ".264"
    ladders = _X26X


class X265Method(FFmpegCodec):
    """info=0 drops x265's encoder-settings SEI (about 2 kB of text, no video)."""

    name = "x265"
    description = "H.265/HEVC via libx265 (ffmpeg), BT.709 4:2:0, CRF ladder, preset medium"
    encoder = "libx265"
    muxer = "hevc"
    suffix = ".265"
    ladders = _X26X
    tunes = ("", "psnr", "ssim", "grain", "fastdecode", "zerolatency", "animation")

    @classmethod
    def encoder_args(cls, crf: int, o: dict[str, Any]) -> list[str]:
        return super().encoder_args(crf, o) + ["-x265-params", "log-level=error:info=0"]


class SVTAV1Method(FFmpegCodec):
    name = "svtav1"
    description = "AV1 via SVT-AV1 (ffmpeg), BT.709 4:2:0, CRF ladder, preset 8"
    encoder = "libsvtav1"
    muxer = "obu"
    suffix = ".obu"
    crf_range = (1, 63)
    ladders = {"smoke": [63, 50, 35], "cpu": [63, 57, 51, 45, 39, 33, 27], "paper": [63, 56, 49, 42, 35, 28, 21]}
    options: ClassVar[dict[str, Any]] = {"preset": "8", "tune": "", "crfs": [], "keyint": 0, "threads": 0}
    presets = tuple(str(i) for i in range(14))  # SVT-AV1 presets 0 (slowest) .. 13
    tunes = ("",)  # not passed to SVT-AV1

    @classmethod
    def encoder_args(cls, crf: int, o: dict[str, Any]) -> list[str]:
        args = ["-c:v", cls.encoder, "-preset", str(o["preset"]), "-crf", str(crf), "-svtav1-params", "verbosity=0"]
        if o["keyint"]:
            args += ["-g", str(o["keyint"])]
        return args
