"""Jobs in worker processes: local joblib workers and a real dask cluster (two worker
processes on loopback) give the same numbers as running in-process, the jobs really ran in
the workers, and results come back to the one store. Ray: only where it is installed (slow)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import runner_plugins  # noqa: E402

from nvbench.cli import main  # noqa: E402
from nvbench.expand import RunRequest, expand  # noqa: E402
from nvbench.matrix import run_matrix  # noqa: E402
from nvbench.results import Store  # noqa: E402
from nvbench.schedule import MatrixOptions  # noqa: E402

runner_plugins.register()


def smoke_matrix():
    # two sequences x two tasks that share one training each: 4 jobs, 2 trainings
    return expand(RunRequest(methods=["hnerv"], tasks=["reconstruction", "probe"], datasets=["tiny"],
                             sequences=["tiny:all"], preset="smoke", epochs=2, seeds=[1]))


def numbers(payloads):
    out = {}
    for p in payloads:
        for r in p["records"]:
            out[p["key"]] = (r["status"], r.get("psnr"), r.get("ms_ssim"), r.get("train_loss"), r.get("params"))
    return out


def assert_store_whole(store: Store, n: int) -> None:
    items = store.iter_jobs()
    assert len(items) == n and all(payload is not None for _, payload, _ in items)
    assert not list(store.jobs_dir.glob(".*"))  # no temporary files left


def reference(tmp_path):
    jobs = smoke_matrix()
    ref = run_matrix(jobs, Store(tmp_path / "inproc"))
    assert all(p["provenance"]["pid"] == os.getpid() for p in ref)
    expected = numbers(ref)
    assert len(expected) == 4 and all(v[0] == "ok" for v in expected.values())
    return jobs, expected


def test_dask_cluster_matches_in_process(tmp_path):
    distributed = pytest.importorskip("distributed")
    jobs, expected = reference(tmp_path)
    # a real dask cluster: two worker processes on loopback, one thread each
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        assert len(worker_pids) == 2 and os.getpid() not in worker_pids
        dask_store = Store(tmp_path / "dask")
        out = run_matrix(jobs, dask_store, MatrixOptions(backend="dask", scheduler=cluster.scheduler_address))
    assert numbers(out) == expected
    pids = {p["provenance"]["pid"] for p in out}
    assert pids <= worker_pids and os.getpid() not in pids  # ran in the workers, not the client
    assert {p["provenance"]["backend"] for p in out} == {"dask"}
    assert_store_whole(dask_store, 4)
    # the probe of each sequence loaded the representation its reconstruction trained
    assert sorted(r["reused_model"] for p in out for r in p["records"]) == [False, False, True, True]


@pytest.mark.slow
def test_local_workers_match_in_process(tmp_path):
    jobs, expected = reference(tmp_path)
    # local joblib workers (loky processes), threads per worker = cores // 2
    loky_store = Store(tmp_path / "loky")
    out = run_matrix(jobs, loky_store, MatrixOptions(jobs=2))
    assert numbers(out) == expected
    assert all(p["provenance"]["pid"] != os.getpid() for p in out)
    assert {p["provenance"]["torch_threads"] for p in out} == {max(1, (os.cpu_count() or 1) // 2)}
    assert_store_whole(loky_store, 4)


def test_unreachable_scheduler_is_one_clear_line(tmp_path, capsys):
    pytest.importorskip("distributed")
    code = main(["run", "-m", "hnerv", "-t", "sleep", "-d", "tiny", "--preset", "smoke", "--quiet",
                 "--results", str(tmp_path), "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9",
                 "--connect-timeout", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("nvbench: error: cannot reach the dask scheduler at tcp://127.0.0.1:9")
    assert not (tmp_path / "jobs").exists()


@pytest.mark.slow
def test_ray_backend_matches_in_process(tmp_path):
    ray = pytest.importorskip("ray")
    jobs = smoke_matrix()
    expected = numbers(run_matrix(jobs, Store(tmp_path / "inproc")))
    # a local ray; its workers find the test plugins through PYTHONPATH (run_matrix reuses this ray)
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": str(HERE)}})
    try:
        out = run_matrix(jobs, Store(tmp_path / "ray"), MatrixOptions(backend="ray"))
    finally:
        ray.shutdown()
    assert numbers(out) == expected
    assert all(p["provenance"]["pid"] != os.getpid() for p in out)
    assert {p["provenance"]["backend"] for p in out} == {"ray"}
    assert {p["provenance"]["torch_threads"] for p in out} == {1}  # a ray task reserves one CPU
