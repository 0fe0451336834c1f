"""Keep freed host memory in the process instead of handing it back to the kernel.

Why: glibc serves every allocation above its mmap threshold (128 KiB at start, at most 32 MiB
after adapting) with a fresh mmap and returns it with munmap on free. A decoder's activations
at 160x320 (batch 8) are 2-20 MB each, so every batch touched ~40 MB of new pages: ~9,600
minor page faults per batch, measured to cost HNeRV's decode a third of its time on this
machine (tests/test_hostmem.py counts the faults; `nvbench speed` shows the frames/s). Raising
the mmap and trim thresholds makes glibc reuse its heap, so the pages stay mapped after the
first batch. The cost is that the process keeps its peak heap until it exits — what a
benchmark process wants anyway.

Only glibc (Linux) has mallopt; elsewhere, or with NVBENCH_RETAIN_HOST_MEMORY=0, nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: allocations below this come from the heap (reused); larger ones still use mmap
MMAP_THRESHOLD = 1 << 30
#: free memory at the top of the heap is only returned to the kernel above this
TRIM_THRESHOLD = (1 << 31) - 1

_state: dict[str, str] = {}


def retain_freed_memory() -> str:
    """Set glibc's thresholds once per process; returns what the process's allocator now does
    (recorded in each job's provenance)."""
    if "setting" in _state:
        return _state["setting"]
    if os.environ.get("NVBENCH_RETAIN_HOST_MEMORY", "1") == "0":
        setting = "default (NVBENCH_RETAIN_HOST_MEMORY=0)"
    elif not sys.platform.startswith("linux"):
        setting = "default (not glibc)"
    else:
        setting = _mallopt()
    _state["setting"] = setting
    return setting


def _mallopt() -> str:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "default (no mallopt)"
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return "glibc heap retained (mmap threshold 1 GiB)" if ok else "default (mallopt refused)"


def current_setting() -> str:
    """What retain_freed_memory() did in this process ('default' if it was never called)."""
    return _state.get("setting", "default")
