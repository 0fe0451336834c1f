"""The main job's wall time at git revisions, measured as alternating fresh-store runs.

    python tools/mainjob_ab.py 278841c=before HEAD=after --pairs 3 [-- EXTRA nvbench run ARGS]

Each revision is checked out into a temporary git worktree (tools/speed_ab.py's helpers). Each
pair runs `nvbench run --method hnerv --task compression` on a fresh store once per revision, one
revision after the other (A, B, A, B, ...): this host drifts by ±20 % between minutes, so runs
alternate instead of running all of A first. For every run it prints the wall time, the CPU steal
during it (/proc/stat: time the hypervisor gave other virtual machines), the representation's
training seconds, the rest of its job, and the codec jobs' seconds, from the jobs' JSON files.
Then it compares each run's records with the first revision's run of the same pair
(tools/records_diff.py: timings and paths left out) and says whether they are identical; the
exit code is 1 when they are not. --keep keeps the stores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records_diff import differences, store_records  # noqa: E402
from speed_ab import add_worktrees, code_env, remove_worktrees  # noqa: E402

from nvbench.provenance import cpu_ticks, steal_percent  # noqa: E402


def run_once(tree: Path, store: Path, args: list[str]) -> dict:
    """One fresh-store run of the checkout at `tree`: wall seconds, steal and per-job seconds."""
    cmd = [sys.executable, "-m", "nvbench.cli", "run", *args, "--results", str(store)]
    ticks, t0 = cpu_ticks(), time.perf_counter()
    out = subprocess.run(cmd, env=code_env(tree), cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-800:]}")
    jobs = {}
    for path in sorted((store / "jobs").glob("*.json")):
        payload = json.loads(path.read_text())
        rec = payload["records"][0]
        train = rec.get("train_seconds") if not rec.get("reused_model") else None
        jobs[rec["method"]] = {"seconds": payload["provenance"]["seconds"], "train_seconds": train}
    return {"wall": wall, "steal": steal_percent(ticks), "jobs": jobs}


def describe(label: str, run: dict) -> str:
    parts = [f"{label:10s} wall {run['wall']:7.1f} s", f"steal {run['steal'] if run['steal'] is not None else '-'} %"]
    for method, job in run["jobs"].items():
        if job["train_seconds"] is not None:
            rest = job["seconds"] - job["train_seconds"]
            parts.append(f"{method}: training {job['train_seconds']:.1f} s + rest {rest:.1f} s")
        else:
            parts.append(f"{method}: {job['seconds']:.1f} s")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("revisions", nargs="+", help="git revisions (a label may follow as REV=LABEL)")
    ap.add_argument("--pairs", type=int, default=3, help="alternating rounds (one run per revision each)")
    ap.add_argument("--method", default="hnerv")
    ap.add_argument("--task", default="compression")
    ap.add_argument("--keep", action="store_true", help="keep the stores (printed) instead of removing them")
    args = ap.parse_args(argv)
    if args.pairs < 1:
        ap.error(f"--pairs must be at least 1, got {args.pairs}")
    repo = Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp(prefix="mainjob-ab-"))
    trees = add_worktrees(repo, args.revisions, tmp)
    run_args = ["--method", args.method, "--task", args.task, *extra]
    identical = True
    try:
        for pair in range(1, args.pairs + 1):
            stores = {}
            for label, tree in trees.items():
                stores[label] = tmp / f"store-{pair}-{label}"
                print(f"pair {pair} {describe(label, run_once(tree, stores[label], run_args))}", flush=True)
            first, *rest = stores
            for label in rest:
                diff = differences(store_records(stores[first]), store_records(stores[label]))
                identical &= not diff
                said = "identical (timings and paths left out)" if not diff else f"{len(diff)} differences: {diff[:3]}"
                print(f"pair {pair} records {first} vs {label}: {said}", flush=True)
    finally:
        remove_worktrees(repo, trees)
        if args.keep:
            print(f"stores kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
