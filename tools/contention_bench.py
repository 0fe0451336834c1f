"""Training speed on a shared machine: steps/s alone, beside busy processes and beside a second training.

    python tools/contention_bench.py [--methods hnerv,nerv] [--preset cpu] [--seconds 8] [--warmup 1]
        [--threads cores,cores-1] [--policies default,active,passive] [--competitors none,busy,nice2,twin]
        [--code LABEL=DIR ...] [--rev REV[=LABEL] ...] [--json out.json]

What is timed is `nvbench speed`'s training step (nvbench.speed.MethodBench: the shared loop's
optimiser and loss, one batch per step) on the real Bunny frames at the preset's geometry. Every
setting (method, torch threads, OpenMP wait policy, code) runs in its own fresh Python child with
its environment (OpenMP reads OMP_WAIT_POLICY / GOMP_SPINCOUNT when its runtime starts); that child
is measured once per competitor: after `--warmup` seconds of steps, the steps done in a wall window
of `--seconds` are counted. Competitors, started by this tool in their own process groups and
killed after each cell (also on Ctrl-C, and by the kernel if this tool dies):

    none    nothing
    busy    one CPU-bound Python process at normal priority (a browser, a build)
    nice2   two CPU-bound processes at nice 19 (background jobs that asked to yield)
    twin    a second child with the same setting, training without pause (nvbench --jobs 2, a second user)

Policies: default (the library's own), active, passive (OMP_WAIT_POLICY), spin=N (GOMP_SPINCOUNT=N,
libgomp's busy-wait iterations before sleeping). --code runs the children from another checkout
(PYTHONPATH), --rev from a git worktree of a revision (tools/speed_ab.py's helpers); settings
alternate between codes, so before and after see the same machine. Timings of one run are
comparable with each other; a run on a busy machine says so in its load averages.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOLS = Path(__file__).resolve().parent
REPO = TOOLS.parent
COMPETITORS = ("none", "busy", "nice2", "twin")
SPIN = "while True:\n    pass\n"
#: seconds a child takes to import torch and build the method's step (HNeRV's export encodes every
#: frame), and a cell's overhead beyond warm-up + window (cpu preset, 2-core machine, CPU seconds)
STARTUP_S = 8.0
CELL_OVERHEAD_S = 0.7


@dataclass(frozen=True)
class Setting:
    method: str
    threads: int
    policy: str
    code: str  # label of the checkout the child imports nvbench from


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def parse_threads(text: str) -> list[int]:
    """'cores,cores-1,1' -> distinct thread counts (at least 1), in order."""
    out: list[int] = []
    for item in text.split(","):
        item = item.strip().replace(" ", "")
        if item == "auto":  # nvbench's default: calibrate at the start of each cell (nvbench/threads.py)
            n = 0
        elif item == "cores":
            n = cores()
        elif item.startswith("cores-") and item[6:].isdigit():
            n = max(1, cores() - int(item[6:]))
        elif item.isdigit() and int(item) >= 1:
            n = int(item)
        else:
            raise ValueError(f"--threads: {item!r} is not a count >= 1, 'cores', 'cores-K' or 'auto'")
        if n not in out:
            out.append(n)
    return out


def policy_env(policy: str) -> dict[str, str]:
    """OpenMP environment of a wait policy name (see the module docstring)."""
    if policy == "default":
        return {}
    if policy in ("active", "passive"):
        return {"OMP_WAIT_POLICY": policy.upper()}
    if policy.startswith("spin=") and policy[5:].isdigit():
        return {"GOMP_SPINCOUNT": policy[5:]}
    raise ValueError(f"--policies: {policy!r} is not one of default, active, passive, spin=N")


def child_env(setting: Setting, code_dir: Path | None) -> dict[str, str]:
    from speed_ab import code_env

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    n = setting.threads or cores()  # auto: the worker's count is the most the calibration tries
    env.update(OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n),
               **policy_env(setting.policy))
    return code_env(code_dir, env) if code_dir is not None else env


def estimate_seconds(settings: int, competitors: list[str], warmup: float, seconds: float,
                     ncores: int | None = None) -> float:
    """Wall time of a run: per setting one child start-up (the twin starts beside it, in parallel
    where there are 2 cores), per cell warm-up + window + overhead."""
    cell = warmup + seconds + CELL_OVERHEAD_S
    twin = "twin" in competitors and (ncores or cores()) < 2
    return settings * ((1 + twin) * STARTUP_S + len(competitors) * cell)


# --- processes ---------------------------------------------------------------------------------------

_LIVE: list[subprocess.Popen] = []


def _child_setup(nice: int = 0) -> None:
    """In the forked child: die with this tool (Linux PR_SET_PDEATHSIG), and lower the priority."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if nice:
        os.nice(nice)


