"""Running a matrix of jobs: resume from the store, add the companion jobs tasks need, run the
worker groups in this process or on a backend, tell a Reporter (the live view) what happens,
and write every result here, as it arrives."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from nvbench import registry
from nvbench.backends import BACKENDS, run_groups
from nvbench.errors import UnknownNameError
from nvbench.expand import add_companion_jobs
from nvbench.jobrun import write_result
from nvbench.jobs import Job
from nvbench.results import Store
from nvbench.schedule import Attempt, MatrixOptions, plan_attempts, run_attempts, train_group


class Reporter:
    """What run_matrix tells a live view; this base says nothing (quiet mode)."""

    def begin(self, total: int, skipped: list[dict[str, Any]], parallel: int) -> None: ...

    def started(self, job: Job, attempt: int = 0) -> None: ...

    def epoch(self, job: Job, log: dict[str, Any]) -> None: ...

    def beats(self, beats: list[dict[str, Any]]) -> None: ...

    def finished(self, payload: dict[str, Any]) -> None: ...

    def end(self) -> None: ...


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
                for result in run_groups(list(groups.values()), str(store.root.resolve()), opts, plugins):
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
