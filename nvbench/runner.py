"""Expanding a run into jobs, running them, and writing each job's result to the store."""

from __future__ import annotations

import errno
import json
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nvbench import registry
from nvbench.data.local import LocalClip, get_dataset
from nvbench.errors import NvbenchError, UnavailableError, UnknownNameError
from nvbench.hostmem import retain_freed_memory
from nvbench.jobs import Job, canonical_json, digest
from nvbench.methods import REPRESENTATION
from nvbench.presets import Geometry, get_preset
from nvbench.provenance import environment, now, peak_rss_mb, reset_peak_rss
from nvbench.recipe import resolve_recipe
from nvbench.results import Store, write_json_atomic


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
    crop = preset_geo.crop
    if req.crop == "full":
        crop = None
    elif req.crop == "paper":
        crop = dataset_card.paper_crop
    elif isinstance(req.crop, tuple):
        crop = req.crop
    resolution = req.resolution or preset_geo.resolution
    return Geometry(crop, resolution)


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
            h, w = geo.resolution or geo.crop or (info.height, info.width)
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
    from nvbench.tasks.base import TaskContext

    reset_peak_rss()
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
        records = [{
            "method": job.method, "variant": "", "task": job.task, "dataset": job.dataset,
            "sequence": job.sequence, "preset": job.preset, "size_target": job.size, "seed": job.seed,
            "recipe": job.recipe, "status": "failed", "reason": error,
            "height": video.height if video else None, "width": video.width if video else None,
            "frames": job.frames, "crop": f"{job.crop[0]}x{job.crop[1]}" if job.crop else None,
            "resolution": f"{job.resolution[0]}x{job.resolution[1]}" if job.resolution else None,
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
            "pid": os.getpid(),
            "host": socket.gethostname(),
            **method_provenance(method, job),
        },
    }
    if write:
        store.write(job.key, payload)
    return payload


def run_jobs(jobs: Sequence[Job], store: Store, *, force: bool = False, device: str = "cpu",
             progress_factory: Callable[[Job], Callable | None] | None = None,
             on_start: Callable[[int, int, Job], None] | None = None,
             channels_last: bool = True) -> list[dict[str, Any]]:
    """Run jobs in order, skipping those whose JSON is already in the store (unless force)."""
    payloads = []
    for i, job in enumerate(jobs):
        if store.has(job.key) and not force:
            payloads.append({**store.read(job.key), "skipped": True})
            continue
        if on_start:
            on_start(i, len(jobs), job)
        progress = progress_factory(job) if progress_factory else None
        payloads.append(run_job(job, store, device=device, progress=progress, channels_last=channels_last))
    return payloads


# ---------------------------------------------------------------------------------------------
# The matrix: resume, divergence retries, one training per representation, joblib backends.
#
# Who writes what: each job's JSON is written only by the process that owns the store (the one
# running `nvbench run`), from the payload a worker returns, atomically (temporary file + fsync +
# rename), so no two processes ever write the same job file. Workers write only below
# models/<train-key>/ (checkpoints, the trained model; atomic renames) and artifacts/<job-key>/,
# which on a cluster must be a shared folder for resume to find them, and small heartbeat files
# below running/ that the live view reads.

RETRY_SEED_STRIDE = 1000
BACKENDS = ("local", "dask", "ray")


def retry_seed(seed: int, attempt: int) -> int:
    """The seed of retry `attempt` (1, 2, ...) of a diverged job. Deterministic, so a resumed
    run finds the retries it already finished in the store."""
    return seed + RETRY_SEED_STRIDE * attempt


def payload_status(payload: dict[str, Any]) -> str:
    """'diverged', 'failed' or 'ok' (ok includes not_applicable / unavailable records)."""
    statuses = {r.get("status") for r in payload.get("records", [])}
    for status in ("diverged", "failed"):
        if status in statuses:
            return status
    return "ok"


def train_group(job: Job) -> str:
    """Jobs that differ only in their task (the reconstruction, compression and convergence of
    one training configuration) share one trained representation (fit.py caches it under
    models/<train-key>/). They run one after another in the same worker, so it is trained
    once and the others load it, instead of two workers training it at the same time."""
    ident = job.identity()
    for k in ("task", "task_version", "task_options"):
        ident.pop(k, None)
    return digest(ident)


