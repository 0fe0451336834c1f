"""The task protocol and the context a task runs in (pure Python at import)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nvbench.jobs import Job
from nvbench.methods import MethodPlugin
from nvbench.recipe import Recipe
from nvbench.records.catalogue import Metric
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


class Task:
    """Base class of task plugins."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[dict[str, Any]] = {}
    #: the method must have at least one of these capabilities
    needs_any: ClassVar[frozenset[str]] = frozenset()
    #: whether the task trains a representation (so it needs a size and a recipe)
    trains: ClassVar[bool] = True
    #: option declarations beside the defaults (nvbench/options.py): allowed values, inclusive
    #: (lo, hi) ranges (None = open; list options: each item), item types of list options
    option_choices: ClassVar[dict[str, tuple[Any, ...]]] = {}
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {}
    option_types: ClassVar[dict[str, type]] = {}
    #: columns of the CLI's table for this task (None: nvbench.table.RESULT_COLUMNS): record field
    #: names, whose header and digits come from the metric catalogue (nvbench.records.catalogue) or
    #: nvbench.table.CONTEXT_COLUMNS, or (field, header[, digits]) for the task's own context columns
    table_columns: ClassVar[list[str | tuple[str, str] | tuple[str, str, int]] | None] = None
    #: metrics this task writes beyond the catalogue's built-ins; registered when the class is loaded
    metrics: ClassVar[tuple[Metric, ...]] = ()

    @classmethod
    def coerce_option(cls, key: str, value: Any) -> Any:
        """One `--set KEY=VALUE` for this task: a known key, parsed and checked against its
        declaration (type, range, choices); the runner calls this while expanding jobs."""
        from nvbench.errors import UnknownNameError
        from nvbench.options import check_option

        if key not in cls.options:
            raise UnknownNameError(f"option of task {cls.name}", key, cls.options)
        return check_option(f"task {cls.name}", key, value, cls.options[key], cls.option_choices.get(key),
                            cls.option_ranges.get(key), cls.option_types)

    @classmethod
    def resolve_options(cls, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """The task's defaults updated by validated overrides."""
        opts = dict(cls.options)
        for k, v in (overrides or {}).items():
            opts[k] = cls.coerce_option(k, v)
        return opts

    @classmethod
    def not_applicable(cls, method: type[MethodPlugin]) -> str | None:
        """None when the task can run the method, else the reason it cannot."""
        if cls.needs_any and not (cls.needs_any & method.capabilities):
            return (f"{method.name} has none of the capabilities {cls.name} needs "
                    f"({', '.join(sorted(cls.needs_any))})")
        return None

    def run(self, ctx: TaskContext) -> list[dict[str, Any]]:  # pragma: no cover - interface
        raise NotImplementedError
