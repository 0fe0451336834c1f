"""Runner benchmarks: the runner's own overhead per job, `--dry-run` of a 1,000-job matrix,
and peak memory per job. Run with `pytest -m bench -s tests/test_runner_bench.py` (the
figures are printed and stored in the benchmark JSON's extra_info)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import runner_plugins  # noqa: E402

from nvbench.expand import RunRequest, expand  # noqa: E402
from nvbench.matrix import run_matrix  # noqa: E402
from nvbench.results import Store  # noqa: E402

pytestmark = pytest.mark.bench
runner_plugins.register()


def overhead(jobs, store):
    t0 = time.perf_counter()
    out = run_matrix(jobs, store)
    wall = time.perf_counter() - t0
    own = sum(p["provenance"]["seconds"] for p in out)
    return wall, own, out


@pytest.mark.parametrize("seconds, count", [(0.5, 10), (30.0, 2)])
def test_bench_runner_overhead(benchmark, tmp_path, seconds, count):
    """Jobs that only sleep: everything else on the wall clock is the runner's."""
    jobs = expand(RunRequest(methods=["hnerv"], tasks=["sleep"], datasets=["tiny"], preset="smoke",
                             seeds=list(range(1, count + 1)), settings={"seconds": seconds}))
    wall, own, _ = benchmark.pedantic(overhead, args=(jobs, Store(tmp_path)), rounds=1, iterations=1)
    per_job = (wall - own) / count
    share = (wall - own) / wall
    benchmark.extra_info.update(wall_s=wall, jobs_s=own, overhead_per_job_s=per_job, overhead_share=share)
    print(f"\n{count} jobs of {seconds} s: wall {wall:.2f} s, jobs {own:.2f} s, "
          f"overhead {per_job * 1000:.1f} ms/job ({share:.2%})")
    assert per_job < 1.0
    if seconds >= 30:
        assert share < 0.05


def test_bench_runner_overhead_training_jobs(benchmark, tmp_path):
    """Real (tiny) training jobs in-process: the overhead is what the runner adds around them."""
    jobs = expand(RunRequest(methods=["hnerv"], datasets=["tiny"], sequences=["tiny:all"], preset="smoke",
                             epochs=3, seeds=[1, 2]))
    wall, own, out = benchmark.pedantic(overhead, args=(jobs, Store(tmp_path)), rounds=1, iterations=1)
    per_job = (wall - own) / len(jobs)
    peaks = [p["provenance"]["peak_rss_mb"] for p in out]
    benchmark.extra_info.update(wall_s=wall, jobs_s=own, overhead_per_job_s=per_job, peak_rss_mb=peaks)
    print(f"\n{len(jobs)} training jobs: wall {wall:.2f} s, jobs {own:.2f} s, overhead {per_job * 1000:.1f} ms/job; "
          f"peak RSS per job {', '.join(f'{p:.0f}' for p in peaks)} MB")
    assert per_job < 1.0
    assert all(p > 50 for p in peaks)  # recorded per job (torch alone is more than this)


def test_bench_dry_run_1000_jobs(benchmark):
    """`nvbench run --dry-run` of 1 method x 10 sizes x 100 seeds on Bunny, in a fresh process."""
    sizes = ",".join(f"{s}k" for s in range(94, 194, 10))
    argv = [sys.executable, "-m", "nvbench.cli", "run", "-m", "hnerv", "-d", "bunny", "--preset", "cpu",
            "--size", sizes, "--seed", ",".join(str(s) for s in range(1, 101)), "--dry-run"]

    def dry():
        t0 = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        return time.perf_counter() - t0, out.stdout

    seconds, stdout = benchmark.pedantic(dry, rounds=3, iterations=1)
    assert stdout.strip().splitlines()[-1] == "1000 jobs"
    best = benchmark.stats["min"] if benchmark.stats else seconds
    benchmark.extra_info["seconds"] = seconds
    print(f"\ndry-run of 1000 jobs: {seconds:.2f} s (best of 3: {best:.2f} s)")
    assert best < 2.0
