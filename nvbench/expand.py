"""Expanding a run request into jobs: the product of methods x tasks x datasets' sequences x
sizes x seeds, each `--set` routed to the method or the task, sizes checked by each method's
(pure Python) plan, and the companion jobs tasks ask for. Never imports torch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nvbench import registry
from nvbench.data.local import LocalClip, get_dataset
from nvbench.errors import NvbenchError, UnknownNameError
from nvbench.jobs import Job, canonical_json
from nvbench.methods import REPRESENTATION
from nvbench.presets import Geometry, get_preset
from nvbench.recipe import resolve_recipe
from nvbench.results import Store


@dataclass
class RunRequest:
    """What `nvbench run` asks for (one list per axis); expand() makes its jobs."""

    methods: Sequence[str]
    tasks: Sequence[str] = ("reconstruction",)
    datasets: Sequence[str] = ("bunny",)
    sequences: Sequence[str] | None = None  # None: the dataset's first sequence
    preset: str = "cpu"
    sizes: Sequence[int | str] | None = None  # None: the preset's default size
    seeds: Sequence[int] = (1,)
    recipe: str = "paper"
    epochs: int | None = None
    resolution: tuple[int, int] | None = None
    crop: str | tuple[int, int] | None = None  # "paper" | "full" | (H, W); None: the preset's
    frames: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # --set KEY=VALUE
    budget_seconds: float | None = None
    amp: str | None = None  # "bf16" | "fp16": mixed precision for training and decoding


def split_settings(settings: dict[str, Any], method: Any, task: Any,
                   known_elsewhere: Sequence[str] = ()) -> tuple[dict, dict]:
    """Route each KEY=VALUE to the method's or the task's options. A key neither knows is an
    error, unless another method or task of the same run knows it (`known_elsewhere`, e.g.
    `--set mask=central` in a run of convergence and inpainting): then it is not this pair's."""
    m_opts, t_opts = {}, {}
    for k, v in settings.items():
        if k in method.options:
            if hasattr(method, "coerce_option"):
                method.coerce_option(k, v)  # checked here; stored as given, so job keys stay what they were
            m_opts[k] = v
        elif k in task.options:
            t_opts[k] = task.coerce_option(k, v) if hasattr(task, "coerce_option") else v
        elif k in known_elsewhere:
            continue
        else:
            raise UnknownNameError(f"option of {method.name} or {task.name}", k,
                                   list(method.options) + list(task.options))
    return m_opts, t_opts


def geometry(dataset_card: Any, preset_geo: Geometry, req: RunRequest) -> Geometry:
    """The preset's crop and working size for this card, unless the request sets them
    (`--crop full|paper|HxW`, `--resolution`)."""
    crop = preset_geo.crop
    if req.crop == "full":
        crop = None
    elif req.crop == "paper":
        crop = dataset_card.paper_crop
    elif isinstance(req.crop, tuple):
        crop = req.crop
    resolution = req.resolution or preset_geo.resolution
    return Geometry(crop, resolution)


def working_size(crop: tuple[int, int] | None, resolution: tuple[int, int] | None,
                 native: Callable[[], tuple[int, int]] | tuple[int, int]) -> tuple[int, int]:
    """(height, width) of a job's frames once loaded: the working resolution, else the crop,
    else the sequence's own size (`native`: the size, or a function that looks it up)."""
    if resolution or crop:
        return tuple(resolution or crop)  # type: ignore[return-value]
    return native() if callable(native) else tuple(native)  # type: ignore[return-value]


def select_sequences(cards: dict[str, Any], requested: Sequence[str] | None) -> dict[str, list[str]]:
    """Which sequences each dataset runs. The rule: a name applies to every requested dataset
    whose card has it ('ds:name' pins it to one dataset, 'all' or 'ds:all' means every
    sequence); a dataset none of the names belong to runs its default (first) sequence; a name
    that belongs to no requested dataset is an error that suggests the closest names."""
    chosen: dict[str, list[str]] = {ds: [] for ds in cards}
    for raw in requested or []:
        ds_part, _, name = raw.rpartition(":")
        targets = [ds_part] if ds_part else list(cards)
        if ds_part and ds_part not in cards:
            raise UnknownNameError("dataset (in --sequence)", ds_part, cards)
        found = False
        for ds in targets:
            names = [s.name for s in cards[ds].sequences]
            if name.lower() == "all":
                picked = names
            else:
                picked = [n for n in names if n.lower() == name.lower()]
            for n in picked:
                if n not in chosen[ds]:
                    chosen[ds].append(n)
            found = found or bool(picked)
        if not found:
            known = [s.name for ds in targets for s in cards[ds].sequences]
            raise UnknownNameError(f"sequence of {', '.join(targets)}", name, known)
    return {ds: seqs or [cards[ds].sequences[0].name] for ds, seqs in chosen.items()}


