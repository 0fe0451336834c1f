"""Running one job: load its video, run its task in a TaskContext, turn any failure into a
'failed' record, and return (or write) the job's JSON: records + provenance. Also the pieces
the parent uses around one job's result: its status, the heartbeat a worker leaves for the
live view, and the parent's one writer of job files."""

from __future__ import annotations

import errno
import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from nvbench import registry
from nvbench.data.local import get_dataset
from nvbench.errors import NvbenchError
from nvbench.jobs import Job
from nvbench.provenance import cpu_ticks, environment, load_average, now, peak_rss_mb, reset_peak_rss
from nvbench.records import failed_record
from nvbench.results import Store, write_json_atomic
from nvbench.trainkey import job_recipe

_VIDEO_CACHE: dict[tuple, Any] = {}


def load_video(job: Job):
    key = (job.dataset, job.sequence, job.crop, job.resolution, job.frames)
    if key not in _VIDEO_CACHE:
        ds = get_dataset(job.dataset)
        video = ds.load(job.sequence).select(job.frames).crop_resize(job.crop, job.resolution)
        _VIDEO_CACHE.clear()  # keep one video in memory
        _VIDEO_CACHE[key] = video
    return _VIDEO_CACHE[key]


def method_provenance(method: Any, job: Job) -> dict[str, Any]:
    """What a method adds to its job's provenance (codecs: the ffmpeg build, the encoder's version
    and SIMD level, its threads and coding conditions), via its optional `job_provenance` hook."""
    hook = getattr(method, "job_provenance", None)
    if not callable(hook):
        return {}
    try:
        return dict(hook(job.method_options))
    except NvbenchError as exc:
        return {"method_provenance_error": str(exc)}


def run_job(job: Job, store: Store, device: str = "cpu", progress: Callable | None = None,
            channels_last: bool = True, write: bool = True) -> dict[str, Any]:
    """Run one job and write its JSON (records + provenance) atomically (`write=False`: only
    return it, for a worker whose parent owns the store). Failures become a record with status
    'failed' and the reason; nothing else is lost."""
    from nvbench.context import TaskContext  # numpy and the video type: only where a job runs

    reset_peak_rss()
    started, t0, load_at_start, ticks_at_start = now(), time.perf_counter(), load_average(), cpu_ticks()
    method = registry.methods.get(job.method)
    task_cls = registry.tasks.get(job.task)
    recipe = job_recipe(job, method)
    video = None
    try:
        video = load_video(job)
        ctx = TaskContext(job=job, method=method, video=video, store=store, device=device, recipe=recipe,
                          method_options=job.method_options, task_options=job.task_options,
                          progress=progress, channels_last=channels_last, amp=job.amp)
        reason = task_cls.not_applicable(method)
        if reason:
            records = [ctx.base_record(status="not_applicable", reason=reason)]
        else:
            records = task_cls().run(ctx)
        error = None
    except NvbenchError as exc:
        records, error = [], str(exc)
    except OSError as exc:  # a full disk, a read-only mount: the job fails in one line, the others go on
        where = f": {exc.filename}" if exc.filename else ""
        records, error = [], f"{type(exc).__name__}: {exc.strerror or exc}{where}"
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO):
            traceback.print_exc()
    except Exception as exc:  # a crash in one job must not stop the others
        records, error = [], f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    if error is not None:
        records = [failed_record(job, error, video=video)]  # video None: it failed before the frames loaded
    payload = {
        "job": job.identity(),
        "label": job.label(),
        "records": records,
        "provenance": {
            **environment(device, load_at_start, ticks_at_start),
            "config": job.identity(),
            "dataset_checksum": job.source_checksum,
            "video_checksum": video.checksum() if video is not None else None,
            "geometry": video.geometry if video is not None else None,
            "colour": video.colour if video is not None else None,
            "started": started,
            "finished": now(),
            "seconds": round(time.perf_counter() - t0, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            **method_provenance(method, job),
        },
    }
    if write:
        store.write(job.key, payload)
    return payload


def payload_status(payload: dict[str, Any]) -> str:
    """'diverged', 'failed' or 'ok' (ok includes not_applicable records)."""
    statuses = {r.get("status") for r in payload.get("records", [])}
    for status in ("diverged", "failed"):
        if status in statuses:
            return status
    return "ok"


class Heartbeat:
    """A worker's progress callback: the job's latest epoch / PSNR in running/<key>.json
    (atomic, at most twice a second) for the parent's live view."""

    def __init__(self, store: Store, job: Job, interval: float = 0.5):
        self.path = store.root / "running" / f"{job.key}.json"
        self.job, self.interval, self.last = job, interval, 0.0
        self._write({"epoch": 0})

    def _write(self, info: dict[str, Any]) -> None:
        try:
            write_json_atomic(self.path, {"key": self.job.key, "label": self.job.label(), "pid": os.getpid(),
                                          "time": time.time(), **info})
        except OSError:
            pass  # progress is best effort; the result matters

    def __call__(self, log: dict[str, Any]) -> None:
        t = time.time()
        final = log.get("epochs") is not None and log["epoch"] >= log["epochs"]
        if t - self.last >= self.interval or final:
            self.last = t
            ev = log.get("eval") or {}
            self._write({"epoch": log["epoch"], "epochs": log.get("epochs"), "train_psnr": log.get("train_psnr"),
                         "psnr": ev.get("psnr"), "eta": log.get("eta")})

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


class StoreWriteError(NvbenchError):
    """A result could not be written (e.g. a full disk); the results already written are intact."""


def write_result(store: Store, payload: dict[str, Any]) -> None:
    """The parent's one place for writing a job's JSON (atomic; an error names the file)."""
    key = payload["key"]
    try:
        store.write(key, payload)
    except OSError as exc:
        raise StoreWriteError(
            f"cannot write the result of {payload.get('label', key)} to {store.job_path(key)}: "
            f"{exc.strerror or exc}; the results already in {store.jobs_dir} are intact"
        ) from None

