"""Expanding a run into jobs, running them, and writing each job's result to the store."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nvbench import registry
from nvbench.errors import NvbenchError, UnknownNameError
from nvbench.jobs import Job
from nvbench.methods import REPRESENTATION
from nvbench.presets import Geometry, get_preset
from nvbench.provenance import environment, now, peak_rss_mb
from nvbench.recipe import resolve_recipe
from nvbench.results import Store


@dataclass
class RunRequest:
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


def split_settings(settings: dict[str, Any], method: Any, task: Any,
                   known_elsewhere: Sequence[str] = ()) -> tuple[dict, dict]:
    """Route each KEY=VALUE to the method's or the task's options. A key neither knows is an
    error, unless another method or task of the same run knows it (`known_elsewhere`, e.g.
    `--set mask=central` in a run of convergence and inpainting): then it is not this pair's."""
    m_opts, t_opts = {}, {}
    for k, v in settings.items():
        if k in method.options:
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
    crop = preset_geo.crop
    if req.crop == "full":
        crop = None
    elif req.crop == "paper":
        crop = dataset_card.paper_crop
    elif isinstance(req.crop, tuple):
        crop = req.crop
    resolution = req.resolution or preset_geo.resolution
    return Geometry(crop, resolution)


def expand(req: RunRequest) -> list[Job]:
    """All jobs of a request, with sizes validated by each method's (pure Python) plan."""
    preset = get_preset(req.preset)
    jobs: list[Job] = []
    known_options = {k for name in req.methods for k in registry.methods.get(name).options}
    known_options |= {k for name in req.tasks for k in registry.tasks.get(name).options}
    for ds_name in req.datasets:
        ds = registry.datasets.get(ds_name)()
        card = ds.card
        seqs = req.sequences or [card.sequences[0].name]
        for seq_name in seqs:
            info = card.sequence(seq_name)
            geo = geometry(card, preset.geometry_for(ds_name), req)
            frames = req.frames or preset.frames
            n = min(info.frames, frames) if frames else info.frames
            h, w = geo.resolution or geo.crop or (info.height, info.width)
            checksum = ds.checksum(info.name)
            for m_name in req.methods:
                method = registry.methods.get(m_name)
                for t_name in req.tasks:
                    task = registry.tasks.get(t_name)
                    m_opts, t_opts = split_settings(req.settings, method, task, known_options)
                    trains = method.has(REPRESENTATION) and task.trains
                    sizes = (req.sizes or [preset.default_size]) if trains else [None]
                    recipe = resolve_recipe(req.recipe, method.recipe).name if trains and method.recipe else "-"
                    for size in sizes:
                        if trains and task.not_applicable(method) is None:
                            method.plan(n, h, w, size, m_opts)  # raises SizeError early
                        for seed in req.seeds:
                            jobs.append(Job(
                                method=m_name, task=t_name, dataset=ds_name, sequence=info.name,
                                preset=preset.name, size=size, recipe=recipe, seed=seed,
                                epochs=req.epochs or preset.epochs if trains else 0,
                                crop=geo.crop, resolution=geo.resolution, frames=n,
                                method_version=method.version, task_version=task.version,
                                method_options=m_opts, task_options=t_opts, source_checksum=checksum,
                                budget_seconds=req.budget_seconds if trains else None,
                            ))
    return jobs


_VIDEO_CACHE: dict[tuple, Any] = {}


def load_video(job: Job):
    key = (job.dataset, job.sequence, job.crop, job.resolution, job.frames)
    if key not in _VIDEO_CACHE:
        ds = registry.datasets.get(job.dataset)()
        video = ds.load(job.sequence).select(job.frames).crop_resize(job.crop, job.resolution)
        _VIDEO_CACHE.clear()  # keep one video in memory
        _VIDEO_CACHE[key] = video
    return _VIDEO_CACHE[key]


def run_job(job: Job, store: Store, device: str = "cpu", progress: Callable | None = None,
            channels_last: bool = True, amp: str | None = None) -> dict[str, Any]:
    """Run one job and write its JSON (records + provenance) atomically. Failures become a
    record with status 'failed' and the reason; nothing else is lost."""
    from nvbench.tasks.base import TaskContext

    started, t0 = now(), time.perf_counter()
    method = registry.methods.get(job.method)
    task_cls = registry.tasks.get(job.task)
    recipe = resolve_recipe(job.recipe, method.recipe) if method.recipe and job.recipe != "-" else None
    if recipe is not None:
        from nvbench.presets import PRESETS

        recipe = recipe.with_batch(PRESETS[job.preset].batch_size)
    video = None
    try:
        video = load_video(job)
        ctx = TaskContext(job=job, method=method, video=video, store=store, device=device, recipe=recipe,
                          method_options=job.method_options, task_options=job.task_options,
                          progress=progress, channels_last=channels_last, amp=amp)
        reason = task_cls.not_applicable(method)
        if reason:
            records = [ctx.base_record(status="not_applicable", reason=reason)]
        else:
            records = task_cls().run(ctx)
        error = None
    except NvbenchError as exc:
        records, error = [], str(exc)
    except Exception as exc:  # a crash in one job must not stop the others
        records, error = [], f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    if error is not None:
        records = [{
            "method": job.method, "variant": "", "task": job.task, "dataset": job.dataset,
            "sequence": job.sequence, "preset": job.preset, "size_target": job.size, "seed": job.seed,
            "recipe": job.recipe, "status": "failed", "reason": error,
            "height": video.height if video else None, "width": video.width if video else None,
            "frames": job.frames,
        }]
    payload = {
        "job": job.identity(),
        "label": job.label(),
        "records": records,
        "provenance": {
            **environment(device),
            "config": job.identity(),
            "dataset_checksum": job.source_checksum,
            "video_checksum": video.checksum() if video is not None else None,
            "geometry": video.geometry if video is not None else None,
            "colour": video.colour if video is not None else None,
            "started": started,
            "finished": now(),
            "seconds": round(time.perf_counter() - t0, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
    }
    store.write(job.key, payload)
    return payload


def run_jobs(jobs: Sequence[Job], store: Store, *, force: bool = False, device: str = "cpu",
             progress_factory: Callable[[Job], Callable | None] | None = None,
             on_start: Callable[[int, int, Job], None] | None = None,
             channels_last: bool = True, amp: str | None = None) -> list[dict[str, Any]]:
    """Run jobs in order, skipping those whose JSON is already in the store (unless force)."""
    payloads = []
    for i, job in enumerate(jobs):
        if store.has(job.key) and not force:
            payloads.append({**store.read(job.key), "skipped": True})
            continue
        if on_start:
            on_start(i, len(jobs), job)
        progress = progress_factory(job) if progress_factory else None
        payloads.append(run_job(job, store, device=device, progress=progress,
                                channels_last=channels_last, amp=amp))
    return payloads
