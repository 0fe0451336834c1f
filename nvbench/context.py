"""The context a task runs one job in: the job, the method class, the video, the store, the
device, the recipe and options, and the job's records. Its own module so that the trainer's
cache (nvbench.fit), which takes a context, and the tasks, which call the trainer, do not import
each other; it imports neither (pure Python at import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nvbench.jobs import Job
from nvbench.methods import MethodPlugin
from nvbench.recipe import Recipe
from nvbench.records.record import Record, build_record
from nvbench.results import Store
from nvbench.video import Video


@dataclass
class TaskContext:
    """Everything a task needs to run one job; tasks never look a method up by name."""

    job: Job
    method: type[MethodPlugin]
    video: Video
    store: Store
    device: str
    recipe: Recipe | None
    method_options: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[dict[str, Any]], None] | None = None
    channels_last: bool = True
    amp: str | None = None
    train_threads: int | None = None  # the CPU thread count its training ran at (set by nvbench.fit)

    @property
    def artifacts(self) -> Path:
        return self.store.artifacts(self.job.key)

    def base_record(self, **extra: Any) -> Record:
        """A record of this job (nvbench.records.build_record): the job's and the video's fields, the
        context's recipe, device, amp and the decoder's complexity, then `extra` (status defaults to
        ok; a status or split outside the vocabularies raises here)."""
        v = self.video
        fields: dict[str, Any] = {
            "recipe": self.recipe.name if self.recipe else None, "psnr_pooled": None,
            "resize_filter": _resize_filter(v.geometry), "colour": v.colour, "device": self.device, "amp": self.amp,
        }
        if self.train_threads is not None:  # timing provenance: train_seconds were taken at this count
            fields["train_threads"] = self.train_threads
        fields.update(self.complexity())
        fields.update(extra)
        status = fields.pop("status", "ok")
        return build_record(self.job, status, video=v, **fields)

    def complexity(self) -> dict[str, Any]:
        """macs_per_pixel (+ macs_reason) of the method's decoder at this job's plan (nvbench.complexity)."""
        from nvbench.complexity import complexity_fields

        v = self.video
        return complexity_fields(self.method, lambda: self.method.plan(v.num_frames, v.height, v.width, self.job.size,
                                                                       self.method_options),
                                 v.num_frames, v.height, v.width)


def _resize_filter(geometry: dict[str, Any]) -> str:
    """The filter that made the working resolution, from the video's geometry (e.g. "160x320 (area)"
    -> "area"); "none" when the frames were not resized. Part of the geometry: the same clip resized
    by another filter (the official HNeRV code's bicubic) scores differently."""
    resize = str(geometry.get("resize") or "")
    if not resize:
        return "none"
    return resize[resize.find("(") + 1 : resize.rfind(")")] if "(" in resize else "unrecorded"
