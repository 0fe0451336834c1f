"""The benchmark matrix: expansion, dry-run without torch, config files, resume, shared
training, divergence retries, the store's writers, bad input, progress output."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import runner_plugins  # noqa: E402

from nvbench import registry  # noqa: E402
from nvbench.cli import main  # noqa: E402
from nvbench.errors import SizeError, UnknownNameError  # noqa: E402
from nvbench.expand import RunRequest, expand, select_sequences  # noqa: E402
from nvbench.jobrun import StoreWriteError  # noqa: E402
from nvbench.matrix import run_matrix  # noqa: E402
from nvbench.progress import Counts, LiveReporter, PlainReporter  # noqa: E402
from nvbench.results import Store, write_json_atomic  # noqa: E402
from nvbench.schedule import MatrixOptions, retry_seed, train_group  # noqa: E402
from nvbench.workers import claim_device_slot  # noqa: E402

runner_plugins.register()

TINY = dict(datasets=["tiny"], preset="smoke")


def tiny_jobs(**kw):
    return expand(RunRequest(**{"methods": ["hnerv"], "sequences": ["alpha"], **TINY, **kw}))


# --- the matrix -----------------------------------------------------------------------------

def test_sequences_apply_per_dataset():
    cards = {"bunny": registry.datasets.get("bunny").card, "tiny": registry.datasets.get("tiny").card}
    # a name goes to the datasets that have it; a dataset none of the names belong to runs its default
    assert select_sequences(cards, ["beta"]) == {"bunny": ["bunny"], "tiny": ["beta"]}
    assert select_sequences(cards, None) == {"bunny": ["bunny"], "tiny": ["alpha"]}
    assert select_sequences(cards, ["tiny:all"]) == {"bunny": ["bunny"], "tiny": ["alpha", "beta"]}
    assert select_sequences(cards, ["ALPHA", "bunny"]) == {"bunny": ["bunny"], "tiny": ["alpha"]}
    with pytest.raises(UnknownNameError, match="did you mean 'beta'"):
        select_sequences(cards, ["betta"])
    with pytest.raises(UnknownNameError, match="dataset"):
        select_sequences(cards, ["uvgx:beauty"])


def test_expand_counts_the_full_product():
    jobs = expand(RunRequest(methods=["hnerv"], tasks=["reconstruction", "probe"], datasets=["bunny", "tiny"],
                             sequences=["alpha", "beta"], preset="smoke", sizes=[24_000, 30_000], seeds=[1, 2, 3]))
    # bunny:bunny + tiny:{alpha,beta} = 3 sequences x 2 tasks x 2 sizes x 3 seeds
    assert len(jobs) == 36
    assert len({j.key for j in jobs}) == 36
    assert {(j.dataset, j.sequence) for j in jobs} == {("bunny", "bunny"), ("tiny", "alpha"), ("tiny", "beta")}
    # reconstruction and probe of one configuration share a training group, nothing else does
    groups = {}
    for j in jobs:
        groups.setdefault(train_group(j), set()).add(j.task)
    assert len(groups) == 18 and all(g == {"reconstruction", "probe"} for g in groups.values())


def test_size_a_method_cannot_reach_is_one_clear_line(capsys):
    with pytest.raises(SizeError, match="cannot reach a size of 1k"):
        tiny_jobs(sizes=[1000])
    code = main(["run", "-m", "hnerv", "-d", "tiny", "--preset", "smoke", "--size", "1k", "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "smallest size there is" in err


def test_dry_run_lists_keys_and_never_imports_torch(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        import runner_plugins
        runner_plugins.register()
        from nvbench.cli import main
        code = main(["run", "-m", "hnerv", "-t", "reconstruction,probe", "-d", "bunny,tiny",
                     "--sequence", "alpha,beta", "--size", "24k,30k", "--seed", "1,2", "--preset", "smoke",
                     "--dry-run"])
        assert code == 0
        assert "torch" not in sys.modules, "computing keys and listing jobs imported torch"
        print("NO-TORCH-OK")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "NO-TORCH-OK"
    assert lines[-2] == "24 jobs"
    keys = [ln.split()[0] for ln in lines[:-2]]
    assert len(keys) == 24 == len(set(keys)) and all(len(k) == 16 for k in keys)
    assert any("probe/tiny:beta/smoke/30k/seed2" in ln for ln in lines)


# --- config files ----------------------------------------------------------------------------

def _dry(capsys, argv):
    code = main(["run", *argv, "--dry-run"])
    cap = capsys.readouterr()
    return code, cap.out.strip().splitlines(), cap.err.strip()


def test_config_file_and_command_line_override(tmp_path, capsys):
    cfg = tmp_path / "bench.toml"
    cfg.write_text(textwrap.dedent("""
        method = ["hnerv"]
        task = ["reconstruction", "probe"]
        dataset = "tiny"
        sequence = ["alpha", "beta"]
        preset = "smoke"
        size = ["24k", "30k"]
        seed = [1, 2, 3]
        retry-diverged = 2
    """))
    code, lines, _ = _dry(capsys, ["--config", str(cfg)])
    assert code == 0 and lines[-1] == "24 jobs"
    code, lines, _ = _dry(capsys, ["--config", str(cfg), "--seed", "7", "--sequence", "beta"])
    assert lines[-1] == "4 jobs" and all("seed7" in ln and "tiny:beta" in ln for ln in lines[:-1])
    # the command line's value wins even when it equals the built-in default
    code, lines, _ = _dry(capsys, ["--config", str(cfg), "--preset", "cpu", "--size", "94k"])
    assert lines[-1] == "12 jobs" and all("/cpu/94k/" in ln for ln in lines[:-1])


def test_yaml_config(tmp_path, capsys):
    pytest.importorskip("yaml")
    cfg = tmp_path / "bench.yaml"
    cfg.write_text("method: hnerv\ndataset: [tiny]\nsequence: tiny:all\npreset: smoke\nseed: [1, 2]\n")
    code, lines, _ = _dry(capsys, ["--config", str(cfg)])
    assert code == 0 and lines[-1] == "4 jobs"


@pytest.mark.parametrize("text, expect", [
    ("method = 'hnerv'\nsede = [1, 2]\n", "unknown key in bench.toml 'sede'; did you mean 'seed'"),
    ("method = 'hnerv'\nseed = [1\n", "bench.toml: not valid TOML"),
    ("method = 'hnerv'\npreset = 'huge'\n", "preset = 'huge'; choose one of"),
])
def test_bad_config_is_one_clear_line(tmp_path, capsys, text, expect):
    cfg = tmp_path / "bench.toml"
    cfg.write_text(text)
    code, _, err = _dry(capsys, ["--config", str(cfg)])
    assert code == 2 and len(err.splitlines()) == 1 and expect in err


# --- resume, shared training, divergence ------------------------------------------------------

def test_resume_skips_finished_jobs_and_shares_the_trained_model(store_dir):
    jobs = tiny_jobs(tasks=["reconstruction", "probe"], epochs=2)
    store = Store(store_dir)
    first = run_matrix(jobs, store)
    assert [p["job"]["task"] for p in first] == ["reconstruction", "probe"]
    rec, probe = first[0]["records"][0], first[1]["records"][0]
    assert rec["status"] == probe["status"] == "ok"
    assert rec["reused_model"] is False and probe["reused_model"] is True  # trained once, shared
    assert len(list((store_dir / "models").iterdir())) == 1
    mtimes = {p: p.stat().st_mtime_ns for p in store.jobs_dir.glob("*.json")}
    again = run_matrix(jobs, store)
    assert all(p.get("skipped") for p in again) and len(again) == 2
    assert {p: p.stat().st_mtime_ns for p in store.jobs_dir.glob("*.json")} == mtimes
    forced = run_matrix(jobs, store, MatrixOptions(force=True))
    assert not any(p.get("skipped") for p in forced)
    # the forced rerun loads the cached representation: the same numbers
    assert forced[0]["records"][0]["psnr"] == rec["psnr"]
    assert forced[0]["provenance"]["peak_rss_mb"] > 0


def test_jobs_group_by_the_trainers_own_key(store_dir):
    """The scheduler's groups and fit's cache key are one rule (nvbench.trainkey): two budgets
    that plan the same network (24k and 24.1k both give 24,013 parameters) train one model, so
    they share a worker; a task's split (interpolation's even frames) is a model of its own that
    still runs in the same group; another seed is another group."""
    from nvbench.trainkey import job_recipe, model_identity, train_key

    jobs = tiny_jobs(tasks=["probe"], sizes=[24_000, 24_100, 30_000], epochs=1)
    assert len({j.key for j in jobs}) == 3
    groups = [train_group(j) for j in jobs]
    assert groups[0] == groups[1] != groups[2]
    inter = tiny_jobs(tasks=["interpolation"], sizes=[24_000], epochs=1)[0]
    assert train_group(inter) == groups[0] and train_group(tiny_jobs(tasks=["probe"], seeds=[2])[0]) != groups[0]
    out = run_matrix(jobs[:2], Store(store_dir))
    first, second = (p["records"][0] for p in out)
    assert first["status"] == second["status"] == "ok"
    assert first["train_key"] == second["train_key"]
    assert (first["reused_model"], second["reused_model"]) == (False, True)
    method = registry.methods.get("hnerv")
    config = method.plan(jobs[0].frames, first["height"], first["width"], jobs[0].size, {})
    assert train_key(model_identity(jobs[0], config, job_recipe(jobs[0], method)), {}) == first["train_key"]


def test_divergence_is_recorded_and_retried_with_a_new_seed(store_dir):
    jobs = expand(RunRequest(methods=["hnerv-hot"], sequences=["alpha"], epochs=3, **TINY))
    store = Store(store_dir)
    out = run_matrix(jobs, store, MatrixOptions(retry_diverged=1))
    assert len(out) == 2
    first, retry = out
    r0, r1 = first["records"][0], retry["records"][0]
    assert r0["status"] == r1["status"] == "diverged"
    assert r0["seed"] == 1 and r1["seed"] == retry_seed(1, 1) == 1001
    assert "at epoch 1" in r0["reason"] and r0["epoch"] == 1
    assert retry["retry"] == {"attempt": 1, "of": first["key"], "seed_original": 1}
    assert r1["retry_of"] == first["key"]
    assert store.has(first["key"]) and store.has(retry["key"])  # both recorded
    # resume with more retries: the two finished attempts are skipped, the third runs
    out2 = run_matrix(jobs, store, MatrixOptions(retry_diverged=2))
    assert [p.get("skipped", False) for p in out2] == [True, True, False]
    assert out2[2]["records"][0]["seed"] == 2001 and out2[2]["retry"]["attempt"] == 2
    # no retries requested: the diverged job simply stays finished
    assert len(run_matrix(jobs, store)) == 1


# --- the store's writers and a full disk -------------------------------------------------------

_WRITER = """
import sys
from nvbench.results import Store
store = Store(sys.argv[1])
for i in range(int(sys.argv[3])):
    store.write("same", {"writer": sys.argv[2], "i": i, "records": [{"psnr": float(i)}] * 200})
