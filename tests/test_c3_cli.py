"""`nvbench run -m c3` at the smoke preset end to end: the file of a lambda point, decoded in a fresh
process with one thread after encoding with two, is exactly the frames the task scored."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _nvbench(*args: str, threads: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return subprocess.run([sys.executable, "-m", "nvbench.cli", *args], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    store = tmp_path_factory.mktemp("c3") / "results"
    proc = _nvbench("run", "-m", "c3", "-t", "compression,reconstruction,interpolation", "--preset", "smoke",
                    "--threads", "2", "--set", "lambda=1e-2", "--set", "lambdas=1e-2", "--set", "vmaf=false",
                    "--set", "lpips=false",
                    "--set", "anchor=", "--set", "qstep_search=coordinate", "--results", str(store), "-q", threads=2)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = [r for f in sorted((store / "jobs").glob("*.json")) for r in json.loads(f.read_text())["records"]]
    return store, records


def test_compression_points_are_lambda_points_with_real_and_estimated_rates(smoke_run):
    _, records = smoke_run
    points = [r for r in records if r["task"] == "compression"]
    assert [r["lambda"] for r in points] == [1e-2]  # one training: the task's model is the point's
    for r in points:
        assert r["status"] == "ok" and r["rd_knob"] == "lambda" and r["size_target"] is None
        assert r["pipeline_name"] == "representations.c3_compress:compress"
        pixels = 8 * 40 * 80
        assert r["file_bytes"] == Path(r["file"]).stat().st_size
        assert r["bpp"] == pytest.approx(r["file_bytes"] * 8 / pixels)
        parts = r["bytes_header"] + r["bytes_side"] + r["bytes_weights"] + r["bytes_latents"]
        assert parts == r["file_bytes"]
        assert 0 < r["bpp_estimated"] < r["bpp"]  # the header and side information are not in the estimate
        assert r["steps"] == 2 and r["under_trained"] is True and r["repo_steps"] == 110_000
        assert r["patch"] == [8, 40, 80] and r["patches"] == 1
        assert r["qstep_search"] == "coordinate" and len(r["q_steps"]) == 1
        assert 1000 < r["macs_per_pixel"] < 5000 and "causal" in r["macs_reason"]
        assert r["psnr"] > 5 and r["decode_fps"] > 0


def test_other_tasks_run_or_say_why_not(smoke_run):
    _, records = smoke_run
    rec = [r for r in records if r["task"] == "reconstruction"]
    assert len(rec) == 1 and rec[0]["status"] == "ok" and rec[0]["psnr"] > 5 and rec[0]["size_target"] is None
    interp = [r for r in records if r["task"] == "interpolation"]
    assert interp and all(r["status"] == "not_applicable" and r["reason"] for r in interp)


def test_two_thread_files_decode_bit_exactly_with_one_thread_in_a_fresh_process(smoke_run, tmp_path):
    _, records = smoke_run
    for r in [r for r in records if r["task"] == "compression"]:
        out = tmp_path / r["variant"]
        proc = _nvbench("decode", r["file"], "-o", str(out), "--format", "npy", "--threads", "1", threads=1)
        assert proc.returncode == 0, proc.stderr[-2000:]
        frames = np.load(out / "frames.npy")
        assert frames.shape == (8, 40, 80, 3)
        assert hashlib.sha256(frames.tobytes()).hexdigest() == r["frames_sha256"]
        assert f"frames sha256 {r['frames_sha256']}" in proc.stdout


def test_a_damaged_file_is_one_line_and_exit_2(smoke_run, tmp_path, capsys):
    from nvbench.cli import main

    _, records = smoke_run
    path = Path(next(r["file"] for r in records if r["task"] == "compression"))
    bad = tmp_path / "bad.nvb"
    bad.write_bytes(path.read_bytes()[:-5])
    assert main(["decode", str(bad), "-o", str(tmp_path / "o"), "--format", "npy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "truncated" in err and "Traceback" not in err
