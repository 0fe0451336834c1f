"""The compression task end to end at the smoke preset: real files, decode in a fresh process,
model reuse from a reconstruction job, the anchor added by the runner, BD-rate printing."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _fresh_decode import fresh_decode

from nvbench.expand import RunRequest, expand
from nvbench.matrix import run_matrix
from nvbench.results import Store

SETTINGS = {"bits": "8,4", "prune": "0,0.3", "finetune_epochs": "1", "vmaf": "false", "lpips": "false"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    store = Store(root)
    rec_jobs = expand(RunRequest(methods=["hnerv"], tasks=["reconstruction"], preset="smoke"))
    run_matrix(rec_jobs, store)
    jobs = expand(RunRequest(methods=["hnerv"], tasks=["compression"], preset="smoke", settings=SETTINGS))
    payloads = run_matrix(jobs, store)
    records = [r for p in payloads for r in p["records"]]
    return store, records


def test_points_files_and_bpp(run):
    _, records = run
    mine = [r for r in records if r["method"] == "hnerv"]
    assert [r["status"] for r in mine] == ["ok"] * 4, [r.get("reason") for r in mine]
    pixels = 8 * 40 * 80
    for r in mine:
        path = Path(r["file"])
        assert path.is_file() and path.stat().st_size == r["file_bytes"]
        assert r["bpp"] == pytest.approx(r["file_bytes"] * 8 / pixels)
        assert r["coder"] == "range" and r["bytes_huffman"] > 0
        assert np.isfinite(r["psnr"]) and np.isfinite(r["psnr_y"]) and 0 < r["ms_ssim"] <= 1
        assert r["psnr_yuv"] == pytest.approx((6 * r["psnr_y"] + r["psnr_u"] + r["psnr_v"]) / 8)
        assert r["encode_seconds_total"] >= r["encode_seconds"] > 0 and r["decode_fps"] > 0
        assert r["lpips"] == "off" and r["vmaf"] == "off"
    by = {r["variant"]: r for r in mine}
    assert by["q4"]["file_bytes"] < by["q8"]["file_bytes"]
    assert by["q8-p0.3"]["sparsity"] == pytest.approx(0.3, abs=0.01)
    assert by["q8-p0.3"]["file_bytes"] < by["q8"]["file_bytes"]  # pruned zeros are cheap, not free


def test_model_reused_from_reconstruction(run):
    _, records = run
    assert all(r["reused_model"] for r in records if r["method"] == "hnerv")


def test_runner_added_the_anchor(run):
    _, records = run
    x265 = [r for r in records if r["method"] == "x265"]
    assert len(x265) == 3 and all(r["status"] == "ok" for r in x265)
    assert [r["bpp"] for r in sorted(x265, key=lambda r: -r["quality"])] == sorted(r["bpp"] for r in x265)


def test_fresh_process_decodes_exactly_the_scored_frames(run, tmp_path):
    _, records = run
    rec = next(r for r in records if r.get("variant") == "q4-p0.3")
    frames = fresh_decode(rec["file"], tmp_path)
    assert frames.shape == (8, 40, 80, 3)
    assert hashlib.sha256(frames.tobytes()).hexdigest() == rec["frames_sha256"]


def test_decode_command_rejects_a_corrupt_file(run, tmp_path):
    _, records = run
    rec = next(r for r in records if r.get("variant") == "q8")
    bad = tmp_path / "bad.nvb"
    data = bytearray(Path(rec["file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    out = subprocess.run([sys.executable, "-m", "nvbench.cli", "decode", str(bad), "-o", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "checksum mismatch" in out.stderr and "Traceback" not in out.stderr


def test_compare_and_summary(run, capsys):
    from nvbench.cli import main
    from nvbench.tasks.compression import CompressionTask

    store, records = run
    assert main(["compare", "--results", str(store.root)]) == 0
    text = capsys.readouterr().out
    assert "BD-rate" in text and "hnerv" in text and "x265" in text and "round trip" in text
    summary = CompressionTask.summary(records, store)
    assert "against x265" in summary and "range coder vs Huffman" in summary


def test_not_applicable_without_representation_or_codec():
    from nvbench.methods import MethodPlugin
    from nvbench.tasks.compression import CompressionTask

    class Nothing(MethodPlugin):
        name = "nothing"

    assert "none of the capabilities" in CompressionTask.not_applicable(Nothing)
