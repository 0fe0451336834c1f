"""Classical codec baselines (x264, x265, SVT-AV1, libaom AV1, VVenC) through the ffmpeg binary
imageio-ffmpeg ships.

RGB frames -> Y'CbCr 4:2:0 BT.709 limited range (nvbench.colour, the same conversion for every
metric) -> raw planes piped to ffmpeg (10-bit encoders get the 8-bit planes times 4, exactly) ->
encoded at a quality step under stated coding conditions into an elementary stream (Annex-B
.264/.265/.266, AV1 OBUs: no container overhead, the real bitstream) -> decoded by a named ffmpeg
decoder back to raw 4:2:0 planes (10-bit output rounded back to 8 bits) -> RGB with the same matrix.

Coding conditions are options recorded in every point: `preset` (the encoder's speed preset; for
libaom its cpu-used), `gop` = ra (random access: hierarchical B / alt-ref frames, an intra picture
every `keyint` frames) | ld (low delay: no picture reordering) | ai (all intra), `keyint` (0 = the
encoder's own intra period, stated in `default_keyint`) and `threads` (fixed by default: 1, so the
same machine always gives the same bytes; 0 = the encoder's own choice from the core count).
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nvbench.data.ffmpeg import ffmpeg_build, ffmpeg_coders, ffmpeg_exe
from nvbench.errors import NvbenchError
from nvbench.methods import CODEC, MethodPlugin

GOPS = ("ra", "ld", "ai")
GOP_WORDS = {"ra": "random access", "ld": "low delay (no reordering)", "ai": "all intra"}


@dataclass
class CodecOutput:
    rgb: Any  # uint8 (T,H,W,3)
    yuv: tuple[Any, Any, Any] | None = None  # uint8 planes when the codec works in 4:2:0
    info: dict[str, Any] = field(default_factory=dict)  # what the decoder saw (e.g. intra frames), recorded


def ffmpeg_encoders() -> frozenset[str]:
    """Names of the encoders the bundled ffmpeg binary has (empty when it cannot run)."""
    return ffmpeg_coders("encoders")


_TAGS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv")
_SHOWINFO = re.compile(r"\bn:\s*(\d+)\b.*?\biskey:(\d)\b.*?\btype:(\w)")


def _run(cmd: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise NvbenchError(f"ffmpeg failed ({' '.join(cmd[:6])} ...): {proc.stderr.decode(errors='replace')[-800:]}")
    return proc


def planes_bytes(Y: Any, U: Any, V: Any, bit_depth: int = 8) -> bytes:
    """Raw 4:2:0 frames for ffmpeg's rawvideo input: 8-bit planes as they are, or shifted left to
    `bit_depth` (little-endian 16-bit words), which is exact and what 10-bit coding of 8-bit
    content does in the common test conditions."""
    shift = bit_depth - 8
    planes = (p for i in range(Y.shape[0]) for p in (Y[i], U[i], V[i]))
    return b"".join(p.tobytes() if not shift else (p.astype("<u2") << shift).tobytes() for p in planes)


class FFmpegCodec(MethodPlugin):
    """One ffmpeg encoder at a quality ladder under named coding conditions. Subclasses set the
    encoder, the decoder, the ladders and how each condition maps onto the encoder's options."""

    capabilities = frozenset({CODEC})
    requires = ("imageio_ffmpeg",)
    install_hint = "pip install imageio-ffmpeg"
    quality_name = "CRF (lower = better quality, more bits)"
    quality_flag: ClassVar[str] = "-crf"
    encoder: ClassVar[str] = ""
    decoder: ClassVar[str] = ""  # ffmpeg decoder, named so the record says which one decoded
    muxer: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    bit_depth: ClassVar[int] = 8  # sample depth the encoder is fed and codes at
    params_flag: ClassVar[str] = ""  # the encoder's own key=value list option, e.g. -x265-params
    crf_range: ClassVar[tuple[int, int]] = (0, 51)
    ladders: ClassVar[dict[str, list[int]]] = {}
    #: what keyint=0 gives in ra/ld, in words (the encoder's own default intra period)
    default_keyint: ClassVar[str] = ""
    #: regexes (one group) over a tiny probe encode's log and bitstream: the encoder's version and SIMD level
    version_pattern: ClassVar[str] = ""
    simd_pattern: ClassVar[str] = ""
    preset_word: ClassVar[str] = "preset"  # what `preset` is called by the encoder (libaom: cpu-used)
    options: ClassVar[dict[str, Any]] = {"preset": "medium", "tune": "", "crfs": [], "gop": "ra", "keyint": 0,
                                         "threads": 1}
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
            cls.option_choices = {"preset": cls.presets, "tune": cls.tunes, "gop": GOPS}

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if cls.encoder not in ffmpeg_encoders():
            return f"the bundled ffmpeg has no {cls.encoder} encoder (try: pip install -U imageio-ffmpeg)"
        if cls.decoder and cls.decoder not in ffmpeg_coders("decoders"):
            return f"the bundled ffmpeg has no {cls.decoder} decoder (try: pip install -U imageio-ffmpeg)"
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

    # -- coding conditions -> encoder options -------------------------------------------------
    @classmethod
    def base_params(cls, o: dict[str, Any]) -> list[str]:
        """Encoder key=value parameters every encode gets (logging, no settings text in the stream)."""
        return []

    @classmethod
    def gop_args(cls, o: dict[str, Any]) -> tuple[list[str], list[str]]:
        """(ffmpeg options, encoder parameters) of the GOP structure. The default (ra, keyint 0)
        adds nothing: the encoder's own structure, as the committed x264/x265 points were made."""
        keyint = int(o["keyint"])
        if o["gop"] == "ai":
            return ["-g", "1"], []
        args = ["-g", str(keyint)] if keyint else []
        return (args + ["-bf", "0"], []) if o["gop"] == "ld" else (args, [])

    @classmethod
    def thread_args(cls, threads: int) -> tuple[list[str], list[str]]:
        return (["-threads", str(threads)], []) if threads else ([], [])

    @classmethod
    def encoder_args(cls, crf: int, o: dict[str, Any]) -> list[str]:
        args = ["-c:v", cls.encoder, "-preset", str(o["preset"]), cls.quality_flag, str(crf)]
        if o["tune"]:
            args += ["-tune", str(o["tune"])]
        g_args, g_params = cls.gop_args(o)
        t_args, t_params = cls.thread_args(int(o["threads"]))
        params = cls.base_params(o) + g_params + t_params
        args += g_args + t_args
        if params:
            args += [cls.params_flag, ":".join(params)]
        return args

    @classmethod
    def intra_period(cls, o: dict[str, Any]) -> str:
        """The intra period the options ask for, in words (what the decoder saw is recorded too)."""
        if o["gop"] == "ai":
            return "1"
        return str(o["keyint"]) if int(o["keyint"]) else f"{cls.default_keyint} (encoder default)"

    @classmethod
    def coding_conditions(cls, quality: Any, options: dict[str, Any]) -> dict[str, Any]:
        """The coding conditions of one point, as flat record fields (the report lists them)."""
        o = cls.resolve_options(options)
        info = cls.encoder_info()
        threads = int(o["threads"]) or "auto"
        simd = f"limited to {o['simd']}" if o.get("simd") else info["simd"]
        text = (f"{cls.encoder} {info['version']}, {cls.preset_word} {o['preset']}"
                + (f", tune {o['tune']}" if o["tune"] else "")
                + f", {GOP_WORDS[o['gop']]}, intra period {cls.intra_period(o)}, {threads} thread"
                + ("s" if threads != 1 else "") + f", {cls.bit_depth}-bit"
                + (f", SIMD {simd}" if o.get("simd") else ""))
        return {"encoder": cls.encoder, "encoder_version": info["version"], "encoder_simd": simd,
                "encoder_preset": str(o["preset"]), "gop": o["gop"], "intra_period": cls.intra_period(o),
                "encoder_threads": threads, "coding_bit_depth": cls.bit_depth, "decoder": cls.decoder,
                "ffmpeg_version": ffmpeg_build()["version"], "coding_conditions": text,
                "encoder_command": " ".join(cls.encoder_args(quality, o))}

    @classmethod
    def job_provenance(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Job-level provenance of a codec job: the ffmpeg build, the encoder's version and SIMD
        level, the decoder, the encoder thread count and the conditions without the quality step."""
        o = cls.resolve_options(options)
        c = cls.coding_conditions(0, o)
        return {"ffmpeg": ffmpeg_build(), "codec": {k: c[k] for k in (
            "encoder", "encoder_version", "encoder_simd", "decoder", "encoder_preset", "gop", "intra_period",
            "encoder_threads", "coding_bit_depth", "coding_conditions")}}

    @classmethod
    def encoder_info(cls) -> dict[str, str]:
        return _encoder_info(cls.encoder, cls.version_pattern, cls.simd_pattern, cls.bit_depth, cls.muxer,
                             tuple(cls.probe_args()))

    @classmethod
    def probe_args(cls) -> list[str]:
        """Encoder options of the tiny probe encode that reveals the version (its log level on)."""
        return ["-c:v", cls.encoder]

    # -- encode / decode ----------------------------------------------------------------------
    @classmethod
    def encode(cls, frames: Any, quality: Any, workdir: Any, options: dict[str, Any], fps: float = 25.0) -> Path:
        from nvbench.colour import source_planes

        o = cls.resolve_options(options)
        Y, U, V = source_planes(frames)  # converted once for the whole ladder
        t, h, w = Y.shape
        raw = planes_bytes(Y, U, V, cls.bit_depth)
        out = Path(workdir) / f"{cls.name}_crf{quality}{cls.suffix}"
        pix = "yuv420p" if cls.bit_depth == 8 else f"yuv420p{cls.bit_depth}le"
        # the input is tagged as well: tags on the output alone make ffmpeg convert the planes
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", pix,
               "-s", f"{w}x{h}", "-r", f"{fps:g}", *_TAGS, "-i", "-"]
        cmd += cls.encoder_args(int(quality), o)
        cmd += [*_TAGS, "-f", cls.muxer, str(out)]
        _run(cmd, raw)
        return out

    @classmethod
    def decode(cls, bitstream: Any, shape: tuple[int, int, int], workdir: Any, options: dict[str, Any]) -> CodecOutput:
        import numpy as np

        from nvbench.colour import yuv420_to_rgb

        t, h, w = shape
        he, we = h + h % 2, w + w % 2
        pix = "yuv420p" if cls.bit_depth == 8 else f"yuv420p{cls.bit_depth}le"
        dec = ["-c:v", cls.decoder] if cls.decoder else []
        # showinfo logs each decoded frame's type: the intra pictures the stream really has
        proc = _run([ffmpeg_exe(), "-hide_banner", "-f", cls.muxer, *dec, "-i", str(bitstream),
                     "-vf", "showinfo=checksum=0", "-loglevel", "info", "-f", "rawvideo", "-pix_fmt", pix, "-"])
        raw = proc.stdout
        bytes_per = 1 if cls.bit_depth == 8 else 2
        fsize = he * we * 3 // 2
        if len(raw) != t * fsize * bytes_per:
            raise NvbenchError(f"{cls.name}: decoding {bitstream} gave {len(raw) / fsize / bytes_per:g} frames, "
                               f"expected {t}")
        if bytes_per == 1:
            buf = np.frombuffer(raw, np.uint8).reshape(t, fsize)
        else:  # back to 8 bits, rounding (the inverse of the exact shift on the way in)
            shift = cls.bit_depth - 8
            wide = np.frombuffer(raw, "<u2").reshape(t, fsize).astype(np.int32)
            buf = np.clip((wide + (1 << (shift - 1))) >> shift, 0, 255).astype(np.uint8)
        Y = buf[:, : he * we].reshape(t, he, we)
        U = buf[:, he * we : he * we * 5 // 4].reshape(t, he // 2, we // 2)
        V = buf[:, he * we * 5 // 4 :].reshape(t, he // 2, we // 2)
        return CodecOutput(yuv420_to_rgb(Y, U, V, h, w), (Y.copy(), U.copy(), V.copy()),
                           cls.intra_info(Path(bitstream), proc.stderr.decode(errors="replace")))

    @classmethod
    def intra_info(cls, bitstream: Path, showinfo_log: str) -> dict[str, Any]:
        """The intra pictures of the decoded stream: display indices from the decoder's frame flags."""
        frames = intra_frames(showinfo_log)
        return {"intra_frames": frames, "intra_pictures": len(frames)}


def intra_frames(showinfo_log: str) -> list[int]:
    """Indices of the decoded frames that are intra pictures (key frames or type I), from the
    showinfo filter's log."""
    out = []
    for line in showinfo_log.splitlines():
        m = _SHOWINFO.search(line)
        if m and (m.group(2) == "1" or m.group(3) == "I"):
            out.append(int(m.group(1)))
    return out


@functools.cache
def _encoder_info(encoder: str, version_pattern: str, simd_pattern: str, bit_depth: int, muxer: str,
                  probe: tuple[str, ...]) -> dict[str, str]:
    """Version and SIMD level of an encoder from a 2-frame 64x64 encode at the verbose log level
    (the encoders print them there; x264 writes its version into the stream itself)."""
    pix = "yuv420p" if bit_depth == 8 else f"yuv420p{bit_depth}le"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "verbose", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=25:d=0.08",
           "-pix_fmt", pix, *probe, "-f", muxer, "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60)
        text = proc.stderr.decode(errors="replace") + proc.stdout.decode("latin-1")
    except (OSError, subprocess.SubprocessError):
        text = ""
    found = {}
    for key, pattern in (("version", version_pattern), ("simd", simd_pattern)):
        m = re.search(pattern, text) if pattern else None
        found[key] = m.group(1).strip() if m else "not reported"
    return found


# Ladders: the lowest rate the encoder allows up to visually lossless, so BD-rate finds an
# overlap with the neural methods' PSNR at every preset and the ladder covers their bpp range
# (0.05-0.13 bpp at the cpu preset).
_X26X = {"smoke": [51, 39, 27], "cpu": [51, 46, 41, 37, 33, 29, 25], "paper": [51, 45, 40, 36, 32, 28, 24, 20]}


#: x264's SIMD levels as its `asm=` cpu-flag lists. x264's frames depend on the level (AVX-512 and AVX2
#: differ even at one thread), so its bytes reproduce on another machine only at the same level:
#: `--set simd=avx2` pins it on any AVX2 CPU; "" = whatever the CPU has
X264_SIMD = {"avx512": "MMX2,SSE2Fast,SSSE3,SSE4.2,AVX,FMA3,BMI2,AVX2,AVX512",
             "avx2": "MMX2,SSE2Fast,SSSE3,SSE4.2,AVX,FMA3,BMI2,AVX2", "avx": "MMX2,SSE2Fast,SSSE3,SSE4.2,AVX",
             "sse4.2": "MMX2,SSE2Fast,SSSE3,SSE4.2", "sse2": "MMX2,SSE2Fast", "c": "0"}


class X264Method(FFmpegCodec):
    name = "x264"
    version = "2"  # 2: one encoder thread by default (was the core count: bytes depended on it)
    description = "H.264/AVC via libx264 (ffmpeg), BT.709 4:2:0, CRF ladder, preset medium, random access, 1 thread"
    encoder = "libx264"
    decoder = "h264"
    muxer = "h264"
    suffix = ".264"
    params_flag = "-x264-params"
    ladders = _X26X
    default_keyint = "250"
    version_pattern = r"x264 - (core \d+(?: r\d+ \w+)?)"
    simd_pattern = r"libx264 @ [^\]]*\] using cpu capabilities: ([^\n]+)"
    options: ClassVar[dict[str, Any]] = {**FFmpegCodec.options, "simd": ""}
    option_choices: ClassVar[dict[str, tuple[Any, ...]]] = {
        "preset": FFmpegCodec.presets, "tune": FFmpegCodec.tunes, "gop": GOPS, "simd": ("", *X264_SIMD)}

    @classmethod
    def base_params(cls, o: dict[str, Any]) -> list[str]:
        return [f"asm={X264_SIMD[o['simd']]}"] if o.get("simd") else []


class X265Method(FFmpegCodec):
    """info=0 drops x265's encoder-settings SEI (about 2 kB of text, no video). `threads` is the
    size of x265's thread pool (pools=N; ffmpeg's -threads does not reach it)."""

    name = "x265"
    version = "2"  # 2: a one-thread pool by default (was the core count)
    description = "H.265/HEVC via libx265 (ffmpeg), BT.709 4:2:0, CRF ladder, preset medium, random access, 1 thread"
    encoder = "libx265"
    decoder = "hevc"
    muxer = "hevc"
    suffix = ".265"
    params_flag = "-x265-params"
    ladders = _X26X
    tunes = ("", "psnr", "ssim", "grain", "fastdecode", "zerolatency", "animation")
    default_keyint = "250"
    version_pattern = r"HEVC encoder version (\S+)"
    simd_pattern = r"x265 \[info\]: using cpu capabilities: ([^\n]+)"

    @classmethod
    def base_params(cls, o: dict[str, Any]) -> list[str]:
        return ["log-level=error", "info=0"]

    @classmethod
    def gop_args(cls, o: dict[str, Any]) -> tuple[list[str], list[str]]:
        args, _ = super().gop_args({**o, "gop": "ra" if o["gop"] == "ld" else o["gop"]})
        return (args, ["bframes=0"]) if o["gop"] == "ld" else (args, [])

    @classmethod
    def thread_args(cls, threads: int) -> tuple[list[str], list[str]]:
        return ([], [f"pools={threads}"]) if threads else ([], [])


class SVTAV1Method(FFmpegCodec):
    name = "svtav1"
    version = "2"  # 2: one thread (lp=1) by default
    description = "AV1 via SVT-AV1 (ffmpeg), BT.709 4:2:0, CRF ladder, preset 8, random access, 1 thread"
    encoder = "libsvtav1"
    decoder = "libdav1d"
    muxer = "obu"
    suffix = ".obu"
    params_flag = "-svtav1-params"
    crf_range = (1, 63)
    ladders = {"smoke": [63, 50, 35], "cpu": [63, 57, 51, 45, 39, 33, 27], "paper": [63, 56, 49, 42, 35, 28, 21]}
    options: ClassVar[dict[str, Any]] = {"preset": "8", "tune": "", "crfs": [], "gop": "ra", "keyint": 0,
                                         "threads": 1}
    presets = tuple(str(i) for i in range(14))  # SVT-AV1 presets 0 (slowest) .. 13
    tunes = ("",)  # not passed to SVT-AV1
    default_keyint = "about 5 s"
    version_pattern = r"SVT \[version\]:\s*(SVT-AV1 Encoder Lib \S+)"
    simd_pattern = r"asm level selected : ([^\]]+)\]"

    @classmethod
    def base_params(cls, o: dict[str, Any]) -> list[str]:
        return ["verbosity=0"]

    @classmethod
    def encoder_args(cls, crf: int, o: dict[str, Any]) -> list[str]:
        return super().encoder_args(crf, {**o, "tune": ""})

    @classmethod
    def gop_args(cls, o: dict[str, Any]) -> tuple[list[str], list[str]]:
        keyint = int(o["keyint"])
        if o["gop"] == "ai":
            return [], ["keyint=1"]
        args = ["-g", str(keyint)] if keyint else []
        return (args, ["pred-struct=1"]) if o["gop"] == "ld" else (args, [])

    @classmethod
    def thread_args(cls, threads: int) -> tuple[list[str], list[str]]:
        return ([], [f"lp={threads}"]) if threads else ([], [])

    @classmethod
    def probe_args(cls) -> list[str]:
        return ["-c:v", cls.encoder, "-svtav1-params", "lp=1"]


class AOMMethod(FFmpegCodec):
    """libaom's good-quality mode in constant-quality (CRF, -b:v 0) rate control. `preset` is
    libaom's speed setting, cpu-used 0 (slowest, best) .. 8; libaom's own default is 1, which is
    very slow, so the default here is stated: 4."""

    name = "aom"
    description = ("AV1 via libaom (ffmpeg), BT.709 4:2:0, CRF ladder, speed cpu-used 4, random access "
                   "(alt-ref frames), 1 thread")
    encoder = "libaom-av1"
    decoder = "libdav1d"
    muxer = "obu"
    suffix = ".obu"
    crf_range = (0, 63)
    ladders = {"smoke": [63, 50, 35], "cpu": [63, 57, 51, 45, 40, 35, 30], "paper": [63, 56, 49, 42, 35, 28, 21]}
    options: ClassVar[dict[str, Any]] = {"preset": "4", "tune": "psnr", "crfs": [], "gop": "ra", "keyint": 0,
                                         "threads": 1}
    presets = tuple(str(i) for i in range(9))  # cpu-used
    tunes = ("psnr", "ssim")
    default_keyint = "9999 (+ scene cuts)"
    preset_word = "cpu-used"
    version_pattern = r"libaom-av1 @ [^\]]*\] (v\d+\.\d+\.\d+\S*)"

    @classmethod
    def encoder_args(cls, crf: int, o: dict[str, Any]) -> list[str]:
        args = ["-c:v", cls.encoder, "-cpu-used", str(o["preset"]), "-crf", str(crf), "-b:v", "0",
                "-tune", str(o["tune"])]
        g_args, _ = cls.gop_args(o)
        t_args, _ = cls.thread_args(int(o["threads"]))
        return args + g_args + t_args

    @classmethod
    def gop_args(cls, o: dict[str, Any]) -> tuple[list[str], list[str]]:
        keyint = int(o["keyint"])
        if o["gop"] == "ai":
            return ["-g", "0"], []  # kf-max-dist 0: every frame a key frame
        args = ["-g", str(keyint)] if keyint else []
        return (args + ["-lag-in-frames", "0"], []) if o["gop"] == "ld" else (args, [])

    @classmethod
    def probe_args(cls) -> list[str]:
        return ["-c:v", cls.encoder, "-cpu-used", "8", "-threads", "1"]


class VVenCMethod(FFmpegCodec):
    """Fraunhofer VVenC (H.266/VVC) through ffmpeg's libvvenc, decoded by ffmpeg's native vvc
    decoder. VVenC codes 10-bit (main_10): it gets the 8-bit planes times 4, and the decoded
    10-bit planes are rounded back to 8 bits. Constant QP (`crfs` are QPs), GOP 32; random access
    with an intra picture (CRA) every 32 frames by default, about 1 s as in the common test
    conditions; tune psnr switches VVenC's perceptual QP adaptation off (tune qpa keeps it)."""

    name = "vvenc"
    description = ("H.266/VVC via VVenC (ffmpeg libvvenc) + ffmpeg's vvc decoder, BT.709 4:2:0 10-bit, QP ladder, "
                   "preset medium, random access, intra period 32, 1 thread")
    quality_name = "QP (lower = better quality, more bits)"
    quality_flag = "-qp"
    encoder = "libvvenc"
    decoder = "vvc"
    muxer = "vvc"
    suffix = ".266"
    bit_depth = 10
    params_flag = "-vvenc-params"
    crf_range = (0, 63)
    ladders = {"smoke": [51, 42, 33], "cpu": [57, 51, 45, 39, 33, 28, 23], "paper": [57, 50, 44, 38, 32, 27, 22]}
    options: ClassVar[dict[str, Any]] = {"preset": "medium", "tune": "psnr", "crfs": [], "gop": "ra", "keyint": 32,
                                         "threads": 1}
    presets = ("faster", "fast", "medium", "slow", "slower")
    tunes = ("psnr", "qpa")
    default_keyint = "about 1 s"
    version_pattern = r"libvvenc version: (\S+)"

    @classmethod
    def encoder_args(cls, crf: int, o: dict[str, Any]) -> list[str]:
        args = ["-c:v", cls.encoder, "-preset", str(o["preset"]), "-qp", str(crf),
                "-qpa", "1" if o["tune"] == "qpa" else "0"]
        g_args, g_params = cls.gop_args(o)
        _, t_params = cls.thread_args(int(o["threads"]))
        params = g_params + t_params
        return args + g_args + ([cls.params_flag, ":".join(params)] if params else [])

    @classmethod
    def gop_args(cls, o: dict[str, Any]) -> tuple[list[str], list[str]]:
        keyint = int(o["keyint"])
        if o["gop"] == "ai":
            return [], ["IntraPeriod=1"]
        if o["gop"] == "ld":  # VVenC allows no intra refresh without picture reordering
            return [], ["PicReordering=0", "DecodingRefreshType=none", "GOPSize=8", "IntraPeriod=-1"]
        return [], [f"IntraPeriod={keyint}"] if keyint else []

    @classmethod
    def thread_args(cls, threads: int) -> tuple[list[str], list[str]]:
        return ([], [f"Threads={threads}"]) if threads else ([], [])

    @classmethod
    def probe_args(cls) -> list[str]:
        return ["-c:v", cls.encoder, "-preset", "faster", "-vvenc-params", "Threads=1"]

    @classmethod
    def intra_period(cls, o: dict[str, Any]) -> str:
        if o["gop"] == "ld":
            return "none (VVenC low delay: the first picture only)"
        return super().intra_period(o)

    @classmethod
    def intra_info(cls, bitstream: Path, showinfo_log: str) -> dict[str, Any]:
        """Counted from the NAL unit types (IDR/CRA/GDR slices; one slice per picture here): ffmpeg's
        vvc decoder flags the frame before each intra picture in display order instead."""
        return {"intra_frames": None, "intra_pictures": vvc_irap_count(bitstream.read_bytes())}


def vvc_irap_count(data: bytes) -> int:
    """Number of IRAP/GDR slice NAL units (types 7..10) in an Annex-B H.266 stream."""
    count, i = 0, data.find(b"\x00\x00\x01")
    while i >= 0 and i + 4 < len(data):
        if 7 <= (data[i + 4] >> 3) <= 10:
            count += 1
        i = data.find(b"\x00\x00\x01", i + 3)
    return count
