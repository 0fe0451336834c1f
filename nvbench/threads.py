"""Torch's CPU thread count for a training, chosen by measuring before it starts.

Why: torch's intra-op parallel regions end at an OpenMP barrier. On a machine where another
program holds one of the cores, every barrier waits for the thread the scheduler has handed to
that program, and a training that uses all cores runs several times slower than one that uses
only the free ones. So in `auto` mode (the default) a CPU training first times a few real
training steps at each candidate count (all cores of the worker, one fewer, half, one), in
alternating rounds, on a copy of its state that is thrown away, and trains at the fastest; the
worker's full count wins unless another is faster by `margin`.

Why once, not continuously: a float reduction split over a different number of threads sums in
another order, so the weights of a run depend on the thread counts it used (HNeRV's conv-bias
gradients differ in the last bits at 1 vs 2 threads). Fixed for the whole training, the count
makes a run reproducible: the result is the one `--threads N` gives with the recorded count
(`threads` in the job's records and provenance), on an idle machine always the full count.

A user's explicit `--threads N` fixes the count (no calibration).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: process-wide mode, set where a worker is set up: "auto" (calibrate) or "fixed"
_MODE = {"mode": os.environ.get("NVBENCH_THREADS_MODE", "auto")}


def set_mode(mode: str) -> None:
    """`auto`: a CPU training picks its thread count by measuring; `fixed`: the count set stays."""
    if mode not in ("auto", "fixed"):
        raise ValueError(f"thread mode must be auto or fixed, not {mode!r}")
    _MODE["mode"] = mode
    os.environ["NVBENCH_THREADS_MODE"] = mode  # worker processes started later inherit it


def mode() -> str:
    return _MODE["mode"]


def candidates(max_threads: int) -> list[int]:
    """The counts tried: the worker's count first, then one fewer, half and one."""
    out: list[int] = []
    for n in (max_threads, max_threads - 1, max_threads // 2, 1):
        if n >= 1 and n not in out:
            out.append(n)
    return out


def run_for(step: Callable[[], None], seconds: float, min_steps: int = 1,
            clock: Callable[[], float] = time.perf_counter) -> tuple[int, float]:
    """Call `step` until at least `min_steps` calls and `seconds` have passed: (calls, seconds).
    The one timed window of the calibration and of `nvbench speed` (nvbench.speed.best_time)."""
    t0, n = clock(), 0
    while True:
        step()
        n += 1
        dt = clock() - t0
        if n >= min_steps and dt >= seconds:
            return n, dt


@dataclass
class Calibration:
    chosen: int
    max_threads: int
    steps_per_s: dict[int, float] = field(default_factory=dict)  # best window per count
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"threads": self.chosen, "max_threads": self.max_threads, "seconds": round(self.seconds, 3),
                "steps_per_s": {str(k): round(v, 3) for k, v in self.steps_per_s.items()}}


def calibrate(step: Callable[[], None], max_threads: int, set_threads: Callable[[int], None],
              clock: Callable[[], float] = time.perf_counter, rounds: int = 2, min_steps: int = 3,
              window: float = 0.25, margin: float = 1.05, max_steps: int | None = None) -> Calibration:
    """Time `step` (one training step of the real work) at each candidate count in `rounds`
    alternating rounds: one untimed step after each change (a new thread team), then a window of
    at least `min_steps` steps and `window` seconds. `max_steps`: what the calibration may spend in
    steps at most (a training of few, long steps — C3's whole-video steps — calibrates in one round
    of fewer steps). Leaves the chosen count set."""
    t_start = clock()
    best: dict[int, float] = {}
    counts = candidates(max_threads)
    if max_steps is not None and rounds * len(counts) * (1 + min_steps) > max_steps:
        rounds, min_steps = 1, max(1, max_steps // len(counts) - 1)
    for _ in range(rounds):
        for n in counts:
            set_threads(n)
            step()
            k, dt = run_for(step, window, min_steps, clock)
            best[n] = max(best.get(n, 0.0), k / max(dt, 1e-9))
    chosen = max_threads
    for n in counts[1:]:
        if best[n] > best[chosen] * margin and best[n] >= max(best.values()):
            chosen = n
    set_threads(chosen)
    return Calibration(chosen, max_threads, best, clock() - t_start)


def wants_calibration(device_type: str) -> int | None:
    """The worker's thread count when a training here should calibrate (CPU, `auto` mode, more
    than one thread), else None."""
    if device_type != "cpu" or mode() != "auto":
        return None
    import torch

    n = torch.get_num_threads()
    return n if n > 1 else None