@dataclass
class Attempt:
    """One job to run: the matrix's job itself (attempt 0) or its k-th retry after divergence."""

    job: Job
    attempt: int = 0
    origin: Job | None = None  # the matrix job that this attempt retries

    def next(self) -> Attempt:
        origin = self.origin or self.job
        k = self.attempt + 1
        return Attempt(replace(origin, seed=retry_seed(origin.seed, k)), k, origin)


@dataclass
class MatrixOptions:
    force: bool = False
    device: str = "cpu"
    channels_last: bool = True
    retry_diverged: int = 0
    jobs: int = 1  # parallel local worker processes (backend local)
    backend: str = "local"  # local | dask | ray
    scheduler: str | None = None  # dask: tcp://HOST:PORT of a running scheduler
    address: str | None = None  # ray: the cluster address ("auto", ray://HOST:PORT); None: a local ray
    threads: int | None = None  # torch threads per worker; None: cores // workers on that machine
    connect_timeout: float = 10.0  # seconds to reach a dask scheduler
    anchors: tuple[str, ...] = ()  # extra BD-rate anchors of this run (`--anchor`; in no job key)


class Reporter:
    """What the runner tells a live view; this base says nothing (quiet mode)."""

    def begin(self, total: int, skipped: list[dict[str, Any]], parallel: int) -> None: ...

    def started(self, job: Job, attempt: int = 0) -> None: ...

    def epoch(self, job: Job, log: dict[str, Any]) -> None: ...

    def beats(self, beats: list[dict[str, Any]]) -> None: ...

    def finished(self, payload: dict[str, Any]) -> None: ...

    def end(self) -> None: ...


def plan_attempts(jobs: Sequence[Job], store: Store, opts: MatrixOptions) -> tuple[list[dict], list[Attempt]]:
    """(payloads already in the store, attempts still to run). A finished diverged job whose
    retries are not all in the store yet continues with its next retry."""
    done: list[dict[str, Any]] = []
    pending: list[Attempt] = []
    for job in jobs:
        cur = Attempt(job)
        while True:
            payload = None if opts.force else _read_finished(store, cur.job.key)
            if payload is None:
                pending.append(cur)
                break
            done.append({**payload, "skipped": True})
            if payload_status(payload) != "diverged" or cur.attempt >= opts.retry_diverged:
                break
            cur = cur.next()
    return done, pending