def spawn(cmd: list[str], nice: int = 0, **kw: Any) -> subprocess.Popen:
    """A process in its own session (so its group can be killed whole), remembered for cleanup."""
    p = subprocess.Popen(cmd, start_new_session=True, preexec_fn=lambda: _child_setup(nice), **kw)
    _LIVE.append(p)
    return p


def kill(p: subprocess.Popen) -> None:
    """Kill a process's whole group and reap it (a second call does nothing)."""
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            p.kill()
    p.wait()
    for f in (p.stdin, p.stdout):
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()
    if p in _LIVE:
        _LIVE.remove(p)


def kill_all() -> None:
    for p in list(_LIVE):
        kill(p)


class Child:
    """A measuring child (this file with --child) that imports nvbench from one checkout."""

    def __init__(self, setting: Setting, code_dir: Path | None, preset: str, frames: Path, log: Path):
        self.setting, self.code_dir, self.log = setting, code_dir, log
        self.err = open(log, "ab")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", setting.method, preset, str(setting.threads),
               str(frames)]
        self.proc = spawn(cmd, bufsize=0, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                          env=child_env(setting, code_dir), cwd=str(code_dir or REPO))
        self.hello: dict[str, Any] = {}

    def ready(self) -> dict[str, Any]:
        """Wait for the child's hello (it has built the step and taken two)."""
        self.hello = self.read(timeout=600)
        where = Path(self.hello["nvbench"]).resolve()
        if self.code_dir is not None and not where.is_relative_to(self.code_dir.resolve()):
            raise RuntimeError(f"child imported nvbench from {where}, not from {self.code_dir}")
        return self.hello

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def read(self, timeout: float) -> dict[str, Any]:
        """The child's next JSON line; an error with its stderr's tail if it dies or stalls."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            ready = select.select([self.proc.stdout], [], [], max(0.0, left))[0] if left > 0 else []
            line = self.proc.stdout.readline() if ready else b""
            if line.strip().startswith(b"{"):
                return json.loads(line)
            if not ready or not line:
                self.err.flush()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.setting}: child {'stalled' if not ready else 'exited'}; stderr:\n{tail}")

    def measure(self, warmup: float, seconds: float) -> dict[str, Any]:
        self.send(f"measure {warmup} {seconds}")
        return self.read(timeout=120 + 20 * (warmup + seconds))

    def close(self) -> None:
        kill(self.proc)
        self.err.close()


@contextlib.contextmanager
def competitor(kind: str, twin: Child | None = None):
    """Start the competing processes of `kind` (twin: the ready child to set training); yield their
    pids; kill them, whatever happens."""
    procs: list[subprocess.Popen] = []
    try:
        if kind == "busy":
            procs.append(spawn([sys.executable, "-c", SPIN]))
        elif kind == "nice2":
            procs += [spawn([sys.executable, "-c", SPIN], nice=19) for _ in range(2)]
        elif kind == "twin":
            assert twin is not None
            procs.append(twin.proc)
            twin.send("spin")
        if procs:
            time.sleep(0.3)  # let the scheduler see them
        yield [p.pid for p in procs]
    finally:
        if twin is not None:
            twin.close()
        for p in procs:
            kill(p)


# --- the measuring child -----------------------------------------------------------------------------


def _threading() -> dict[str, Any]:
    """What this child runs with (the checkout's provenance fields where it has them)."""
    import torch

    try:
        from nvbench.provenance import threading_info

        return threading_info()
    except ImportError:  # an older checkout
        return {"torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY") or "default",
                "gomp_spincount": os.environ.get("GOMP_SPINCOUNT")}


