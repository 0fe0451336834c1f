"""`nvbench decode FILE -o DIR`: rebuild the frames of a .nvb file from the file alone."""

from __future__ import annotations

import argparse
import hashlib
import subprocess
from pathlib import Path
from typing import Any


def write_frames(frames: Any, out: Path, fmt: str) -> list[Path]:
    """PNG (lossless RGB, via the bundled ffmpeg) or one frames.npy (uint8 T,H,W,3)."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    if fmt == "npy":
        path = out / "frames.npy"
        np.save(path, frames)
        return [path]
    from nvbench.data.ffmpeg import ffmpeg_exe

    t, h, w = frames.shape[:3]
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-i", "-", "-start_number", "0", str(out / "%05d.png")]
    proc = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), capture_output=True)
    if proc.returncode != 0:
        from nvbench.errors import NvbenchError

        raise NvbenchError(f"writing PNG frames to {out} failed: {proc.stderr.decode(errors='replace')[-300:]}")
    return [out / f"{i:05d}.png" for i in range(t)]


def cmd_decode(args: argparse.Namespace) -> int:
    from nvbench.checks import disk_errors

    return disk_errors("the decoded frames")(_decode)(args)


def _decode(args: argparse.Namespace) -> int:
    from nvbench import checks
    from nvbench.compress.nvb import timed_decode

    checks.existing_file("decode", args.file)
    checks.int_at_least("--threads", args.threads, 1)
    checks.check_device("--device", args.device)
    checks.writable_folder("--output", args.output, create=True)
    limit = None
    if args.max_output is not None:
        from nvbench.compress.bounds import parse_bytes

        try:
            limit = parse_bytes(args.max_output)
        except (ValueError, IndexError):
            raise checks.CheckError(f"--max-output {args.max_output}: expected a size like 4G or 500M") from None
    frames, setup, seconds = timed_decode(args.file, args.device, threads=args.threads, max_output_bytes=limit)
    paths = write_frames(frames, Path(args.output), args.format)
    digest = hashlib.sha256(frames.tobytes()).hexdigest()
    t, h, w = frames.shape[:3]
    print(f"{args.file}: {t} frames {h}x{w}; rebuilt the decoder in {setup:.2f} s, decoded in {seconds:.2f} s "
          f"({t / seconds if seconds > 0 else float('inf'):.1f} fps)")
    print(f"frames sha256 {digest}")
    print(f"wrote {len(paths)} file(s) to {args.output}/")
    return 0


def register(sub: Any) -> None:
    from nvbench.compress.nvb import REFERENCE_THREADS

    p = sub.add_parser("decode", help="decode a .nvb file (from the file alone) to PNG frames or .npy")
    p.add_argument("file", help="a .nvb file written by the compression task")
    p.add_argument("-o", "--output", required=True, help="folder for the decoded frames")
    p.add_argument("--format", choices=["png", "npy"], default="png", help="PNG frames (default) or frames.npy")
    p.add_argument("--device", default="cpu", help="cpu, cuda, ... (default cpu)")
    p.add_argument("--threads", type=int, default=REFERENCE_THREADS,
                   help=f"torch threads (default {REFERENCE_THREADS}: the reference decode the compression task "
                        "scores; other counts can change the last bit of some pixels)")
    p.add_argument("--max-output", metavar="BYTES",
                   help="refuse a file that decodes to more than this (e.g. 4G; default: $NVBENCH_DECODE_LIMIT, "
                        "else the memory available)")
    p.set_defaults(func=cmd_decode)