"""


def test_two_writers_never_corrupt_a_result(store_dir):
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(store_dir), w, "150"]) for w in "ab"]
    path = Store(store_dir).job_path("same")
    reads = 0
    while any(p.poll() is None for p in procs):
        if path.is_file():
            payload = json.loads(path.read_text())  # never half a file
            assert payload["writer"] in "ab" and len(payload["records"]) == 200
            reads += 1
    assert all(p.returncode == 0 for p in procs)
    assert json.loads(path.read_text())["i"] == 149
    assert reads > 0
    assert [p.name for p in path.parent.iterdir()] == ["same.json"]  # no temporary files left


def test_full_disk_while_writing_a_result(store_dir, monkeypatch, capsys):
    jobs = expand(RunRequest(methods=["hnerv"], tasks=["sleep"], sequences=["alpha"], seeds=[1, 2, 3], **TINY))
    store = Store(store_dir)
    run_matrix(jobs[:1], store)
    good = store.job_path(jobs[0].key).read_text()
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr("nvbench.results.os.fsync", fsync)
    with pytest.raises(StoreWriteError, match="No space left on device; the results already in"):
        run_matrix(jobs, store, MatrixOptions(force=True))
    # the first job was rewritten fine, the second failed; every file left is whole JSON
    files = sorted(p.name for p in store.jobs_dir.iterdir())
    assert files == [f"{jobs[0].key}.json"]
    assert json.loads(store.job_path(jobs[0].key).read_text())["records"][0]["status"] == "ok"
    assert json.loads(good)["key"] == jobs[0].key
    calls.clear()
    code = main(["run", "-m", "hnerv", "-t", "sleep", "-d", "tiny", "--preset", "smoke", "--seed", "1,2,3",
                 "--results", str(store_dir), "--quiet", "--force"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "No space left on device" in err


# --- devices and threads -----------------------------------------------------------------------

_CLAIM = """
import sys
from pathlib import Path
from nvbench.workers import claim_device_slot
slot = claim_device_slot(int(sys.argv[2]), Path(sys.argv[1]))
assert claim_device_slot(int(sys.argv[2]), Path(sys.argv[1])) == slot  # stable within a process
print(slot, flush=True)
sys.stdin.read()  # hold the device until the test has heard from every worker
"""


def test_each_worker_claims_its_own_gpu(tmp_path):
    slots = []
    procs = []
    for _ in range(3):  # one after another: the third finds both devices held
        p = subprocess.Popen([sys.executable, "-c", _CLAIM, str(tmp_path), "2"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        slots.append(int(p.stdout.readline()))
        procs.append(p)
    for p in procs:
        p.communicate("")
    assert slots[:2] == [0, 1]  # two GPUs: the first two workers hold one each
    assert slots[2] in (0, 1)  # a third worker shares one (round robin by pid)
    assert claim_device_slot(2, tmp_path) == 0  # all released when their processes ended


def test_cuda_workers_get_their_own_device(tmp_path, monkeypatch):
    import torch

    import nvbench.workers as workers

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(workers.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(workers, "_DEVICE_CLAIM", None)
    assert workers.worker_device("cpu") == "cpu" and workers.worker_device("cuda:2") == "cuda:2"
    assert workers.worker_device("cuda") == "cuda:0" == workers.worker_device("auto")  # held for the process
    assert (tmp_path / f"nvbench-devices-{os.getuid()}" / "0.lock").is_file()


# --- progress -----------------------------------------------------------------------------------

def test_plain_progress_lines_and_quiet(store_dir, capsys):
    argv = ["run", "-m", "hnerv", "-d", "tiny", "--sequence", "alpha", "--preset", "smoke", "--epochs", "2",
            "--results", str(store_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "[1/1] hnerv/reconstruction/tiny:alpha/smoke/24k/seed1" in out
    assert "epoch       2/2" in out and "train PSNR" in out
    assert "1/1 done" in out and str(store_dir / "jobs") in out
    assert main([*argv, "--quiet", "--force"]) == 0
    quiet = capsys.readouterr().out
    assert "train PSNR" not in quiet and "[1/1]" not in quiet and "reconstruction" in quiet  # the table stays


def test_live_view_renders_counts_running_jobs_and_eta():
    from rich.console import Console

    console = Console(file=io.StringIO(), width=160, force_terminal=True)
    view = LiveReporter(console)
    view.begin(4, [{"records": []}], 2)
    view.beats([{"key": "k1", "label": "hnerv/reconstruction/tiny:alpha", "epoch": 3, "epochs": 10,
                 "train_psnr": 21.5, "psnr": 22.25, "eta": 14.0}])
    view.finished({"key": "k0", "label": "x", "records": [{"status": "ok", "psnr": 30.0}],
                   "provenance": {"seconds": 20.0}})
    console.print(view._render())
    text = console.file.getvalue()
    assert "2/4 done" in text and "1 running" in text and "tiny:alpha" in text and "3/10" in text
    assert "22.25" in text and "left ~20s" in text  # 2 jobs left x 20 s / 2 workers
    view.end()
    counts = Counts()
    counts.begin(2, [], 1)
    counts.finished({"records": [{"status": "failed"}], "provenance": {"seconds": 1}})
    assert counts.failed == 1 and counts.status_line().startswith("1/2 done")
    plain = PlainReporter(io.StringIO())
    plain.begin(1, [], 1)
    plain.beats([{"key": "k", "label": "L", "epoch": 1, "epochs": 2, "train_psnr": 10.0}])
    assert "L  epoch       1/2" in plain.stream.getvalue()


def test_write_json_atomic_leaves_old_file_when_it_fails(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    write_json_atomic(path, {"v": 1})
    monkeypatch.setattr("nvbench.results.os.replace", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(OSError):
        write_json_atomic(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["a.json"]
