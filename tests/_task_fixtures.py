"""Tiny synthetic clips for the task tests (registered as datasets only inside the tests)."""

from __future__ import annotations

import numpy as np

from nvbench.data.base import DatasetCard, DatasetPlugin, SequenceInfo
from nvbench.jobs import Job
from nvbench.video import Video

T, H, W = 8, 40, 80


def linear_clip(frames: int = T, height: int = H, width: int = W) -> np.ndarray:
    """Integer frames changing linearly in time: f(t) = base + 9 t (exact for any average of
    two frames at equal distance)."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 100 // width, y * 100 // height, (x + y) * 50 // (width + height)], -1)
    clip = np.stack([base + 9 * t for t in range(frames)])
    return clip.astype(np.uint8)


def smooth_clip(frames: int = T, height: int = H, width: int = W) -> np.ndarray:
    """A smooth, slowly moving pattern (low spatial frequencies only)."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    out = []
    for t in range(frames):
        r = 128 + 80 * np.sin(2 * np.pi * (x + 0.02 * t))
        g = 128 + 70 * np.cos(2 * np.pi * (0.5 * y + 0.3 * x + 0.02 * t))
        b = 90 + 60 * x + 40 * y
        out.append(np.stack([r, g, b], -1))
    return np.clip(np.rint(np.stack(out)), 0, 255).astype(np.uint8)


class _Synthetic(DatasetPlugin):
    clip = staticmethod(smooth_clip)

    def load(self, sequence: str | None = None) -> Video:
        return Video(self.clip(), name=self.card.sequences[0].name, dataset=self.name, colour="synthetic")


def _card(name: str) -> DatasetCard:
    return DatasetCard(name=name, title=f"synthetic {name}", sequences=(SequenceInfo(name, T, H, W, 25.0),),
                       paper_crop=(H, W), colour="synthetic", licence="none", citation="", source="generated")


class SmoothDataset(_Synthetic):
    name = "tiny-smooth"
    card = _card("tiny-smooth")
    clip = staticmethod(smooth_clip)


class LinearDataset(_Synthetic):
    name = "tiny-linear"
    card = _card("tiny-linear")
    clip = staticmethod(linear_clip)


def register() -> None:
    from nvbench import registry

    registry.datasets.register("tiny-smooth", "_task_fixtures:SmoothDataset")
    registry.datasets.register("tiny-linear", "_task_fixtures:LinearDataset")


def context(method: str, task: str, frames: np.ndarray, tmp_path, *, epochs: int = 2, size: int | None = 24_000,
            task_options: dict | None = None, method_options: dict | None = None, budget: float | None = None,
            seed: int = 1):
    """A TaskContext for calling a task directly on an in-memory clip."""
    from nvbench import registry
    from nvbench.recipe import resolve_recipe
    from nvbench.results import Store
    from nvbench.tasks.base import TaskContext

    m = registry.methods.get(method)
    t = registry.tasks.get(task)
    trains = m.has("representation")
    recipe = resolve_recipe("paper", m.recipe) if trains else None
    job = Job(method=method, task=task, dataset="synthetic", sequence="clip", preset="smoke",
              size=size if trains else None, recipe=recipe.name if recipe else "-", seed=seed,
              epochs=epochs if trains else 0, crop=None, resolution=None, frames=len(frames),
              task_options=dict(task_options or {}), method_options=dict(method_options or {}),
              budget_seconds=budget)
    video = Video(np.ascontiguousarray(frames), name="clip", dataset="synthetic")
    return TaskContext(job=job, method=m, video=video, store=Store(tmp_path), device="cpu", recipe=recipe,
                       method_options=dict(method_options or {}), task_options=t.resolve_options(task_options),
                       channels_last=False), t()
