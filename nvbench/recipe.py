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
    loss: str  # "l2" | "fusion6" (0.7*L1 + 0.3*(1-SSIM))
    lr: float
    betas: tuple[float, float]
    warmup: float  # fraction of training spent on the linear warm-up from 0.1*lr
    batch_size: int
    weight_decay: float = 0.0

    def lr_at(self, progress: float) -> float:
        """Learning rate at training progress p in [0, 1): warm-up then cosine to 0
        (the form shared by the NeRV, E-NeRV and HNeRV code, updated per iteration)."""
        p = min(max(progress, 0.0), 1.0)
        if self.warmup > 0 and p < self.warmup:
            return self.lr * (0.1 + 0.9 * p / self.warmup)
        span = max(1e-12, 1.0 - self.warmup)
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * (p - self.warmup) / span))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    def with_batch(self, batch_size: int | None) -> Recipe:
        return self if batch_size is None else replace(self, batch_size=batch_size)


HNERV_RECIPE = Recipe("hnerv", loss="l2", lr=1e-3, betas=(0.9, 0.999), warmup=0.1, batch_size=2)
NERV_RECIPE = Recipe("nerv", loss="fusion6", lr=5e-4, betas=(0.5, 0.999), warmup=0.2, batch_size=1)
SHARED_RECIPE = replace(HNERV_RECIPE, name="shared")


def resolve_recipe(name: str, method_default: Recipe) -> Recipe:
    """'paper' (or the method's own recipe name) -> the method's recipe; 'shared' -> HNeRV's."""
    if name in ("paper", "default", method_default.name):
        return method_default
    if name == "shared":
        return SHARED_RECIPE
    raise UnknownNameError("recipe", name, ["paper", "shared"])