def _read_finished(store: Store, key: str) -> dict[str, Any] | None:
    if not store.has(key):
        return None
    try:
        payload = store.read(key)
    except (OSError, ValueError):
        return None  # an unreadable file (e.g. copied half) counts as not finished
    records = payload.get("records") if isinstance(payload, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        import sys

        print(f"nvbench: {store.job_path(key)}: not a job result (JSON of another shape); skipped, the job "
              "runs again", file=sys.stderr, flush=True)
        return None
    return payload


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


_DEVICE_CLAIM: tuple[int, Any] | None = None


def claim_device_slot(count: int, lock_dir: Path | None = None) -> int:
    """The lowest device index no other process on this machine holds: an exclusive flock on
    <lock_dir>/<i>.lock, held until this process exits, so N workers on N GPUs get one GPU
    each. With more workers than devices, the rest share round-robin by pid."""
    global _DEVICE_CLAIM
    if _DEVICE_CLAIM is not None and _DEVICE_CLAIM[0] < count:
        return _DEVICE_CLAIM[0]
    import fcntl

    lock_dir = lock_dir or Path(tempfile.gettempdir()) / f"nvbench-devices-{os.getuid()}"
    lock_dir.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        fh = open(lock_dir / f"{i}.lock", "a+")  # held for the life of the process
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        _DEVICE_CLAIM = (i, fh)
        return i
    return os.getpid() % count


def worker_device(requested: str) -> str:
    """`--device cuda` on a machine with several GPUs: this worker's own GPU (cuda:i)."""
    if requested not in ("cuda", "auto"):
        return requested
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count <= 1:
        return requested
    return f"cuda:{claim_device_slot(count)}"


def setup_worker(plugins: dict[str, dict[str, str]], threads: int | None) -> None:
    """Make a worker process match the parent: the same plugins (including ones registered at
    run time, e.g. by tests), the parent's host-allocator setting, and a torch thread count that
    does not oversubscribe the cores."""
    retain_freed_memory()
    for kind, entries in plugins.items():
        reg = registry.registry(kind)
        known = reg.entries()
        for name, value in entries.items():
            if known.get(name) != value:
                reg.register(name, value)
    if threads:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def _threads_here(opts: MatrixOptions, slots: int | dict[str, int] | None) -> int | None:
    """Torch threads for this worker: --threads, else cores // task slots on this machine
    (slots None: the task reserved one CPU)."""
    if opts.threads:
        return opts.threads
    if slots is None:
        return 1
    if isinstance(slots, dict):  # dask: task slots per host
        try:
            from distributed import get_worker

            host = get_worker().address.rsplit(":", 1)[0].split("//")[-1]
            slots = slots.get(host, 1)
        except (ImportError, ValueError):
            slots = 1
    return max(1, (os.cpu_count() or 1) // max(1, int(slots)))


def run_attempts(attempts: Sequence[Attempt], root: str, opts: MatrixOptions,
                 plugins: dict[str, dict[str, str]] | None = None, slots: int | dict[str, int] | None = 1,
                 progress_for: Callable[[Job], Callable | None] | None = None,
                 on_done: Callable[[dict[str, Any]], None] | None = None,
                 on_start: Callable[[Job, int], None] | None = None) -> list[dict[str, Any]]:
    """Run attempts one after another (in a worker, or in the parent), retrying diverged ones
    with a new seed up to `opts.retry_diverged` times. Returns the payloads; writes nothing to
    jobs/ itself (`on_done` does, in the parent)."""
    threads = _threads_here(opts, slots) if progress_for is None else opts.threads
    setup_worker(plugins or {}, threads)
    device = worker_device(opts.device)
    store = Store(root)
    out: list[dict[str, Any]] = []
    for first in attempts:
        a: Attempt | None = first
        while a is not None:
            if a is not first and not opts.force and (old := _read_finished(store, a.job.key)) is not None:
                payload = {**old, "skipped": True}
            else:
                if on_start:
                    on_start(a.job, a.attempt)
                beat = Heartbeat(store, a.job) if progress_for is None else None
                progress = beat if beat is not None else progress_for(a.job)
                try:
                    payload = run_job(a.job, store, device=device, progress=progress,
                                      channels_last=opts.channels_last, write=False)
                finally:
                    if beat is not None:
                        beat.close()
                payload["key"] = a.job.key
                payload["provenance"].update(worker_device=device, backend=opts.backend,
                                             torch_threads=_torch_threads())
                if a.attempt:
                    origin = a.origin or a.job
                    payload["retry"] = {"attempt": a.attempt, "of": origin.key, "seed_original": origin.seed}
                    for rec in payload["records"]:
                        rec.update(retry_of=origin.key, attempt=a.attempt)
                if on_done:
                    on_done(payload)
            out.append(payload)
            diverged = payload_status(payload) == "diverged"
            a = a.next() if diverged and a.attempt < opts.retry_diverged else None
    return out


def _torch_threads() -> int | None:
    import sys

    return sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None


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


def connect_dask(address: str | None, timeout: float = 10.0) -> Any:
    """A client of a running dask.distributed scheduler; an unreachable one is one clear error."""
    try:
        from distributed import Client
    except ImportError:
        raise UnavailableError("--backend dask needs dask.distributed: pip install 'nvbench[dask]'") from None
    if not address:
        raise NvbenchError("--backend dask needs --scheduler tcp://HOST:PORT (the address of a running "
                           "dask scheduler, e.g. from `dask scheduler`)")
    try:
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address
        raise NvbenchError(f"cannot reach the dask scheduler at {address}: {exc}") from None


def _dask_slots(client: Any) -> dict[str, int]:
    slots: dict[str, int] = {}
    for addr, info in client.scheduler_info(n_workers=-1).get("workers", {}).items():
        host = addr.rsplit(":", 1)[0].split("//")[-1]
        slots[host] = slots.get(host, 0) + int(info.get("nthreads", 1))
    return slots


def _parallel(groups: list[list[Attempt]], root: str, opts: MatrixOptions, plugins: dict) -> Any:
    """Yield each group's payloads as soon as it finishes, from joblib on the chosen backend."""
    import joblib

    call = joblib.delayed(run_attempts)
    if opts.backend == "local":
        par = joblib.Parallel(n_jobs=opts.jobs, backend="loky", return_as="generator_unordered")
        yield from par(call(g, root, opts, plugins, opts.jobs) for g in groups)
    elif opts.backend == "dask":
        client = connect_dask(opts.scheduler, opts.connect_timeout)
        try:
            slots = _dask_slots(client)
            with client.as_current(), joblib.parallel_config(backend="dask"):
                par = joblib.Parallel(n_jobs=-1, return_as="generator_unordered")
                yield from par(call(g, root, opts, plugins, slots) for g in groups)
        finally:
            client.close()
    elif opts.backend == "ray":
        try:
            import ray
        except ImportError:
            raise UnavailableError("--backend ray needs ray: pip install 'nvbench[ray]'") from None
        try:
            ray.init(address=opts.address, ignore_reinit_error=True, logging_level="ERROR",
                     include_dashboard=False)
        except Exception as exc:
            raise NvbenchError(f"cannot reach the ray cluster at {opts.address}: {exc}") from None
        # ray's joblib backend cannot stream results (no return_as generator), so groups go to
        # ray tasks directly and come back as each finishes. A task reserves one CPU, hence one
        # torch thread (slots=None).
        remote = ray.remote(num_cpus=1)(run_attempts)
        waiting = [remote.remote(g, root, opts, plugins, None) for g in groups]
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            yield ray.get(ready[0])
    else:
        raise UnknownNameError("backend", opts.backend, BACKENDS)


def _poll_beats(store: Store, reporter: Reporter, stop: threading.Event) -> None:
    folder = store.root / "running"
    while not stop.wait(0.5):
        beats = []
        for path in folder.glob("*.json") if folder.is_dir() else []:
            try:
                beats.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        reporter.beats([b for b in beats if time.time() - b.get("time", 0) < 300])


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


def run_matrix(jobs: Sequence[Job], store: Store, opts: MatrixOptions | None = None,
               reporter: Reporter | None = None) -> list[dict[str, Any]]:
    """Run a matrix: skip what the store has (unless force), group the jobs that share a
    trained representation, run the groups in-process (one local worker) or through joblib
    (local processes, dask, ray), and write every result in this process as it arrives."""
    opts = opts or MatrixOptions()
    jobs = add_companion_jobs(jobs, store, opts.anchors)
    reporter = reporter or Reporter()
    if opts.backend not in BACKENDS:
        raise UnknownNameError("backend", opts.backend, BACKENDS)
    done, pending = plan_attempts(jobs, store, opts)
    groups: dict[str, list[Attempt]] = {}
    for a in pending:
        groups.setdefault(train_group(a.job), []).append(a)
    parallel = opts.jobs if opts.backend == "local" else 0
    reporter.begin(len(jobs), done, parallel)
    payloads = list(done)

    def finish(payload: dict[str, Any]) -> None:
        write_result(store, payload)
        payloads.append(payload)
        reporter.finished(payload)

    try:
        if opts.backend == "local" and opts.jobs <= 1:
            for group in groups.values():
                run_attempts(group, str(store.root), opts, on_done=finish, on_start=reporter.started,
                             progress_for=lambda j: lambda log, j=j: reporter.epoch(j, log))
        elif groups:
            plugins = {kind: registry.registry(kind).entries() for kind in ("method", "task", "dataset")}
            stop = threading.Event()
            poller = threading.Thread(target=_poll_beats, args=(store, reporter, stop), daemon=True)
            poller.start()
            try:
                for result in _parallel(list(groups.values()), str(store.root.resolve()), opts, plugins):
                    for payload in result:
                        if payload.get("skipped"):
                            payloads.append(payload)
                        else:
                            finish(payload)
            finally:
                stop.set()
                poller.join(timeout=2)
    finally:
        reporter.end()
    order = {j.key: i for i, j in enumerate(jobs)}

    def position(p: dict[str, Any]) -> tuple[int, int]:  # the matrix's order, retries after their job
        retry = p.get("retry") or {}
        return order.get(retry.get("of", p.get("key")), len(order)), retry.get("attempt", 0)

    return sorted(payloads, key=position)
