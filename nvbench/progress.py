"""Progress of a matrix run: a live view (rich) on a terminal, plain lines in logs, nothing
when quiet. The runner calls a Reporter; it never prints itself."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from nvbench.jobrun import payload_status
from nvbench.jobs import Job
from nvbench.matrix import Reporter


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _psnr(payload: dict[str, Any]) -> str:
    vals = [r["psnr"] for r in payload.get("records", []) if isinstance(r.get("psnr"), (int, float))]
    return f"PSNR {vals[-1]:.2f} dB" if vals else ""


class Counts(Reporter):
    """Bookkeeping shared by the views: done / running / failed, and the time left."""

    def __init__(self) -> None:
        self.total = self.done = self.failed = self.diverged = self.skipped = 0
        self.parallel = 1
        self.t0 = time.perf_counter()
        self.job_seconds: list[float] = []
        self.running: dict[str, dict[str, Any]] = {}  # key -> label, epoch, epochs, psnr, eta
        self.retries: set[str] = set()

    def begin(self, total: int, skipped: list[dict[str, Any]], parallel: int) -> None:
        self.total, self.parallel, self.t0 = total, max(1, parallel), time.perf_counter()
        self.skipped = len(skipped)
        self.done = len(skipped)

    def started(self, job: Job, attempt: int = 0) -> None:
        if attempt:
            self._count_retry(job.key)
        self.running = {job.key: {"label": job.label(), "epoch": 0, "epochs": job.epochs}}

    def _count_retry(self, key: str) -> None:
        """A retry of a diverged job is one more job than the matrix had."""
        if key not in self.retries:
            self.retries.add(key)
            self.total += 1

    def epoch(self, job: Job, log: dict[str, Any]) -> None:
        ev = log.get("eval") or {}
        self.running[job.key] = {"label": job.label(), "epoch": log["epoch"], "epochs": log.get("epochs"),
                                 "train_psnr": log.get("train_psnr"), "psnr": ev.get("psnr"), "eta": log.get("eta")}

    def beats(self, beats: list[dict[str, Any]]) -> None:
        self.running = {b["key"]: b for b in beats}

    def finished(self, payload: dict[str, Any]) -> None:
        self.running.pop(payload.get("key", ""), None)
        if payload.get("retry"):
            self._count_retry(payload.get("key", ""))
        self.done += 1
        status = payload_status(payload)
        self.failed += status == "failed"
        self.diverged += status == "diverged"
        self.job_seconds.append(payload.get("provenance", {}).get("seconds") or 0.0)

    def eta(self) -> float | None:
        """Mean time of the jobs finished in this run x jobs left / workers."""
        left = max(0, self.total - self.done)
        if not left:
            return 0.0
        if not self.job_seconds:
            etas = [r.get("eta") for r in self.running.values() if r.get("eta") is not None]
            return max(etas) if etas else None
        mean = sum(self.job_seconds) / len(self.job_seconds)
        return mean * left / self.parallel

    def status_line(self) -> str:
        return (f"{self.done}/{self.total} done ({self.skipped} from the store), {len(self.running)} running, "
                f"{self.failed} failed, {self.diverged} diverged; elapsed {duration(time.perf_counter() - self.t0)}, "
                f"left ~{duration(self.eta())}")


class PlainReporter(Counts):
    """Plain lines for logs and pipes: a line per job start and end, and per epoch."""

    def __init__(self, stream: TextIO | None = None):
        super().__init__()
        self.stream = stream or sys.stdout
        self.seen: dict[str, int] = {}

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def started(self, job: Job, attempt: int = 0) -> None:
        super().started(job, attempt)
        self._print(f"[{self.done + 1}/{self.total}] {job.label()}  (epochs {job.epochs}, key {job.key})")

    def epoch(self, job: Job, log: dict[str, Any]) -> None:
        super().epoch(job, log)
        self._print(self._epoch_line(log, ""))

    def _epoch_line(self, log: dict[str, Any], prefix: str) -> str:
        total = log.get("epochs")
        ep = f"{log['epoch']}/{total}" if total else f"{log['epoch']}"
        parts = [f"  {prefix}epoch {ep:>9}"]
        if log.get("loss") is not None:
            parts.append(f"loss {log['loss']:.5f}")
        if log.get("train_psnr") is not None:
            parts.append(f"train PSNR {log['train_psnr']:6.2f} dB")
        if log.get("seconds") is not None:
            parts.append(f"{log['seconds']:.1f} s/epoch")
        if log.get("eta") is not None:
            parts.append(f"left {duration(log['eta'])}")
        ev = log.get("eval") or ({"psnr": log["psnr"]} if log.get("psnr") is not None else {})
        if ev.get("psnr") is not None:
            parts.append(f"eval PSNR {ev['psnr']:.2f} dB")
        return "  ".join(parts)

    def beats(self, beats: list[dict[str, Any]]) -> None:
        super().beats(beats)
        for b in beats:  # workers: print what changed since the last poll
            if self.seen.get(b["key"]) != b.get("epoch"):
                self.seen[b["key"]] = b.get("epoch")
                if b.get("epoch"):
                    self._print(self._epoch_line(b, f"{b['label']}  "))
                else:
                    self._print(f"  started {b['label']} (pid {b.get('pid')})")

    def finished(self, payload: dict[str, Any]) -> None:
        super().finished(payload)
        status = payload_status(payload)
        secs = payload.get("provenance", {}).get("seconds")
        self._print(f"  done {payload.get('label')}: {status} {_psnr(payload)} in {duration(secs)}  "
                    f"[{self.status_line()}]")


class LiveReporter(Counts):
    """A live rich view on a terminal: the counts, the time left, and every running job with
    its epoch and PSNR."""

    def __init__(self, console: Any = None) -> None:
        super().__init__()
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.live = Live(console=self.console, refresh_per_second=4, get_renderable=self._render,
                         transient=True)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_header=bool(self.running))
        for col in ("running job", "epoch", "train PSNR", "eval PSNR", "job left"):
            table.add_column(col)
        for r in list(self.running.values()):
            ep = f"{r.get('epoch', 0)}/{r['epochs']}" if r.get("epochs") else str(r.get("epoch", 0))
            tp = f"{r['train_psnr']:.2f}" if r.get("train_psnr") is not None else "-"
            ev = f"{r['psnr']:.2f}" if r.get("psnr") is not None else "-"
            table.add_row(r.get("label", "?"), ep, tp, ev, duration(r.get("eta")))
        return Group(Text(self.status_line(), style="bold"), table)

    def begin(self, total: int, skipped: list[dict[str, Any]], parallel: int) -> None:
        super().begin(total, skipped, parallel)
        self.live.start()

    def finished(self, payload: dict[str, Any]) -> None:
        super().finished(payload)
        status = payload_status(payload)
        style = {"ok": "green", "failed": "red", "diverged": "yellow"}.get(status, "")
        secs = payload.get("provenance", {}).get("seconds")
        self.console.print(f"[{style}]{status:>8}[/] {payload.get('label')}  {_psnr(payload)}  {duration(secs)}",
                           highlight=False)

    def end(self) -> None:
        self.live.stop()


def make_reporter(quiet: bool = False, stream: TextIO | None = None) -> Reporter:
    """Quiet: nothing; a terminal: the live view (when rich is installed); else plain lines."""
    if quiet:
        return Counts()
    stream = stream or sys.stdout
    if stream.isatty():
        try:
            return LiveReporter()
        except ImportError:
            pass
    return PlainReporter(stream)
