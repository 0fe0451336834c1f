"""Training recipes: loss, optimiser, learning-rate schedule and batch size.

Every method trains with its own paper's recipe by default; `shared` trains every method with
HNeRV's protocol so that architectures compare under equal conditions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from nvbench.errors import UnknownNameError


@dataclass(frozen=True)
class Recipe:
    name: str
    loss: str  # "l2" | "fusion6" (0.7*L1 + 0.3*(1-SSIM)) | "fusion10_freq" (HNeRV-Boost's, nvbench.train)
    lr: float
    betas: tuple[float, ...]  # Adam: 2; Adan: 3
    warmup: float  # fraction of training spent on the linear warm-up from 0.1*lr
    batch_size: int
    weight_decay: float = 0.0
    optimizer: str = "adam"  # "adam" | "adan" (nvbench.optim)
    # HiNeRV's additions (defaults: the NeRV-family form above, left out of to_dict so the train
    # keys of the recipes before them are unchanged)
    schedule: str = "nerv"  # "nerv": lr_at's form | "timm": timm's CosineLRScheduler (HiNeRV)
    warmup_start: float = 0.1  # "timm": warm-up from this fraction of lr
    min_lr: float = 0.0  # "timm": cosine floor, as a fraction of lr
    patch: int = 0  # crops of frames as the unit of a batch: 0 = whole frames, -1 = the model's own
    #               # train_patch, N = N x N (nvbench.train.patch_side)
    grad_clip: float = 0.0  # global gradient-norm clip; 0 = none

    def lr_at(self, progress: float) -> float:
        """Learning rate at training progress p in [0, 1): warm-up then cosine to 0
        (the form shared by the NeRV, E-NeRV and HNeRV code, updated per iteration)."""
        p = min(max(progress, 0.0), 1.0)
        if self.schedule == "timm":
            # timm's CosineLRScheduler without warmup_prefix (HiNeRV): linear warm-up from
            # warmup_start*lr, then the cosine of the whole schedule (not restarted after the
            # warm-up) from lr down to the floor min_lr*lr
            if self.warmup > 0 and p < self.warmup:
                return self.lr * (self.warmup_start + (1.0 - self.warmup_start) * p / self.warmup)
            floor = self.lr * self.min_lr
            return floor + 0.5 * (self.lr - floor) * (1.0 + math.cos(math.pi * p))
        if self.warmup > 0 and p < self.warmup:
            return self.lr * (0.1 + 0.9 * p / self.warmup)
        span = max(1e-12, 1.0 - self.warmup)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * (p - self.warmup) / span))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        if d["optimizer"] == "adam":  # Adam recipes keep the dict (and so the train keys) they had before
            del d["optimizer"]
        for key, default in (("schedule", "nerv"), ("warmup_start", 0.1), ("min_lr", 0.0), ("patch", 0),
                             ("grad_clip", 0.0)):
            if d[key] == default:
                del d[key]
        return d

    def with_batch(self, batch_size: int | None) -> Recipe:
        return self if batch_size is None else replace(self, batch_size=batch_size)


HNERV_RECIPE = Recipe("hnerv", loss="l2", lr=1e-3, betas=(0.9, 0.999), warmup=0.1, batch_size=2)
NERV_RECIPE = Recipe("nerv", loss="fusion6", lr=5e-4, betas=(0.5, 0.999), warmup=0.2, batch_size=1)
SHARED_RECIPE = replace(HNERV_RECIPE, name="shared")
#: HiNeRV (cfgs/train/hinerv_*.txt): 0.7*L1 + 0.3*(1-MS-SSIM 5x5), Adam lr 2e-3, 30 of 300 epochs of
#: warm-up from 2e-5, cosine to 2e-5, gradient clip 1.0, a frame's worth of patches per step
HINERV_RECIPE = Recipe("hinerv", loss="l1_msssim5", lr=2e-3, betas=(0.9, 0.999), warmup=30 / 300, batch_size=1,
                       schedule="timm", warmup_start=0.01, min_lr=0.01, patch=-1, grad_clip=1.0)
#: HNeRV-Boost (scripts/regression/*/hnerv_boost.sh): 60*(0.7*L1 + 0.3*(1-MS-SSIM)) + L1 of the FFT,
#: Adan (betas 0.98, 0.92, 0.99) lr 3e-3, the default cosine_0.1_1_0.1 schedule, batch 1
BOOST_RECIPE = Recipe("hnerv-boost", loss="fusion10_freq", lr=3e-3, betas=(0.98, 0.92, 0.99), warmup=0.1,
                      batch_size=1, optimizer="adan")


def resolve_recipe(name: str, method_default: Recipe) -> Recipe:
    """'paper' (or the method's own recipe name) -> the method's recipe; 'shared' -> HNeRV's."""
    if name in ("paper", "default", method_default.name):
        return method_default
    if name == "shared":
        return SHARED_RECIPE
    raise UnknownNameError("recipe", name, ["paper", "shared"])
