"""The `nvbench` command: run | list, plus the subcommands of nvbench/commands/."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from nvbench import registry
from nvbench.errors import NvbenchError
from nvbench.hostmem import retain_freed_memory
from nvbench.presets import DEFAULT_PRESET, PRESETS, format_size, parse_size
from nvbench.results import DEFAULT_RESULTS


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _settings(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise NvbenchError(f"--set takes KEY=VALUE, got {p!r}")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def cmd_list(args: argparse.Namespace) -> int:
    for kind in ("method", "task", "dataset"):
        reg = registry.registry(kind)
        print(f"{kind}s:")
        for name in reg.names():
            plugin = reg.plugin(name)
            ok, reason = plugin.availability()
            obj = plugin.load() if ok else None
            desc = getattr(obj, "description", "") or getattr(getattr(obj, "card", None), "title", "")
            state = "available" if ok else f"unavailable: {reason}"
            print(f"  {name:<22} {state}" + (f"  — {desc}" if desc and ok else ""))
            if args.options and obj is not None and kind in ("method", "task"):
                _print_options(obj)
    print("presets:")
    for p in PRESETS.values():
        print(f"  {p.name:<22} {p.description}; sizes {', '.join(format_size(s) for s in p.sizes)}")
    return 0


def _print_options(cls: Any) -> None:
    """Each `--set` option of a plugin: its default and what is allowed (from its declarations)."""
    from nvbench.options import describe

    for key, default in getattr(cls, "options", {}).items():
        allowed = describe(key, default, cls.option_choices.get(key), cls.option_ranges.get(key), cls.option_types)
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        print(f"      --set {key}={shown}  ({allowed})")


def cmd_run(args: argparse.Namespace) -> int:
    from nvbench.expand import RunRequest, expand
    from nvbench.matrix import run_matrix
    from nvbench.results import Store
    from nvbench.schedule import MatrixOptions
    from nvbench.table import render_by_task

    if args.config:
        from nvbench.runconfig import apply_config

        apply_config(args, args.run_parser, args.config, args.argv)
    if not args.method:
        raise NvbenchError("nvbench run needs --method (or `method = [...]` in the --config file)")
    from nvbench import checks

    v = check_run_args(args)
    req = RunRequest(
        methods=_csv(args.method), tasks=_csv(args.task), datasets=_csv(args.dataset),
        sequences=_csv(args.sequence) if args.sequence else None, preset=args.preset,
        sizes=[parse_size(s) for s in _csv(args.size)] if args.size else None,
        seeds=v["seeds"], recipe=args.recipe, epochs=v["epochs"], resolution=v["resolution"],
        crop=v["crop"], frames=v["frames"], settings=_settings(args.set),
        budget_seconds=v["budget_seconds"], amp=args.amp,
    )
    jobs = expand(req)
    checks.check_memory(jobs, args.device)
    checks.writable_folder("--results", args.results, create=not args.dry_run)
    if args.dry_run:
        for j in jobs:
            print(f"{j.key}  {j.label()}")
        print(f"{len(jobs)} jobs")
        return 0
    from nvbench.progress import make_reporter

    store = Store(args.results)
    t0 = time.perf_counter()
    if args.threads:  # the user's count stays; without it, each CPU training calibrates (nvbench/threads.py)
        from nvbench.threads import set_mode

        set_mode("fixed")
    opts = MatrixOptions(force=args.force, device=args.device, channels_last=not args.no_channels_last,
                         retry_diverged=args.retry_diverged, jobs=args.jobs, backend=args.backend,
                         scheduler=args.scheduler, address=args.address, threads=args.threads,
                         connect_timeout=args.connect_timeout, anchors=v["anchors"])
    payloads = run_matrix(jobs, store, opts, make_reporter(args.quiet))
    records = [r for p in payloads for r in p.get("records", [])]
    skipped = sum(1 for p in payloads if p.get("skipped"))
    print()
    print(render_by_task(records))
    for t_name in dict.fromkeys(str(r.get("task")) for r in records):  # e.g. BD-rate of compression runs
        summary = getattr(registry.tasks.get(t_name), "summary", None) if t_name in registry.tasks.names() else None
        text = (summary(records, store, anchors=v["anchors"]) if v["anchors"] else summary(records, store)) \
            if summary else ""
        if text:
            print(f"\n{text}")
    not_applicable = {(r["method"], r["task"], r.get("reason")) for r in records if r.get("status") == "not_applicable"}
    for method, task, reason in sorted(not_applicable, key=str):
        print(f"{method}/{task}: not applicable: {reason}")
    failed = [r for r in records if r.get("status") in ("failed", "diverged")]
    for r in failed:
        print(f"{r['method']}/{r['task']}: {r['status']}: {r.get('reason')}")
    print(f"\n{len(payloads)} jobs ({skipped} already in the store) in {_duration(time.perf_counter() - t0)}; "
          f"results in {store.jobs_dir}/")
    print(f"report: nvbench report --results {store.root}  (writes reports/index.html)")
    return 1 if failed and len(failed) == len(records) else 0


def check_run_args(args: argparse.Namespace) -> dict[str, Any]:
    """Every value of `nvbench run` (command line or --config) checked before any work: one
    CheckError naming the flag, the value and what is allowed. Returns the parsed values."""
    from nvbench import checks

    checks.int_at_least("--jobs", args.jobs, 1)
    checks.int_at_least("--threads", args.threads, 1)
    checks.int_at_least("--retry-diverged", args.retry_diverged, 0)
    checks.positive_seconds("--connect-timeout", args.connect_timeout)
    checks.check_device("--device", args.device)
    if args.size is not None and not _csv(str(args.size)):
        raise checks.CheckError(f"--size {args.size!r}: expected sizes like 94k,188k or 1.5M")
    return {
        "epochs": checks.int_at_least("--epochs", args.epochs, 1),
        "frames": checks.int_at_least("--frames", args.frames, 1),
        "seeds": checks.seeds("--seed", args.seed),
        "resolution": checks.hw("--resolution", args.resolution) if args.resolution is not None else None,
        "crop": checks.crop("--crop", args.crop),
        "budget_seconds": checks.positive_seconds("--budget-seconds", args.budget_seconds),
        "anchors": _anchors(args.anchor),
    }


def _anchors(value: str | None) -> tuple[str, ...]:
    """`--anchor x265,vvenc`: registered method names (an unknown one is an error with a suggestion)."""
    names = tuple(dict.fromkeys(_csv(value))) if value else ()
    for name in names:
        registry.methods.get(name)  # UnknownNameError names the closest methods
    return names


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is one `--help` away), exit code 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nvbench", description="Benchmark neural video representations.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run methods x tasks on a dataset and store the results")
    r.add_argument("--method", "-m", help="comma-separated method names (nvbench list)")
    r.add_argument("--config", help="a TOML (or YAML) file holding these flags; the command line overrides it")
    r.add_argument("--task", "-t", default="reconstruction", help="comma-separated task names")
    r.add_argument("--dataset", "-d", default="bunny", help="comma-separated dataset names")
    r.add_argument("--sequence", help="comma-separated sequences (default: the dataset's first)")
    r.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS))
    r.add_argument("--size", help="stored-parameter budgets, e.g. 94k,188k or 1.5M (default: the preset's)")
    r.add_argument("--seed", default="1", help="comma-separated seeds")
    r.add_argument("--recipe", default="paper", help="'paper' (each method's own) or 'shared' (HNeRV's)")
    r.add_argument("--epochs", type=int, help="override the preset's epochs")
    r.add_argument("--resolution", help="HxW after the crop (area resize), overrides the preset")
    r.add_argument("--crop", help="'paper' or 'full' (default: the preset's)")
    r.add_argument("--frames", type=int, help="use only the first N frames")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="method or task option")
    r.add_argument("--anchor", help="extra BD-rate anchors of the compression summary, comma-separated, e.g. "
                                    "vvenc (their jobs are added when the store has none; in no job key)")
    r.add_argument("--budget-seconds", type=float, help="train for this wall-clock time instead of epochs")
    r.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    r.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps or auto")
    r.add_argument("--amp", choices=["bf16", "fp16"],
                   help="mixed precision (autocast) for training and decoding; part of the job key and "
                        "recorded as `amp` (default: float32)")
    r.add_argument("--threads", type=int, help="torch threads per worker, fixed (default: cores // workers, and "
                   "each CPU training first times a few steps at that count, one fewer, half and one, and trains at "
                   "the fastest)")
    r.add_argument("--jobs", "-j", type=int, default=1, help="local worker processes running jobs in parallel")
    r.add_argument("--backend", default="local", choices=["local", "dask", "ray"],
                   help="where jobs run: local processes, a dask.distributed cluster or a ray cluster")
    r.add_argument("--scheduler", help="dask scheduler address, tcp://HOST:PORT (with --backend dask)")
    r.add_argument("--address", help="ray cluster address, e.g. auto or ray://HOST:10001 (with --backend ray)")
    r.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to reach the dask scheduler")
    r.add_argument("--retry-diverged", type=int, default=0, metavar="N",
                   help="retry a diverged training up to N times with a new seed (both are recorded)")
    r.add_argument("--no-channels-last", action="store_true", help="keep NCHW memory layout")
    r.add_argument("--force", action="store_true", help="re-run jobs already in the store")
    r.add_argument("--dry-run", action="store_true", help="list the jobs and their keys, run nothing")
    r.add_argument("--quiet", "-q", action="store_true", help="no per-epoch lines")
    r.set_defaults(func=cmd_run, run_parser=r)

    ls = sub.add_parser("list", help="registered methods, tasks, datasets and presets")
    ls.add_argument("--options", action="store_true",
                    help="also each method's and task's --set options: default and allowed values")
    ls.set_defaults(func=cmd_list)
    _add_command_modules(sub)
    return p


def _add_command_modules(sub: Any) -> None:
    """Every module in nvbench/commands/ with `register(subparsers)` adds its subcommands
    (data, report, compare, decode, ...), so new commands never edit this file."""
    import importlib
    import pkgutil

    import nvbench.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"nvbench.commands.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    raw = list(sys.argv[1:] if argv is None else argv)
    args.argv = raw[raw.index(args.command) + 1:] if args.command in raw else raw
    retain_freed_memory()  # before any tensor exists: see nvbench/hostmem.py
    try:
        return args.func(args)
    except NvbenchError as exc:
        print(f"nvbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nvbench: interrupted; finished jobs are in the store", file=sys.stderr)
        return 130


def console() -> int:
    """The `nvbench` command: `main`, then a quick exit. After a run the heap holds torch's and
    its compiler's millions of objects, and the interpreter's shutdown ran its cyclic collector
    over all of them again and again (1.0-1.5 s of every `nvbench run` that trained, measured with
    perf: gc_collect_main). Frozen, they are left to reference counting, which frees the same
    objects; files and the store were written and closed before this point."""
    import gc

    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(console())