def expand(req: RunRequest) -> list[Job]:
    """All jobs of a request, with sizes validated by each method's (pure Python) plan."""
    preset = get_preset(req.preset)
    jobs: list[Job] = []
    known_options = {k for name in req.methods for k in registry.methods.get(name).options}
    known_options |= {k for name in req.tasks for k in registry.tasks.get(name).options}
    plugins = {ds_name: get_dataset(ds_name) for ds_name in dict.fromkeys(req.datasets)}  # a path: the user's clip
    selected = select_sequences({n: d.card for n, d in plugins.items()}, req.sequences)
    planned: set[tuple] = set()
    for ds_name, ds in plugins.items():
        card = ds.card
        for seq_name in selected[ds_name]:
            info = card.sequence(seq_name)
            geo = geometry(card, preset.geometry_for(card), req)
            frames = req.frames or preset.frames
            n = min(info.frames, frames) if frames else info.frames
            h, w = working_size(geo.crop, geo.resolution, (info.height, info.width))
            checksum = ds.checksum(info.name)
            for m_name in req.methods:
                method = registry.methods.get(m_name)
                for t_name in req.tasks:
                    task = registry.tasks.get(t_name)
                    m_opts, t_opts = split_settings(req.settings, method, task, known_options)
                    trains = method.has(REPRESENTATION) and task.trains
                    # a method that declares takes_size = False (its rate is set otherwise, e.g. c3's lambda) gets none
                    sized = trains and getattr(method, "takes_size", True)
                    sizes = (req.sizes or [preset.default_size]) if sized else [None]
                    recipe = resolve_recipe(req.recipe, method.recipe).name if trains and method.recipe else "-"
                    for size in sizes:
                        plan_key = (m_name, n, h, w, size, canonical_json(m_opts))
                        if trains and task.not_applicable(method) is None and plan_key not in planned:
                            try:
                                method.plan(n, h, w, size, m_opts)  # raises SizeError early
                            except ValueError as exc:  # a plan that does not fit these options
                                raise NvbenchError(f"{m_name} cannot be planned for {n} frames of {h}x{w} "
                                                   f"with {canonical_json(m_opts)}: {exc}") from None
                            planned.add(plan_key)
                        for seed in req.seeds:
                            jobs.append(Job(
                                method=m_name, task=t_name, sequence=info.name,
                                dataset=ds.name if isinstance(ds, LocalClip) else ds_name,  # a clip: its path
                                preset=preset.name, size=size, recipe=recipe, seed=seed,
                                epochs=req.epochs or preset.epochs if trains else 0,
                                crop=geo.crop, resolution=geo.resolution, frames=n,
                                method_version=method.version, task_version=task.version,
                                method_options=m_opts, task_options=t_opts, source_checksum=checksum,
                                budget_seconds=req.budget_seconds if trains else None,
                                amp=req.amp if trains else None,
                            ))
    return jobs


def add_companion_jobs(jobs: Sequence[Job], store: Store, anchors: Sequence[str] = ()) -> list[Job]:
    """Jobs a task needs beside the requested ones (`Task.companion_jobs(job, store, known)`),
    e.g. the compression anchor's job when the store has no anchor points; added first, once.
    `anchors`: the run's extra anchors (`--anchor`), handed to the hook as `anchors=`."""
    extra: list[Job] = []
    for job in jobs:
        try:
            hook = getattr(registry.tasks.get(job.task), "companion_jobs", None)
        except NvbenchError:
            continue
        if hook is not None:
            found = hook(job, store, list(jobs) + extra, anchors=tuple(anchors)) if anchors else \
                hook(job, store, list(jobs) + extra)
            for new in found:
                if new.key not in {j.key for j in list(jobs) + extra}:
                    extra.append(new)
    return extra + list(jobs)
