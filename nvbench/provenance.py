"""Provenance recorded with every job: versions, commit, device, machine, times."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nvbench
from nvbench.hostmem import current_setting


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_commit() -> str | None:
    here = Path(nvbench.__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux VmHWM) so the next `peak_rss_mb` is one job's peak
    even in a worker that already ran other jobs. False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory since the last `reset_peak_rss` (else since the process started)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


#: CPU flags that select SIMD code paths in encoders and BLAS (x264's bytes depend on them)
SIMD_FLAGS = ("sse2", "ssse3", "sse4_1", "sse4_2", "avx", "fma", "bmi2", "avx2", "avx512f", "avx512bw",
              "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "neon", "asimd", "sve")


def cpu_info() -> dict[str, Any]:
    """CPU model (with family/model/stepping, as names like "Xeon Processor" say little) and its
    SIMD flags (Linux /proc/cpuinfo, first processor; elsewhere the platform's processor name),
    plus a digest of the whole flag list, so two machines' encoder bytes can be told apart."""
    import hashlib

    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name") or fields.get("Processor") or platform.processor() or None
    ids = [f"{k} {fields[k]}" for k in ("cpu family", "model", "stepping") if k in fields]
    have = set((fields.get("flags") or fields.get("Features") or "").split())
    return {"cpu_model": f"{model} ({', '.join(ids)})" if model and ids else model,
            "cpu_simd": " ".join(f for f in SIMD_FLAGS if f in have) or None,
            "cpu_flags_sha256": hashlib.sha256(" ".join(sorted(have)).encode()).hexdigest()[:16] if have else None}


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (runnable processes): a timing taken at load 4 on
    2 cores is a busy machine's, not a slow method's. None where the platform has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def cpu_ticks() -> tuple[int, int] | None:
    """(all, steal) clock ticks of every CPU since boot, from /proc/stat's first line. Steal is
    time the hypervisor gave this virtual machine's CPUs to someone else: on a cloud VM it is
    how a host's other tenants slow a timing while the load average stays low. None off Linux."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(ticks), ticks[7]


def steal_percent(start: tuple[int, int] | None, end: tuple[int, int] | None = None) -> float | None:
    """Percent of all CPU time between two `cpu_ticks` snapshots that the hypervisor stole
    (None without both, or with no ticks between them)."""
    end = cpu_ticks() if end is None else end
    if start is None or end is None or end[0] <= start[0]:
        return None
    return round(100.0 * (end[1] - start[1]) / (end[0] - start[0]), 1)


#: OpenMP runtimes by the file name prefix of their shared library
OPENMP_LIBRARIES = (("libgomp", "GNU libgomp"), ("libiomp", "Intel libiomp"), ("libomp", "LLVM libomp"))


def openmp_runtime() -> str | None:
    """The OpenMP runtime loaded in this process, e.g. "GNU libgomp (libgomp.so.1)": its wait
    policy decides what threads do at a barrier (spin or sleep), which is what a busy machine
    punishes. Linux: from /proc/self/maps; elsewhere, or before torch is imported, None."""
    try:
        with open("/proc/self/maps") as fh:
            libs = {line.rsplit("/", 1)[-1].strip() for line in fh if "omp" in line and "/" in line}
    except OSError:
        return None
    for prefix, name in OPENMP_LIBRARIES:
        for lib in sorted(libs):
            if lib.startswith(prefix) and ".so" in lib:
                return f"{name} ({lib})"
    return None


def threading_info() -> dict[str, Any]:
    """The threads a timing ran with: torch's intra-op and inter-op threads, the OpenMP runtime
    and its wait policy (OMP_WAIT_POLICY as set, else "default"; libgomp's GOMP_SPINCOUNT where set)."""
    info: dict[str, Any] = {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or "default",
                            "gomp_spincount": os.environ.get("GOMP_SPINCOUNT") or None}
    if "torch" in sys.modules:
        import torch

        info.update(torch_threads=torch.get_num_threads(), torch_interop_threads=torch.get_num_interop_threads(),
                    openmp_runtime=openmp_runtime())
    return info


def timing_line(start: list[float] | None, info: dict[str, Any] | None = None,
                ticks_at_start: tuple[int, int] | None = None) -> str:
    """One line saying under which conditions timings were taken (`nvbench speed` prints it)."""
    info = threading_info() if info is None else info
    end = load_average()
    steal = steal_percent(ticks_at_start)

    def fmt(la: list[float] | None) -> str:
        return " ".join(f"{x:.2f}" for x in la) if la else "n/a"

    spin = f", GOMP_SPINCOUNT {info['gomp_spincount']}" if info.get("gomp_spincount") else ""
    stolen = f"; CPU steal {steal:.1f} % (the hypervisor's other tenants)" if steal is not None else ""
    return (f"load average (1/5/15 min) {fmt(start)} at start, {fmt(end)} at end on {os.cpu_count()} cores{stolen}; "
            f"torch threads {info.get('torch_threads')}, interop {info.get('torch_interop_threads')}; "
            f"OpenMP {info.get('openmp_runtime') or 'unknown'}, OMP_WAIT_POLICY {info['omp_wait_policy']}{spin}")


def environment(device: str | None = None, load_at_start: list[float] | None = None,
                ticks_at_start: tuple[int, int] | None = None) -> dict[str, Any]:
    """What a job ran on. `load_at_start` and `ticks_at_start`: the load averages and `cpu_ticks`
    when the job began (the runner reads them then; this is called at its end, which gives
    `load_average_end` and the CPU steal over the job, `cpu_steal_percent`)."""
    end = load_average()
    info: dict[str, Any] = {
        "nvbench_version": nvbench.__version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "host_allocator": current_setting(),
        **cpu_info(),
        "load_average": load_at_start if load_at_start is not None else end,
        "load_average_end": end,
        "cpu_steal_percent": steal_percent(ticks_at_start),
        **threading_info(),
    }
    if "torch" in sys.modules:
        import torch

        info["torch_version"] = torch.__version__
        if device and device.startswith("cuda") and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info
