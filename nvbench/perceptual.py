"""Extra perceptual metrics on decoded frames: VMAF (ffmpeg's libvmaf) and LPIPS (AlexNet).

Both are optional: a missing libvmaf or missing AlexNet weights gives a field that says why
("unavailable: ...") with the fix, never a number from a substitute. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
LPIPS_FETCH = "python -c \"import torchvision; torchvision.models.alexnet(weights='IMAGENET1K_V1')\""


@functools.cache
def vmaf_available() -> bool:
    """Whether the bundled ffmpeg has libvmaf (asked once per process: a subprocess per point otherwise)."""
    from nvbench.data.ffmpeg import ffmpeg_exe

    try:
        out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-filters"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return " libvmaf " in out.stdout


def vmaf(reference: np.ndarray, distorted: np.ndarray, fps: float = 25.0, ref_yuv: Any = None,
         dist_yuv: Any = None) -> float | str:
    """Mean VMAF (libvmaf's default model) of uint8 RGB frames, both converted to 4:2:0 with
    nvbench.colour (or given as planes); or "unavailable: ..." when ffmpeg has no libvmaf."""
    from nvbench.colour import rgb_to_yuv420
    from nvbench.data.ffmpeg import ffmpeg_exe

    if not vmaf_available():
        return "unavailable: the bundled ffmpeg has no libvmaf"
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, frames, planes in (("dist", distorted, dist_yuv), ("ref", reference, ref_yuv)):
            Y, U, V = planes if planes is not None else rgb_to_yuv420(frames)
            p = Path(tmp) / f"{name}.yuv"
            with open(p, "wb") as fh:
                for i in range(Y.shape[0]):
                    fh.write(Y[i].tobytes() + U[i].tobytes() + V[i].tobytes())
            paths.append(p)
        h, w = Y.shape[1:]
        log = Path(tmp) / "vmaf.json"
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error"]
        for p in paths:
            cmd += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", str(p)]
        cmd += ["-lavfi", f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}:n_threads=2", "-f", "null", "-"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not log.is_file():
            return f"unavailable: libvmaf failed: {proc.stderr.strip()[-200:]}"
        return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


def lpips_unavailable() -> str | None:
    """None when LPIPS can run with real AlexNet weights from the torch hub cache, else why."""
    import importlib.util

    if importlib.util.find_spec("lpips") is None:
        return "unavailable: lpips is not installed (pip install lpips)"
    import torch

    if not (Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE).is_file():
        return f"unavailable: no AlexNet weights (fetch online: {LPIPS_FETCH})"
    return None


def lpips_model(pnet_rand: bool = False) -> Any:
    """lpips.LPIPS(net='alex'); pnet_rand=True uses a random backbone (tests only: such numbers
    never reach a report)."""
    import lpips

    return lpips.LPIPS(net="alex", pnet_rand=pnet_rand, verbose=False).eval()


def lpips_score(reference: np.ndarray, distorted: np.ndarray, model: Any = None, batch: int = 8) -> float | str:
    """Mean LPIPS over frames (uint8 RGB); "unavailable: ..." without real weights unless a
    model is given."""
    import torch

    if model is None:
        reason = lpips_unavailable()
        if reason:
            return reason
        model = lpips_model()
    vals = []
    with torch.inference_mode():
        for s in range(0, len(reference), batch):
            a = torch.from_numpy(np.ascontiguousarray(reference[s : s + batch])).permute(0, 3, 1, 2).float() / 127.5 - 1
            b = torch.from_numpy(np.ascontiguousarray(distorted[s : s + batch])).permute(0, 3, 1, 2).float() / 127.5 - 1
            vals.append(model(a, b).flatten())
    return float(torch.cat(vals).mean())
