"""A worker process: its own device (one GPU each where there are several), the parent's
plugins and host-allocator setting, and how many torch threads it runs."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from nvbench import registry
from nvbench.hostmem import retain_freed_memory

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


def threads_per_worker(threads: int | None, slots: int | dict[str, int] | None) -> int:
    """Torch threads for this worker: `threads` (--threads) if given, else this machine's cores
    divided by the task slots on it (an int: local worker processes; a dict: dask's slots per
    host; None: the task reserved one CPU, as ray's do, so one thread). The one place that
    decides the default, so changing it is one edit."""
    if threads:
        return threads
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


def torch_threads() -> int | None:
    """The torch threads this process runs with (None before torch is imported)."""
    return sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
