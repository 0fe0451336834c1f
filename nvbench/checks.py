"""Checks of command-line values, devices, paths and memory, made before any work starts.

Each failure is a `CheckError` whose message is one line naming the option, the value and what
is allowed; the CLI prints it and exits with code 2. Pure Python except `check_device` and
`check_memory` on a GPU (they import torch only for a device other than the CPU).
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nvbench.errors import NvbenchError

SEED_MAX = 2**32 - 1  # numpy's seed range (torch accepts it too)


class CheckError(NvbenchError):
    """A command-line value, device or path that cannot work; the message says what is allowed."""


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def int_at_least(flag: str, value: Any, lo: int, hi: int | None = None) -> int | None:
    """None stays None; otherwise an int in lo..hi (booleans and non-integral numbers refused)."""
    if value is None:
        return None
    allowed = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        number = int(value.strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise CheckError(f"{flag} {_show(value)}: expected {allowed}") from None
    if number < lo or (hi is not None and number > hi):
        raise CheckError(f"{flag} {_show(value)}: expected {allowed}")
    return number


def positive_seconds(flag: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not math.isfinite(number) or number <= 0:
        raise CheckError(f"{flag} {_show(value)}: expected a finite number of seconds > 0")
    return number


def seeds(flag: str, text: str) -> list[int]:
    parts = [t.strip() for t in str(text).split(",") if t.strip()]
    if not parts:
        raise CheckError(f"{flag} {_show(text)}: expected comma-separated integers in 0..{SEED_MAX}")
    out = []
    for p in parts:
        try:
            n = int(p)
        except ValueError:
            raise CheckError(f"{flag} {text}: {p!r} is not an integer; expected comma-separated integers "
                             f"in 0..{SEED_MAX}") from None
        if not 0 <= n <= SEED_MAX:
            raise CheckError(f"{flag} {text}: {n} is outside 0..{SEED_MAX}")
        out.append(n)
    return out


_HW = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")


def hw(flag: str, text: str) -> tuple[int, int]:
    """'HxW' with both sides >= 1."""
    m = _HW.fullmatch(str(text))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise CheckError(f"{flag} {_show(text)}: expected HEIGHTxWIDTH with both >= 1, e.g. 160x320")
    return int(m.group(1)), int(m.group(2))


def crop(flag: str, text: str | None) -> str | tuple[int, int] | None:
    """'paper', 'full' or HxW."""
    if text is None:
        return None
    word = str(text).strip().lower()
    if word in ("paper", "full"):
        return word
    if _HW.fullmatch(word):
        return hw(flag, word)
    raise CheckError(f"{flag} {_show(text)}: expected paper, full or HEIGHTxWIDTH (e.g. 640x1280)")


# ------------------------------------------------------------------------------- devices

_DEVICE = re.compile(r"(cpu|cuda|mps)(?::(\d+))?")


def available_devices() -> list[str]:
    """What torch can see here: cpu, cuda:0.., mps."""
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def check_device(flag: str, device: str) -> str:
    """cpu, cuda, cuda:N, mps or auto, and present here (torch is imported only for a non-CPU device)."""
    name = str(device).strip().lower()
    if name in ("cpu", "auto"):
        return name
    m = _DEVICE.fullmatch(name)
    if not m or (m.group(1) == "cpu" and m.group(2)):
        raise CheckError(f"{flag} {_show(device)}: expected cpu, cuda, cuda:N, mps or auto")
    import torch

    kind, index = m.group(1), m.group(2)
    available = available_devices()
    if kind == "cuda" and not torch.cuda.is_available():
        build = (f"torch {torch.__version__} is built without CUDA" if torch.version.cuda is None
                 else f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU")
        raise CheckError(f"{flag} {device}: CUDA is not available here ({build}); available: {', '.join(available)}")
    if kind == "cuda" and index is not None and int(index) >= torch.cuda.device_count():
        raise CheckError(f"{flag} {device}: no such GPU; available: {', '.join(available)}")
    if kind == "mps" and "mps" not in available:
        raise CheckError(f"{flag} {device}: MPS is not available here; available: {', '.join(available)}")
    return name


# ------------------------------------------------------------------------------- paths


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def writable_folder(flag: str, path: str | Path, create: bool) -> Path:
    """A folder that is (or can become) writable: not a file, not under a file, writable. With
    `create` it is made and a probe file is written and removed (that catches read-only mounts,
    which os.access cannot see for root); without, nothing on disk changes."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CheckError(f"{flag} {path}: is a file, not a folder")
    base = _first_existing(path.absolute())
    if not base.is_dir():
        raise CheckError(f"{flag} {path}: {base} is a file, so no folder can be made under it")
    if not os.access(base, os.W_OK | os.X_OK):
        raise CheckError(f"{flag} {path}: {base} is not writable")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=path, prefix=".nvbench-write-check-")
            try:
                os.write(fd, b"ok")
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as exc:
            raise CheckError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def existing_file(flag: str, path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise CheckError(f"{flag} {path}: no such file")
    if not path.is_file():
        raise CheckError(f"{flag} {path}: is a folder, not a file")
    return path


def existing_folder(flag: str, path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise CheckError(f"{flag} {path}: no such folder")
    if not path.is_dir():
        raise CheckError(f"{flag} {path}: is a file, not a folder")
    return path


def disk_errors(what: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """A command whose writes may meet a full disk or a read-only mount: such an OSError becomes
    one line ("cannot write <what>: No space left on device: FILE") instead of a traceback."""
    def wrap(command: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> int:
            try:
                return command(*args, **kwargs)
            except OSError as exc:
                where = f": {exc.filename}" if exc.filename else ""
                raise CheckError(f"cannot write {what}: {exc.strerror or exc}{where}") from None
        return run
    return wrap


# ------------------------------------------------------------------------------- memory

#: bytes per trained parameter: float32 weights, gradients and Adam's two moments
BYTES_PER_PARAM = 4 * 4


def available_memory(device: str) -> tuple[int | None, str]:
    """(bytes available, what was measured) on the device that will run the jobs; None: unknown."""
    name = str(device).lower()
    if name.startswith("cuda") or name == "auto":
        try:
            import torch

            if torch.cuda.is_available():
                index = int(name.split(":")[1]) if ":" in name else 0
                free, _ = torch.cuda.mem_get_info(index)
                return int(free), f"cuda:{index} has {free / 1e9:.1f} GB free"
        except Exception:  # no driver: the device check already said so
            return None, "unknown"
    if name.startswith("mps"):
        return None, "unknown"
    try:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh if line.split()[1:2]}
        free = info.get("MemAvailable")
        if free is not None:
            return free, f"this machine has {free / 1e9:.1f} GB available"
    except (OSError, ValueError, IndexError):
        pass
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return int(free), f"this machine has {free / 1e9:.1f} GB available"
    except (ValueError, OSError, AttributeError):
        return None, "unknown"


def memory_estimate(params: int | None, batch: int, frames: int, height: int, width: int) -> int:
    """A lower bound of a job's memory in bytes: its parameters with gradients and Adam state,
    one batch of activations (input, output and its gradient, float32) and the video (uint8)."""
    pixels = height * width * 3
    return (params or 0) * BYTES_PER_PARAM + batch * pixels * 4 * 3 + frames * pixels


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB"


def check_memory(jobs: Iterable[Any], device: str) -> None:
    """Refuse a job whose lower-bound estimate (from its plan) exceeds the memory of the device."""
    from nvbench import registry
    from nvbench.jobs import canonical_json
    from nvbench.methods import REPRESENTATION
    from nvbench.presets import PRESETS

    free, where = available_memory(device)
    if free is None:
        return
    seen: set[tuple] = set()
    for job in jobs:
        h, w = job.resolution or job.crop or (None, None)
        if h is None or not job.frames:
            continue
        ident = (job.method, job.frames, h, w, job.size, canonical_json(job.method_options), job.preset)
        if ident in seen:
            continue
        seen.add(ident)
        method = registry.methods.get(job.method)
        params, batch = None, 1
        if job.size is not None and method.has(REPRESENTATION):
            try:
                params = int(method.plan(job.frames, h, w, job.size, job.method_options).get("params") or 0)
            except (NvbenchError, ValueError, NotImplementedError):
                params = None
            preset = PRESETS.get(job.preset)
            batch = (preset.batch_size if preset and preset.batch_size else None) or \
                (method.recipe.batch_size if method.recipe else 1)
        need = memory_estimate(params, batch, job.frames, h, w)
        if need > free:
            what = f"{params:,} parameters x {BYTES_PER_PARAM} bytes + " if params else ""
            size = f"--size {job.size}, " if job.size is not None else ""
            raise CheckError(f"{size}--resolution {h}x{w}: {job.method} needs at least {_gb(need)} "
                             f"({what}one batch of {batch} frames + {job.frames} frames of video) but {where}")