def bunny_frames(preset_name: str, path: Path) -> Path:
    """The preset's Bunny frames (uint8 T,H,W,3) written once to `path` for every child (decoding
    and resizing them costs a child seconds)."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from nvbench.data.local import get_dataset
    from nvbench.presets import get_preset

    preset = get_preset(preset_name)
    geo = preset.geometry_for("bunny")
    video = get_dataset("bunny").load().select(preset.frames).crop_resize(geo.crop, geo.resolution)
    np.save(path, np.ascontiguousarray(video.frames))
    return path


def child_main(method_name: str, preset_name: str, threads: int, frames_path: str) -> int:
    """Build the method's timed step on the frames, say hello, then obey 'measure W T' / 'spin' / 'quit'."""
    import inspect

    t0 = time.perf_counter()
    import numpy as np
    import torch

    auto = threads == 0
    torch.set_num_threads(threads or cores())
    import nvbench
    from nvbench import registry
    from nvbench.presets import get_preset
    from nvbench.speed import MethodBench

    frames = np.load(frames_path)
    t, h, w = frames.shape[:3]
    real = "video" in inspect.signature(MethodBench.build).parameters  # an older checkout: random frames
    bench = MethodBench.build(registry.methods.get(method_name), t, h, w, get_preset(preset_name).default_size,
                              **({"video": frames} if real else {}))
    step = bench.step
    step()
    step()

    def say(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    say({"ready": True, "pid": os.getpid(), "batch": bench.batch, "frames": "bunny" if real else "random",
         "height": h, "width": w, "nvbench": nvbench.__file__, "startup_s": round(time.perf_counter() - t0, 2),
         **_threading()})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "spin":
            if auto:  # a second training calibrates when it starts, too
                from nvbench.threads import calibrate

                calibrate(step, cores(), torch.set_num_threads)
            while True:
                step()
        warmup, seconds = float(cmd[1]), float(cmd[2])
        chosen = {}
        if auto:  # what a training does when it starts: time a few steps per count, keep the fastest
            from nvbench.threads import calibrate

            torch.set_num_threads(cores())
            cal = calibrate(step, cores(), torch.set_num_threads)
            chosen = {"chosen_threads": cal.chosen, "calibration_s": round(cal.seconds, 3)}
        n, t = 0, time.perf_counter()
        while n < 2 or time.perf_counter() - t < warmup:
            step()
            n += 1
        load_start, cpu0 = list(os.getloadavg()), time.process_time()
        n, t = 0, time.perf_counter()
        while True:
            step()
            n += 1
            dt = time.perf_counter() - t
            if dt >= seconds:
                break
        say({"steps": n, "seconds": round(dt, 4), "steps_per_s": n / dt, "frames_per_s": n * bench.batch / dt,
             "cpu_per_wall": round((time.process_time() - cpu0) / dt, 3), "load_start": load_start,
             "load_end": list(os.getloadavg()), **chosen})
    return 0


# --- the run and its tables --------------------------------------------------------------------------


def run(settings: list[Setting], codes: dict[str, Path | None], competitors: list[str], preset: str,
        warmup: float, seconds: float, frames: Path, log: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every setting's cells. A twin starts beside the measured child and its cell comes first: an
    idle child's OpenMP threads may spin (ACTIVE), so it must not wait through the other cells."""
    cells: list[dict[str, Any]] = []
    hellos: list[dict[str, Any]] = []
    order = sorted(competitors, key=lambda k: k != "twin")
    for s in settings:
        child = Child(s, codes[s.code], preset, frames, log)
        twin = Child(s, codes[s.code], preset, frames, log) if "twin" in competitors else None
        try:
            hellos.append({"method": s.method, "threads": s.threads or "auto", "policy": s.policy, "code": s.code,
                           **child.ready()})
            if twin is not None:
                twin.ready()
            for kind in order:
                with competitor(kind, twin if kind == "twin" else None) as pids:
                    res = child.measure(warmup, seconds)
                cells.append({"method": s.method, "threads": s.threads or "auto", "policy": s.policy, "code": s.code,
                              "competitor": kind, "competitor_pids": pids, **res})
                print(f"{s.method:8s} threads {s.threads} {s.policy:8s} {s.code:10s} {kind:6s} "
                      f"{res['steps_per_s']:7.2f} steps/s  load {res['load_start'][0]:.2f}", file=sys.stderr,
                      flush=True)
        finally:
            child.close()
            if twin is not None:
                twin.close()
    return cells, hellos


def summarise(cells: list[dict[str, Any]], competitors: list[str]) -> list[dict[str, Any]]:
    """One row per (method, code, threads, policy): alone rates, idle loss vs the fastest alone
    setting of the same method and code, and per competitor the rate and slowdown (alone / with)."""
    rows: dict[tuple, dict[str, Any]] = {}
    for c in cells:
        key = (c["method"], c["code"], c["threads"], c["policy"])
        row = rows.setdefault(key, dict(zip(("method", "code", "threads", "policy"), key)))
        row[f"{c['competitor']}_steps_per_s"] = c["steps_per_s"]
        row[f"{c['competitor']}_load"] = c["load_start"][0]
        if c.get("chosen_threads") is not None:  # auto: the count the calibration chose in each cell
            row["chosen"] = "/".join(filter(None, [row.get("chosen"), f"{c['competitor']}:{c['chosen_threads']}"]))
        if c["competitor"] == "none":
            row["frames_per_s"] = c["frames_per_s"]
    out = list(rows.values())
    for r in out:
        alone = r.get("none_steps_per_s")
        best = max((o.get("none_steps_per_s") or 0.0 for o in out
                    if (o["method"], o["code"]) == (r["method"], r["code"])), default=0.0)
        r["idle_loss"] = 1.0 - alone / best if alone and best else None
        for k in competitors:
            with_k = r.get(f"{k}_steps_per_s")
            if k != "none":
                r[f"{k}_slowdown"] = alone / with_k if alone and with_k else None
    return out


def markdown(rows: list[dict[str, Any]], competitors: list[str], several_codes: bool) -> str:
    """One markdown table per method."""
    sys.path.insert(0, str(REPO))
    from nvbench.table import fmt

    cols = [("threads", "threads", 0), ("policy", "wait policy", 0)]
    cols = ([("code", "code", 0)] if several_codes else []) + cols
    if "none" in competitors:
        cols += [("none_steps_per_s", "alone steps/s", 2), ("frames_per_s", "alone frames/s", 1),
                 ("idle_loss", "idle loss", 3)]
    for k in competitors:
        if k != "none":
            cols += [(f"{k}_steps_per_s", f"{k} steps/s", 2)]
            if "none" in competitors:
                cols += [(f"{k}_slowdown", f"{k} ×", 2)]
    cols += [(f"{k}_load", f"load 1m {k}", 2) for k in competitors]
    if any(r.get("chosen") for r in rows):
        cols += [("chosen", "auto chose", 0)]
    blocks = []
    for method in dict.fromkeys(r["method"] for r in rows):
        lines = [f"**{method}**", "", "| " + " | ".join(h for _, h, _ in cols) + " |",
                 "|" + "|".join("---" if k in ("code", "policy") else "--:" for k, _, _ in cols) + "|"]
        for r in rows:
            if r["method"] == method:
                lines.append("| " + " | ".join(fmt(r.get(k), d) for k, _, d in cols) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], argv[2], int(argv[3]), argv[4])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="hnerv,nerv")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", default="cores,cores-1", help="torch threads: counts, 'cores', 'cores-K'")
    ap.add_argument("--policies", default="default,active,passive")
    ap.add_argument("--competitors", default=",".join(COMPETITORS))
    ap.add_argument("--seconds", type=float, default=8.0, help="timed wall window per cell")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of steps before each window")
    ap.add_argument("--code", action="append", default=[], metavar="LABEL=DIR", help="a checkout to measure")
    ap.add_argument("--rev", action="append", default=[], metavar="REV[=LABEL]", help="a revision to measure")
    ap.add_argument("--json", type=Path, help="also write every cell and child as JSON")
    args = ap.parse_args(argv)
    try:
        threads = parse_threads(args.threads)
        policies = [p.strip() for p in args.policies.split(",") if p.strip()]
        for p in policies:
            policy_env(p)
        competitors = [c.strip() for c in args.competitors.split(",") if c.strip()]
        if bad := [c for c in competitors if c not in COMPETITORS]:
            raise ValueError(f"--competitors: {bad[0]!r} is not one of {', '.join(COMPETITORS)}")
        if not (args.seconds > 0 and args.warmup >= 0):
            raise ValueError("--seconds must be > 0 and --warmup >= 0")
        codes: dict[str, Path | None] = {}
        for spec in args.code:
            label, sep, path = spec.partition("=")
            label, path = (label, path) if sep else (Path(spec).name, spec)
            if not (Path(path) / "nvbench" / "__init__.py").is_file():
                raise ValueError(f"--code: {path} is not an nvbench checkout (no nvbench/__init__.py)")
            codes[label] = Path(path).resolve()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    # this process's own OpenMP (if anything here starts one) must never spin beside the children;
    # each child gets its own setting (child_env)
    os.environ.update(OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    sys.path.insert(0, str(TOOLS))
    from speed_ab import add_worktrees, remove_worktrees

    tmp = Path(tempfile.mkdtemp(prefix="contention-"))
    trees = add_worktrees(REPO, args.rev, tmp) if args.rev else {}
    codes.update(trees)
    if not codes:
        codes["here"] = None
    settings = [Setting(m, t, p, c) for m in methods for t in threads for p in policies for c in codes]
    est = estimate_seconds(len(settings), competitors, args.warmup, args.seconds)
    print(f"{len(settings)} setting(s) x {len(competitors)} competitor(s) = {len(settings) * len(competitors)} cells; "
          f"estimated {est / 60:.1f} min", file=sys.stderr, flush=True)

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also where it was inherited ignored (cmd &)
    t0 = time.perf_counter()
    try:
        frames = bunny_frames(args.preset, tmp / "frames.npy")
        cells, hellos = run(settings, codes, competitors, args.preset, args.warmup, args.seconds, frames,
                            tmp / "child.log")
    finally:
        kill_all()
        remove_worktrees(REPO, trees)
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.perf_counter() - t0
    rows = summarise(cells, competitors)
    print(markdown(rows, competitors, len(codes) > 1))
    first = hellos[0] if hellos else {}
    print(f"\n{args.preset} preset, {first.get('height')}x{first.get('width')} {first.get('frames')} frames; "
          f"{cores()} cores; OpenMP {first.get('openmp_runtime') or 'unknown'}; window {args.seconds:g} s after "
          f"{args.warmup:g} s warm-up per cell; x = alone / with; idle loss = 1 - alone / the fastest alone setting; "
          f"load 1m = 1-min load average at the window's start; took {wall / 60:.1f} min (estimated {est / 60:.1f})")
    if args.json:
        args.json.write_text(json.dumps({"argv": argv, "cores": cores(), "estimate_s": est, "wall_s": wall,
                                         "codes": {k: str(v) if v else str(REPO) for k, v in codes.items()},
                                         "children": hellos, "cells": cells, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every process this tool started is killed", file=sys.stderr)
        sys.exit(130)
