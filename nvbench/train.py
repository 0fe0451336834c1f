"""The one training loop every neural method shares.

Schedule (warm-up + cosine, per iteration, over epochs or over a wall-clock budget), loss,
seed, device, evaluation cadence, atomic checkpoints with exact resume, divergence detection
and per-epoch callbacks (progress, convergence curves).
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nvbench.recipe import Recipe
from nvbench.safeload import load_checkpoint
from nvbench.threads import calibrate, wants_calibration


def pick_device(name: str | None = None) -> torch.device:
    """'auto' (or None) -> cuda, then mps, then cpu."""
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class FrameSource:
    """uint8 frames (T,H,W,3) handed out as batches on the training device.

    Small videos are copied once to the device as uint8 (T,3,H,W); large ones stay
    memory-mapped and are gathered per batch. Floats exist only per batch.
    """

    def __init__(self, frames: np.ndarray, device: torch.device, channels_last: bool = True,
                 resident_limit_bytes: int = 1 << 30):
        self.frames = frames
        self.device = device
        self.channels_last = channels_last
        self.num_frames, self.height, self.width = (int(x) for x in frames.shape[:3])
        self._resident: torch.Tensor | None = None
        if frames.nbytes <= resident_limit_bytes:
            t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()
            self._resident = t.to(device)

    def uint8(self, idx: torch.Tensor) -> torch.Tensor:
        if self._resident is not None:
            return self._resident[idx.to(self._resident.device)]
        order = np.asarray(idx.cpu().numpy())
        # numpy gathers the frames in the requested order straight from the memory map; a torch
        # uint8 re-index of the batch afterwards was ~7x slower at 1080p (tests/test_data_bench.py)
        batch = torch.from_numpy(np.ascontiguousarray(self.frames[order]))
        if self.device.type == "cuda":
            batch = batch.pin_memory()
        return batch.permute(0, 3, 1, 2).to(self.device, non_blocking=True)

    def float(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.uint8(idx).float().div_(255.0)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def compute_loss(kind: str, pred: torch.Tensor, target: torch.Tensor,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """'l2': MSE; 'l1'; 'fusion6': 0.7*L1 + 0.3*(1-SSIM) (NeRV's loss). `weight` (B,1,H,W) in
    {0,1} restricts the loss to known pixels (inpainting)."""
    if weight is not None:
        w = weight.expand_as(pred)
        denom = w.sum().clamp_min(1.0)
        if kind == "l2":
            return (((pred - target) ** 2) * w).sum() / denom
        l1 = ((pred - target).abs() * w).sum() / denom
        if kind == "l1":
            return l1
        pred, target = pred * w, target * w
    elif kind == "l2":
        return F.mse_loss(pred, target)
    else:
        l1 = F.l1_loss(pred, target)
        if kind == "l1":
            return l1
    if kind == "fusion6":  # pytorch-msssim's SSIM with a hand-written backward (nvbench.ssim_autograd)
        from nvbench.ssim_autograd import ssim

        return 0.7 * l1 + 0.3 * (1.0 - ssim(pred.float(), target.float(), data_range=1.0))
    if kind == "fusion10_freq":
        return fusion10_freq(pred, target, l1)
    if kind == "l1_msssim5":
        return l1_msssim5(pred, target, l1)
    raise ValueError(f"unknown loss {kind!r} (known: l2, l1, fusion6, fusion10_freq, l1_msssim5)")


def msssim_loss_window(height: int, width: int, wanted: int) -> int:
    """The MS-SSIM window a loss asks for, or, where the frame (or patch) is too small for it
    (pytorch-msssim needs a short side above (win-1)*16), the window evaluation takes there
    (nvbench.metrics.ms_ssim_window)."""
    from nvbench.metrics import ms_ssim_window

    if min(height, width) > (wanted - 1) * 16:
        return wanted
    win = ms_ssim_window(height, width)
    if win is None:
        raise ValueError(f"MS-SSIM needs a short side above 32 px, got {height}x{width}")
    return min(win, wanted)


def l1_msssim5(pred: torch.Tensor, target: torch.Tensor, l1: torch.Tensor) -> torch.Tensor:
    """HiNeRV's loss: 0.7*L1 + 0.3*(1 - MS-SSIM) with a 5x5 window (msssim_loss_window below 65 px)."""
    from pytorch_msssim import ms_ssim

    win = msssim_loss_window(pred.shape[-2], pred.shape[-1], 5)
    ms = ms_ssim(pred.float(), target.float(), data_range=1.0, size_average=True, win_size=win)
    return 0.7 * l1 + 0.3 * (1.0 - ms)


def fusion10_freq(pred: torch.Tensor, target: torch.Tensor, l1: torch.Tensor) -> torch.Tensor:
    """HNeRV-Boost's loss: 60*(0.7*L1 + 0.3*(1-MS-SSIM)) + mean |FFT2(pred) - FFT2(target)| over the
    real and imaginary parts (unnormalised FFT, as torch.fft.fft2's default). MS-SSIM takes its
    window from the frame size as evaluation does (nvbench.metrics.ms_ssim_window: 11 above a
    160 px short side, 7 above 96, 3 above 32)."""
    from pytorch_msssim import ms_ssim

    from nvbench.metrics import ms_ssim_window

    win = ms_ssim_window(pred.shape[-2], pred.shape[-1])
    if win is None:
        raise ValueError(f"fusion10_freq: MS-SSIM needs a short side above 32 px, frames are {tuple(pred.shape[-2:])}")
    ms = ms_ssim(pred.float(), target.float(), data_range=1.0, size_average=True, win_size=win)
    spectrum = torch.view_as_real(torch.fft.fft2(pred.float()))
    freq = F.l1_loss(spectrum, torch.view_as_real(torch.fft.fft2(target.float())))
    return 60.0 * (0.7 * l1 + 0.3 * (1.0 - ms)) + freq


def patch_side(model: torch.nn.Module, recipe: Recipe, height: int, width: int) -> tuple[int, int] | None:
    """The crop (ph, pw) a recipe trains on, None for whole frames: recipe.patch N > 0 means N x N,
    -1 the model's own `train_patch` (e.g. HiNeRV's 2x the product of its strides)."""
    want = int(getattr(recipe, "patch", 0) or 0)
    if want == 0:
        return None
    ph, pw = (want, want) if want > 0 else tuple(getattr(model, "train_patch", (height, width)))
    if height % ph or width % pw:
        raise ValueError(f"patch {ph}x{pw} does not tile {height}x{width} frames")
    return None if (ph, pw) == (height, width) else (int(ph), int(pw))


def crop_patches(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """(B,C,H,W) -> the (B,C,ph,pw) patch at grid cell (rows[b], cols[b]) of each frame."""
    b, c, h, w = x.shape
    grid = x.reshape(b, c, h // ph, ph, w // pw, pw).permute(0, 2, 4, 1, 3, 5)
    return grid[torch.arange(b, device=x.device), rows.to(x.device), cols.to(x.device)]


@dataclass
class TrainSettings:
    epochs: int
    recipe: Recipe
    seed: int = 1
    train_indices: Sequence[int] | None = None  # None: every frame
    eval_epochs: Iterable[int] = ()  # 1-based epochs at which `evaluate` is called
    budget_seconds: float | None = None  # lay the schedule over wall-clock time instead of epochs
    checkpoint: Path | None = None  # resume from / write to this file
    checkpoint_every: int = 5  # epochs
    channels_last: bool = True
    amp: str | None = None  # None | "bf16" | "fp16"
    collapse_db: float = 10.0  # a drop of train PSNR this far below the best counts as divergence
    stall_db: float = 0.5  # a run of >= 20 epochs that gained less than this by half-way is stuck
    input_transform: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  # (frames, idx)
    loss_weight: Callable[[torch.Tensor], torch.Tensor] | None = None  # idx -> (B,1,H,W)


@dataclass
class TrainResult:
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per epoch
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    epochs_done: int = 0
    steps: int = 0
    status: str = "ok"  # ok | diverged
    reason: str = ""
    resumed_from: int = 0
    threads: dict[str, Any] | None = None  # the thread calibration (nvbench/threads.py): timing provenance


def _stalled(history: list[dict[str, Any]], settings: TrainSettings) -> bool:
    """A run stuck at its early quality (e.g. a constant grey output) is as useless as a NaN.
    Checked once, half-way through a schedule of at least 20 epochs: stuck when the best train
    PSNR so far is less than `stall_db` above the PSNR at 10% of the schedule."""
    if settings.budget_seconds is not None or settings.epochs < 20 or not history:
        return False
    if history[-1]["epoch"] != settings.epochs // 2:
        return False
    early = history[max(1, settings.epochs // 10) - 1]["train_psnr"]
    return max(h["train_psnr"] for h in history) - early < settings.stall_db


def _autocast(device: torch.device, amp: str | None):
    if not amp:
        return torch.autocast(device.type, enabled=False)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return torch.autocast(device.type, dtype=dtype)


def with_autocast(decode: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
                  amp: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """`decode(idx)` under the same mixed precision as training, returning float32 frames
    (metrics and 8-bit rounding run in float32); float32 decoding is `decode` itself."""
    if not amp:
        return decode

    def run(idx: torch.Tensor) -> torch.Tensor:
        with _autocast(device, amp):
            return decode(idx).float()

    return run


def make_optimizer(model: torch.nn.Module, recipe: Recipe, device: torch.device) -> torch.optim.Optimizer:
    """The recipe's Adam. Fused (one kernel over all parameters) where torch has it: the same
    update, measured 3.5x faster than the per-tensor loop for HNeRV's 79 tensors on the CPU
    (2.7 -> 0.76 ms a step, 5% of a 94k step)."""
    if getattr(recipe, "optimizer", "adam") == "adan":  # HNeRV-Boost's optimiser (torch has none)
        from nvbench.optim import Adan

        return Adan(model.parameters(), lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
    fused = True if device.type in ("cpu", "cuda") else None
    return torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=recipe.betas,
                            weight_decay=recipe.weight_decay, fused=fused)


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _calibrate_threads(model: torch.nn.Module, opt: torch.optim.Optimizer, one_step: Callable, units: torch.Tensor,
                       bs: int, nw: int | None, max_threads: int, lr: float, max_steps: int) -> dict[str, Any]:
    """Pick the thread count by timing real steps on the first batch (nvbench/threads.py), then put
    the model, the optimiser and the RNG back exactly as they were: training starts untouched."""
    model_state = copy.deepcopy(model.state_dict())
    opt_state = copy.deepcopy(opt.state_dict())
    rng = torch.get_rng_state()
    idx = units[:bs]
    rows = cols = None
    if nw is not None:
        idx, rows, cols = idx[:, 0], idx[:, 1] // nw, idx[:, 1] % nw
    try:
        cal = calibrate(lambda: one_step(idx, rows, cols, 0.0, lr), max_threads, torch.set_num_threads,
                        max_steps=max_steps)
    finally:
        model.load_state_dict(model_state)
        opt.load_state_dict(opt_state)
        opt.zero_grad(set_to_none=True)
        torch.set_rng_state(rng)
    return cal.summary()


def train(
    model: torch.nn.Module,
    source: FrameSource,
    settings: TrainSettings,
    callbacks: Sequence[Callable[[dict[str, Any]], None]] = (),
    evaluate: Callable[[torch.nn.Module, int], dict[str, Any]] | None = None,
) -> TrainResult:
    """Train `model` on `source`. Each epoch's log (epoch, loss, train_psnr, lr, seconds,
    elapsed, eta; `rate` for a model with a rate term) goes to every callback; a model may define
    `rate_term() -> Tensor | None` (called after each forward, added to the loss as it is, so
    already weighted) and `on_progress(fraction)` (called before each forward with the fraction of
    the schedule done); a recipe with `grad_clip > 0` clips the global gradient norm. At
    `eval_epochs`, `evaluate(model, epoch)` runs (its time is not counted as training) and its
    result is added to the log."""
    device = source.device
    recipe = settings.recipe
    if device.type == "cuda":  # fixed shapes: let cuDNN pick the fastest kernels once
        torch.backends.cudnn.benchmark = True
    seed_everything(settings.seed)
    model.to(device)
    if settings.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, recipe, device)
    scaler = torch.amp.GradScaler(device.type, enabled=settings.amp == "fp16")
    indices = torch.as_tensor(
        list(settings.train_indices) if settings.train_indices is not None else range(source.num_frames)
    )
    if len(indices) == 0:
        raise ValueError("the training split is empty")
    bs = min(recipe.batch_size, len(indices))
    steps_per_epoch = len(indices) // bs  # drop_last, as the official loaders do
    # patch batches (recipe.patch): the unit of a batch is a crop of a frame; an epoch visits every
    # crop of every training frame once and a step takes `bs` frames' worth of crops (HiNeRV's
    # loader), so steps and schedule are those of whole frames
    patch = patch_side(model, recipe, source.height, source.width)
    if patch is not None:
        nh, nw = source.height // patch[0], source.width // patch[1]
        cells = torch.arange(nh * nw)
        units = torch.stack([indices.repeat_interleave(nh * nw), cells.repeat(len(indices))], 1)
        bs = bs * nh * nw
        forward_patches = getattr(model, "forward_patches", None)
    total_steps = steps_per_epoch * settings.epochs
    gen = torch.Generator().manual_seed(settings.seed)
    result = TrainResult()
    eval_epochs = set(settings.eval_epochs)
    hybrid = getattr(model, "hybrid", False)
    # optional hooks any method may define (the NeRV family defines none): a rate term added to the
    # loss (e.g. lambda * bits per pixel of entropy-coded latents) and the fraction of training done
    # (annealing of soft-rounding, noise or quantisers)
    rate_term = getattr(model, "rate_term", None)
    on_progress = getattr(model, "on_progress", None)
    grad_clip = float(getattr(recipe, "grad_clip", 0.0) or 0.0)  # global gradient-norm clip; 0 = none
    plain_mse = recipe.loss == "l2" and settings.loss_weight is None

    def one_step(idx: torch.Tensor, rows: torch.Tensor | None, cols: torch.Tensor | None, progress: float,
                 lr: float) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """One optimiser step on the batch `idx` (crops at rows/cols with patch batches)."""
        for g in opt.param_groups:
            g["lr"] = lr
        if on_progress is not None:
            on_progress(progress)
        target = source.float(idx)
        inputs = settings.input_transform(target, idx) if settings.input_transform else target
        weight = settings.loss_weight(idx).to(device) if settings.loss_weight else None
        with _autocast(device, settings.amp):
            if patch is not None and forward_patches is not None and not hybrid:
                pred = forward_patches(idx.to(device), rows, cols, patch)
            else:
                pred = model(idx.to(device), inputs if hybrid else None)
                pred = crop_patches(pred, rows, cols, *patch) if patch is not None else pred
        pred = pred.float()
        if patch is not None:
            target = crop_patches(target, rows, cols, *patch)
            weight = crop_patches(weight, rows, cols, *patch) if weight is not None else None
        loss = compute_loss(recipe.loss, pred, target, weight)
        rate = rate_term() if rate_term is not None else None
        if rate is not None:
            loss = loss + rate
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip > 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(opt)
        scaler.update()
        return loss, rate, pred, target

    start_epoch, elapsed = 0, 0.0
    state = load_checkpoint(settings.checkpoint, device)  # tensors and plain data only (nvbench/safeload.py)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, elapsed = state["epoch"], state["elapsed"]
        result.history, result.evaluations = state["history"], state["evaluations"]
        result.resumed_from = start_epoch

    max_threads = wants_calibration(device.type) if not scaler.is_enabled() else None
    if max_threads is not None:
        result.threads = _calibrate_threads(model, opt, one_step, units if patch is not None else indices, bs,
                                            nw if patch is not None else None, max_threads, recipe.lr_at(0.0),
                                            max_steps=max(8, total_steps // 50))  # at most ~2 % of the steps
    step = start_epoch * steps_per_epoch
    best_psnr = max((h["train_psnr"] for h in result.history), default=-math.inf)
    epoch = start_epoch
    while True:
        if settings.budget_seconds is None and epoch >= settings.epochs:
            break
        if settings.budget_seconds is not None and elapsed >= settings.budget_seconds:
            break
        model.train()
        t0 = time.perf_counter()
        perm = (units if patch is not None else indices)[torch.randperm(
            len(units) if patch is not None else len(indices), generator=gen)]
        loss_sum = torch.zeros((), device=device)
        mse_sum = torch.zeros((), device=device)
        rate_sum = torch.zeros((), device=device)
        for b in range(steps_per_epoch):
            idx = perm[b * bs : (b + 1) * bs]
            rows = cols = None
            if patch is not None:
                idx, rows, cols = idx[:, 0], idx[:, 1] // nw, idx[:, 1] % nw
            if settings.budget_seconds is not None:
                progress = (elapsed + time.perf_counter() - t0) / settings.budget_seconds
                if progress >= 1.0:
                    break
            else:
                progress = step / max(1, total_steps)
            lr = recipe.lr_at(progress)
            loss, rate, pred, target = one_step(idx, rows, cols, progress, lr)
            if rate is not None:
                rate_sum += rate.detach()
            loss_sum += loss.detach()
            # an unweighted L2 loss is the batch's MSE itself: the same value without a second pass
            mse_sum += loss.detach() if plain_mse and rate is None else F.mse_loss(pred.detach(), target)
            step += 1
        else:
            b = steps_per_epoch
        done = max(1, b if settings.budget_seconds is not None else steps_per_epoch)
        loss_val = float(loss_sum) / done
        seconds = time.perf_counter() - t0
        elapsed += seconds
        epoch += 1
        train_psnr = -10 * math.log10(max(float(mse_sum) / done, 1e-12))
        if settings.budget_seconds is not None:
            eta = max(0.0, settings.budget_seconds - elapsed)
            total_epochs = None
        else:
            eta = elapsed / (epoch - start_epoch) * (settings.epochs - epoch) if epoch > start_epoch else 0.0
            total_epochs = settings.epochs
        log = {"epoch": epoch, "epochs": total_epochs, "loss": loss_val, "train_psnr": train_psnr, "lr": lr,
               "seconds": seconds, "elapsed": elapsed, "eta": eta}
        if rate_term is not None:
            log["rate"] = float(rate_sum) / done  # the mean rate term of the epoch (included in `loss`)
        result.history.append(log)
        if not math.isfinite(loss_val):
            result.status, result.reason = "diverged", f"loss is {loss_val} at epoch {epoch}"
        elif epoch > 3 and train_psnr < best_psnr - settings.collapse_db:
            result.status = "diverged"
            result.reason = f"train PSNR collapsed to {train_psnr:.2f} dB at epoch {epoch} (best {best_psnr:.2f})"
        elif _stalled(result.history, settings):
            result.status = "diverged"
            result.reason = (f"training stalled: best train PSNR {max(best_psnr, train_psnr):.2f} dB at epoch "
                             f"{epoch}, less than {settings.stall_db:g} dB above the 10% point of the schedule")
        best_psnr = max(best_psnr, train_psnr)
        last = settings.budget_seconds is not None and elapsed >= settings.budget_seconds
        if evaluate is not None and result.status == "ok" and (epoch in eval_epochs or (last and eval_epochs)):
            model.eval()
            ev = evaluate(model, epoch)
            ev = {"epoch": epoch, "elapsed": elapsed, **ev}
            result.evaluations.append(ev)
            log["eval"] = ev
        for cb in callbacks:
            cb(log)
        if result.status != "ok":
            break
        if settings.checkpoint is not None and epoch % max(1, settings.checkpoint_every) == 0:
            _atomic_save(
                {"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                 "torch_rng": torch.get_rng_state(), "epoch": epoch, "elapsed": elapsed,
                 "history": result.history, "evaluations": result.evaluations},
                settings.checkpoint,
            )
    if max_threads is not None:  # decoding and evaluation after training run at the worker's count
        torch.set_num_threads(max_threads)
    result.train_seconds = elapsed
    result.epochs_done = epoch
    result.steps = step
    model.eval()
    return result
