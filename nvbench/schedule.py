"""Scheduling a matrix's jobs: what is left to run (resume), the retries of a diverged job
(a new seed each), which jobs share a worker (those that may share a trained model), and
running a list of attempts in one worker.

Who writes what: each job's JSON is written only by the process that owns the store (the one
running `nvbench run`), from the payload a worker returns, atomically (temporary file + fsync +
rename), so no two processes ever write the same job file. Workers write only below
models/<train-key>/ (checkpoints, the trained model; atomic renames) and artifacts/<job-key>/,
which on a cluster must be a shared folder for resume to find them, and small heartbeat files
below running/ that the live view reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from nvbench import registry
from nvbench.data.local import get_dataset
from nvbench.errors import NvbenchError
from nvbench.expand import working_size
from nvbench.jobrun import Heartbeat, payload_status, run_job
from nvbench.jobs import Job
from nvbench.methods import REPRESENTATION
from nvbench.results import Store
from nvbench.trainkey import group_key, job_recipe, model_identity
from nvbench.workers import setup_worker, threads_per_worker, torch_threads, worker_device

RETRY_SEED_STRIDE = 1000


def retry_seed(seed: int, attempt: int) -> int:
    """The seed of retry `attempt` (1, 2, ...) of a diverged job. Deterministic, so a resumed
    run finds the retries it already finished in the store."""
    return seed + RETRY_SEED_STRIDE * attempt


def train_group(job: Job) -> str:
    """The worker group of a job. Jobs that may share one trained representation (the
    reconstruction, compression and convergence of one training configuration; fit.py caches it
    under models/<train-key>/) run one after another in the same worker, so it is trained once
    and the others load it, instead of two workers training it at the same time. The rule is the
    trainer's own (nvbench.trainkey.model_identity) without the task's split, which only the
    running task knows (inpainting's masks): jobs that train on other frames of the same
    configuration share a group (they run in turn), never the reverse. A job that trains
    nothing (a codec, a task that does not train, a task the method cannot run) is its own group."""
    try:
        method, task = registry.methods.get(job.method), registry.tasks.get(job.task)
        if not (method.has(REPRESENTATION) and task.trains) or task.not_applicable(method):
            return job.key
        height, width = _frame_size(job.dataset, job.sequence, job.crop, job.resolution)
        config = method.plan(job.frames, height, width, job.size, job.method_options)
    except (NvbenchError, ValueError, OSError):
        return job.key  # the job fails on its own when it runs
    return group_key(model_identity(job, config, job_recipe(job, method)))


@lru_cache(maxsize=256)
def _frame_size(dataset: str, sequence: str, crop: tuple[int, int] | None,
                resolution: tuple[int, int] | None) -> tuple[int, int]:
    """The (height, width) of a job's frames once loaded (the card is read only for a job at
    the clip's own size)."""
    def native() -> tuple[int, int]:
        info = get_dataset(dataset).card.sequence(sequence)
        return info.height, info.width

    return working_size(crop, resolution, native)


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
    """How a matrix runs (none of it enters a job key)."""

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


def run_attempts(attempts: Sequence[Attempt], root: str, opts: MatrixOptions,
                 plugins: dict[str, dict[str, str]] | None = None, slots: int | dict[str, int] | None = 1,
                 progress_for: Callable[[Job], Callable | None] | None = None,
                 on_done: Callable[[dict[str, Any]], None] | None = None,
                 on_start: Callable[[Job, int], None] | None = None) -> list[dict[str, Any]]:
    """Run attempts one after another (in a worker, or in the parent), retrying diverged ones
    with a new seed up to `opts.retry_diverged` times. Returns the payloads; writes nothing to
    jobs/ itself (`on_done` does, in the parent)."""
    threads = threads_per_worker(opts.threads, slots) if progress_for is None else opts.threads
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
                                             torch_threads=torch_threads())
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
