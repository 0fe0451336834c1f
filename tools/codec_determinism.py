"""Which codecs' bytes change with the encoder thread count and with their SIMD switch.

Re-encodes Bunny at the cpu preset (160x320, 132 frames, the compression task's own frames and
colour path) at one mid-ladder quality per codec, with threads 1, 2, 4 and 0 (the encoder's own
choice from the core count) and with its SIMD level lowered, and prints the stream sizes and
whether the bytes are identical to the default (1 thread, full SIMD). x264's lines also show the
AVX2-vs-AVX-512 question behind the committed leaderboard's bytes.

    python tools/codec_determinism.py [--codecs x264,x265,svtav1,aom,vvenc] [--frames 132]

SIMD switches: x264 `asm=<cpu flags>` (x264-params), x265 `asm=<level>`, SVT-AV1 `asm=<level>`,
libaom the AOM_SIMD_CAPS_MASK environment variable (bit mask; 0 = C only). VVenC chooses its SIMD
level only through its own command-line tool, not through ffmpeg, so it has no switch here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

X264_AVX2 = "MMX2,SSE2Fast,SSSE3,SSE4.2,AVX,FMA3,BMI2,AVX2"
SIMD = {  # codec -> [(label, extra encoder params, extra environment)]
    "x264": [("AVX2 (no AVX-512)", [f"asm={X264_AVX2}"], {}), ("SSE2 only", ["asm=MMX2,SSE2Fast"], {}),
             ("C (asm=0)", ["asm=0"], {})],
    "x265": [("AVX-512", ["asm=avx512"], {}), ("SSE4.2", ["asm=sse4.2"], {}), ("C (asm=0)", ["asm=0"], {})],
    "svtav1": [("AVX2", ["asm=avx2"], {}), ("SSE4.1", ["asm=sse4_1"], {}), ("C", ["asm=c"], {})],
    "aom": [("no AVX2 (mask 0x7f)", [], {"AOM_SIMD_CAPS_MASK": "0x7f"}),
            ("C (mask 0)", [], {"AOM_SIMD_CAPS_MASK": "0"})],
    "vvenc": [],
}
QUALITY = {"x264": 33, "x265": 33, "svtav1": 45, "aom": 45, "vvenc": 39}


def comparable(data: bytes) -> bytes:
    """The stream without x264's settings text (it names the thread count, so it always differs)."""
    return re.sub(rb"x264 - core[^\x00]*", b"", data)


def bunny_frames(frames: int):
    from nvbench.expand import RunRequest, expand
    from nvbench.jobrun import load_video

    job = expand(RunRequest(methods=["x264"], tasks=["compression"], preset="cpu"))[0]
    return load_video(job).frames[:frames]


def encode(method, frames, quality, threads, params, env, workdir):
    class Probe(method):  # the plugin's own command, plus the SIMD parameter
        @classmethod
        def base_params(cls, o):
            return super().base_params(o) + list(params)

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        t0 = time.perf_counter()
        path = Probe.encode(frames, quality, workdir, {"threads": threads})
        secs = time.perf_counter() - t0
        rgb = method.decode(path, frames.shape[:3], workdir, {}).rgb
        return path.read_bytes(), hashlib.sha256(rgb.tobytes()).hexdigest(), secs
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def main() -> int:
    from nvbench import registry

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codecs", default="x264,x265,svtav1,aom,vvenc")
    ap.add_argument("--frames", type=int, default=132)
    args = ap.parse_args()
    frames = bunny_frames(args.frames)
    print(f"Bunny cpu preset, {frames.shape[0]} frames of {frames.shape[1]}x{frames.shape[2]}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.codecs.split(","):
            m = registry.methods.get(name)
            if m.unavailable_reason():
                print(f"{name}: {m.unavailable_reason()}")
                continue
            q = QUALITY[name]
            ref, ref_frames, t_ref = encode(m, frames, q, 1, [], {}, tmp)
            digest = hashlib.sha256(ref).hexdigest()[:12]
            print(f"{name} q{q} ({m.encoder_info()['version']}; SIMD {m.encoder_info()['simd']}): "
                  f"1 thread {len(ref):,} B ({digest}, {t_ref:.1f} s)")
            cases = [(f"{t} threads" if t else "threads 0 (auto)", t, [], {}) for t in (2, 4, 0)]
            cases += [(f"1 thread, {label}", 1, p, e) for label, p, e in SIMD[name]]
            cases += [(f"auto threads, {label}", 0, p, e) for label, p, e in SIMD[name][:1] if name == "x264"]
            for label, threads, params, env in cases:
                data, got_frames, secs = encode(m, frames, q, threads, params, env, tmp)
                same = ("same bytes" if data == ref else "same bytes but x264's settings text"
                        if comparable(data) == comparable(ref) else f"DIFFERENT ({len(data) - len(ref):+d} B)")
                same += ", same frames" if got_frames == ref_frames else ", different frames"
                print(f"    {label:<32} {len(data):>8,} B  {same}  ({secs:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
