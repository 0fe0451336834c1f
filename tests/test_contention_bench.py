"""tools/contention_bench.py (the tool runs; its competitors die) and the timing conditions every
job's provenance carries (load average, threads, OpenMP runtime and wait policy). No timing assertion."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nvbench.cli import main
from nvbench.provenance import OPENMP_LIBRARIES, threading_info

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "contention_bench.py"
TIMING_FIELDS = ("load_average", "load_average_end", "cpu_steal_percent", "torch_threads", "torch_interop_threads",
                 "omp_wait_policy", "openmp_runtime")


def _tool():
    sys.path.insert(0, str(TOOL.parent))
    spec = importlib.util.spec_from_file_location("contention_bench", TOOL)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["contention_bench"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_smoke_jobs_provenance_says_how_it_was_timed(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert main(["run", "-m", "hnerv", "--preset", "smoke", "--epochs", "1", "--threads", "1",
                 "--results", str(tmp_path)]) == 0
    (job,) = (tmp_path / "jobs").glob("*.json")
    payload = json.loads(job.read_text())
    prov = payload["provenance"]
    for field in ("load_average", "load_average_end"):
        assert len(prov[field]) == 3 and all(x >= 0 for x in prov[field]), field
    assert prov["torch_threads"] == 1 and prov["torch_interop_threads"] >= 1
    if Path("/proc/stat").is_file():  # Linux: the share of CPU time the hypervisor took during the job
        assert 0.0 <= prov["cpu_steal_percent"] <= 100.0
    assert prov["omp_wait_policy"] == "default" and prov["cpu_model"]
    if Path("/proc/self/maps").is_file():  # Linux: the library torch loaded is named
        assert any(prov["openmp_runtime"].startswith(name) for _, name in OPENMP_LIBRARIES), prov["openmp_runtime"]
    # conditions, not configuration: none of them enters the job's identity (its key)
    assert not set(TIMING_FIELDS) & set(json.dumps(payload["job"]).replace('"', " ").split())


def test_the_wait_policy_recorded_is_the_environments(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv("GOMP_SPINCOUNT", "1000")
    assert threading_info()["omp_wait_policy"] == "PASSIVE" and threading_info()["gomp_spincount"] == "1000"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.delenv("GOMP_SPINCOUNT")
    assert threading_info()["omp_wait_policy"] == "default" and threading_info()["gomp_spincount"] is None


def test_speed_prints_the_conditions_it_ran_under(capsys):
    assert main(["speed", "-m", "hnerv", "--preset", "smoke", "--seconds", "0.05", "--rounds", "1",
                 "--threads", "1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("load average (1/5/15 min)") and "torch threads 1, interop" in line
    assert "OMP_WAIT_POLICY" in line


def test_the_tool_measures_cells_beside_a_busy_process_and_a_twin_and_leaves_no_process(tmp_path):
    out = tmp_path / "c.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, str(TOOL), "--methods", "hnerv", "--preset", "smoke", "--threads", "1",
                          "--policies", "passive", "--competitors", "none,busy,twin", "--seconds", "1",
                          "--warmup", "0.2", "--json", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    cells = {c["competitor"]: c for c in data["cells"]}
    assert set(cells) == {"none", "busy", "twin"}
    for c in cells.values():
        assert c["steps"] >= 1 and c["steps_per_s"] > 0 and c["seconds"] >= 1.0 and len(c["load_start"]) == 3
        assert (c["threads"], c["policy"]) == (1, "passive")
    (child,) = data["children"]
    assert child["frames"] == "bunny" and child["torch_threads"] == 1 and child["omp_wait_policy"] == "PASSIVE"
    (row,) = data["rows"]
    assert row["busy_slowdown"] == pytest.approx(cells["none"]["steps_per_s"] / cells["busy"]["steps_per_s"])
    assert "| 1 | passive |" in res.stdout and "busy ×" in res.stdout and "**hnerv**" in res.stdout
    pids = cells["busy"]["competitor_pids"] + cells["twin"]["competitor_pids"] + [child["pid"]]
    assert len(set(pids)) == 3 and not [p for p in pids if alive(p)]


def test_auto_threads_calibrate_in_each_cell(tmp_path):
    """`--threads auto` is nvbench's default: the child calibrates (nvbench/threads.py) before each
    cell and the cell says which count it chose."""
    out = tmp_path / "c.json"
    res = subprocess.run([sys.executable, str(TOOL), "--methods", "nerv", "--preset", "smoke", "--threads", "auto",
                          "--policies", "default", "--competitors", "none", "--seconds", "0.5", "--warmup", "0.1",
                          "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (cell,) = json.loads(out.read_text())["cells"]
    assert cell["threads"] == "auto" and 1 <= cell["chosen_threads"] <= _tool().cores()
    assert cell["calibration_s"] > 0 and "auto chose" in res.stdout and "none:" in res.stdout


def test_competitors_are_killed_when_the_run_is_interrupted():
    tool = _tool()
    with pytest.raises(KeyboardInterrupt):
        with tool.competitor("nice2") as pids:
            assert len(pids) == 2 and all(alive(p) for p in pids)
            raise KeyboardInterrupt
    time.sleep(0.1)
    assert not [p for p in pids if alive(p)] and not tool._LIVE


def test_bad_settings_are_one_line_errors(capsys):
    tool = _tool()
    assert tool.main(["--policies", "spinny"]) == 2
    assert tool.main(["--threads", "0"]) == 2
    assert tool.parse_threads("auto,1") == [0, 1]
    assert tool.main(["--competitors", "browser"]) == 2
    assert tool.main(["--code", str(ROOT / "docs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [e.split(":")[1] for e in err] == [" --policies", " --threads", " --competitors", " --code"]
    assert tool.parse_threads("cores,cores-1") == sorted({tool.cores(), max(1, tool.cores() - 1)}, reverse=True)
    assert tool.policy_env("spin=1000") == {"GOMP_SPINCOUNT": "1000"}
    # 2 methods x 2 thread counts x 3 policies at the defaults fit in 12 minutes
    assert tool.estimate_seconds(12, list(tool.COMPETITORS), 1.0, 8.0, ncores=2) <= 12 * 60


def test_steal_percent_from_two_snapshots(tmp_path, monkeypatch):
    from nvbench import provenance

    assert provenance.steal_percent((1000, 10), (3000, 610)) == 30.0  # 600 of 2000 ticks stolen
    assert provenance.steal_percent((1000, 10), (1000, 10)) is None  # no time between them
    assert provenance.steal_percent(None, (1000, 10)) is None
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 20 800 3 0 2 70 0 0\ncpu0 50 2 10 400 1 0 1 35 0 0\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda f, *a, **k: real_open(stat if f == "/proc/stat" else f, *a, **k))
    assert provenance.cpu_ticks() == (1000, 70)
