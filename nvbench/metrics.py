"""Quality metrics, computed the same way for every method.

`psnr` is the mean of per-frame PSNR on the output rounded to 8 bits (what a user sees);
`psnr_float` is the same on the unrounded output (what the papers printed) and `psnr_pooled`
comes from the MSE pooled over the whole video. MS-SSIM is pytorch-msssim's (computed bit for bit,
faster, by nvbench.msssim) with its Gaussian window: 11x11 where the short side exceeds 160 px,
smaller windows below that (recorded).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch


def psnr_from_mse(mse: float, peak: float = 1.0) -> float:
    return float("inf") if mse <= 0 else 10.0 * math.log10(peak * peak / mse)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0,1] float -> uint8 with rounding (what a decoded frame file holds)."""
    return (x.clamp(0, 1) * 255.0).round_().to(torch.uint8)


def ms_ssim_window(height: int, width: int) -> int | None:
    """Gaussian window for MS-SSIM: 11 above 160 px short side, 7 above 96, 3 above 32
    (pytorch-msssim needs short side > (win-1)*16 for its five scales)."""
    short = min(height, width)
    for win, need in ((11, 160), (7, 96), (3, 32)):
        if short > need:
            return win
    return None


@dataclass
class QualityAccumulator:
    """Streams batches of (prediction, ground truth) and gives the video's metrics."""

    with_ms_ssim: bool = True
    psnr_frames: list[float] = field(default_factory=list)
    psnr_float_frames: list[float] = field(default_factory=list)
    ms_ssim_frames: list[float] = field(default_factory=list)
    _sse: float = 0.0
    _count: int = 0
    window: int | None = None

    def add(self, pred: torch.Tensor, gt_uint8: torch.Tensor, region: torch.Tensor | None = None) -> None:
        """pred: (B,3,H,W) float in [0,1]; gt_uint8: (B,3,H,W) uint8. `region` (B,1,H,W) bool
        restricts PSNR to those pixels (e.g. the masked region of inpainting)."""
        gt = gt_uint8.to(pred.device, torch.float32) / 255.0
        pred = pred.float()
        rounded = to_uint8(pred).float() / 255.0
        if region is not None:
            w = region.to(pred.device, torch.float32).expand_as(pred)
            n = w.flatten(1).sum(1).clamp_min(1)
            mse_r = (((rounded - gt) ** 2) * w).flatten(1).sum(1) / n
            mse_f = (((pred.clamp(0, 1) - gt) ** 2) * w).flatten(1).sum(1) / n
            self._sse += float((((rounded - gt) ** 2) * w).sum())
            self._count += int(w.sum())
        else:
            mse_r = ((rounded - gt) ** 2).flatten(1).mean(1)
            mse_f = ((pred.clamp(0, 1) - gt) ** 2).flatten(1).mean(1)
            self._sse += float(((rounded - gt) ** 2).sum())
            self._count += rounded.numel()
        self.psnr_frames += [psnr_from_mse(m) for m in mse_r.tolist()]
        self.psnr_float_frames += [psnr_from_mse(m) for m in mse_f.tolist()]
        if self.with_ms_ssim and region is None:
            self.window = ms_ssim_window(pred.shape[-2], pred.shape[-1])
            if self.window is not None:  # pytorch-msssim's values, bit for bit (nvbench/msssim.py)
                from nvbench.msssim import ms_ssim_frames

                vals = ms_ssim_frames(rounded, gt, self.window)
                self.ms_ssim_frames += vals.tolist()

    def result(self, prefix: str = "") -> dict[str, float | int | None]:
        def mean(v: list[float]) -> float | None:
            finite = [x for x in v if math.isfinite(x)]
            return sum(finite) / len(finite) if finite else (float("inf") if v else None)

        out: dict[str, float | int | None] = {
            f"{prefix}psnr": mean(self.psnr_frames),
            f"{prefix}psnr_float": mean(self.psnr_float_frames),
            f"{prefix}psnr_pooled": psnr_from_mse(self._sse / self._count) if self._count else None,
        }
        if self.with_ms_ssim and not prefix:
            out["ms_ssim"] = mean(self.ms_ssim_frames)
            out["ms_ssim_window"] = self.window
        return out


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":  # pragma: no cover - Apple only
        torch.mps.synchronize()


def measure_fps(
    decode: Callable[[torch.Tensor], torch.Tensor],
    frames: int,
    device: torch.device,
    batch_size: int = 8,
    warmup: int = 2,
    min_seconds: float = 0.5,
) -> float:
    """Frames per second of `decode(idx)` over all frames in batches, after warm-up batches,
    with device synchronisation; repeats full passes until `min_seconds` have elapsed."""
    batches = [torch.arange(s, min(frames, s + batch_size)) for s in range(0, frames, batch_size)]
    with torch.inference_mode():
        for b in batches[:warmup]:
            decode(b)
        synchronize(device)
        done, start = 0, time.perf_counter()
        while True:
            for b in batches:
                decode(b)
                done += len(b)
            synchronize(device)
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                return done / elapsed
