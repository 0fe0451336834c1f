"""HiNeRV's own compression pipeline at the smoke preset: real files in its own .nvb layout,
decoded bit-exactly from the file alone in a fresh process, the pipeline choice recorded; and
its pieces (best axis, pruning score, symmetric quantisation) against the official rules."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _fresh_decode import fresh_decode

from nvbench.expand import RunRequest, expand
from nvbench.matrix import run_matrix
from nvbench.results import Store
from representations.hinerv_compress import best_axis, prune_masks, symmetric

QUIET = {"vmaf": "false", "lpips": "false", "anchor": ""}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("store"))
    jobs = expand(RunRequest(methods=["hinerv"], tasks=["compression"], preset="smoke", settings=QUIET))
    jobs += expand(RunRequest(methods=["hinerv"], tasks=["compression"], preset="smoke",
                              settings={**QUIET, "pipeline": "shared", "bits": "8", "prune": "0"}))
    return [r for p in run_matrix(jobs, store) for r in p["records"]]


def test_own_pipeline_points(records):
    own = [r for r in records if r["pipeline"] == "own"]
    assert [r["variant"] for r in own] == ["q8-p0.15", "q7-p0.15", "q6-p0.15"]
    assert all(r["status"] == "ok" and r["pipeline_name"].endswith("hinerv_pipeline") for r in own)
    assert [r["file_bytes"] for r in own] == sorted((r["file_bytes"] for r in own), reverse=True)
    for r in own:
        assert r["file_bytes"] == Path(r["file"]).stat().st_size and r["bpp"] == pytest.approx(
            r["file_bytes"] * 8 / (8 * 40 * 80))
        assert r["sparsity"] == pytest.approx(0.15, abs=0.002)  # of all stored parameters, as the official counts
        assert (r["finetune_epochs"], r["qat_epochs"], r["qat_noise"], r["qat_bits"]) == (1, 1, 0.9, 6)
        assert r["prune_epoch_fraction"] == 0.2 and r["qat_epoch_fraction"] == 0.1
        assert np.isfinite(r["psnr"]) and r["psnr"] > 10


def test_shared_pipeline_for_the_same_model(records):
    (shared,) = [r for r in records if r["pipeline"] == "shared"]
    assert shared["status"] == "ok" and shared["pipeline_name"] == "shared" and shared["variant"] == "q8"
    assert shared["reused_model"]  # the same trained model: only the pipeline differs


def test_fresh_process_decodes_the_scored_frames_bit_exactly(records, tmp_path):
    rec = next(r for r in records if r["variant"] == "q6-p0.15")
    frames = fresh_decode(rec["file"], tmp_path)
    assert frames.shape == (8, 40, 80, 3)
    assert hashlib.sha256(frames.tobytes()).hexdigest() == rec["frames_sha256"]


def test_a_shared_layout_file_decodes_through_the_shared_reader(records, tmp_path):
    """--set pipeline=shared writes the shared layout, which nvbench.compress.nvb reads itself
    (hinerv's own reader is not asked), bit-exactly in a fresh process."""
    from nvbench.compress.nvb import _own_reader, parse

    (shared,) = [r for r in records if r["pipeline"] == "shared"]
    header, _ = parse(Path(shared["file"]).read_bytes())
    assert _own_reader(header, "shared.nvb") is None
    frames = fresh_decode(shared["file"], tmp_path)
    assert hashlib.sha256(frames.tobytes()).hexdigest() == shared["frames_sha256"]


def test_a_corrupt_file_is_one_line(records, tmp_path):
    rec = next(r for r in records if r["variant"] == "q8-p0.15")
    data = bytearray(Path(rec["file"]).read_bytes())
    data[-10] ^= 0xFF
    bad = tmp_path / "bad.nvb"
    bad.write_bytes(bytes(data))
    out = subprocess.run([sys.executable, "-m", "nvbench.cli", "decode", str(bad), "-o", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "checksum" in out.stderr


def test_best_axis_is_the_official_rule():
    assert best_axis((47, 1, 3, 3)) == 0  # depthwise conv: one scale per (1,3,3) position
    assert best_axis((188, 47)) == 0 and best_axis((47, 188)) == 1
    assert best_axis((3, 5)) is None  # every dimension <= 20: one scale for the tensor
    assert best_axis((2080, 1)) == 0


def test_symmetric_quantisation():
    x = torch.tensor([[-1.0, 0.5], [0.25, 2.0]])
    q, s = symmetric(x, 8, None)
    assert s == pytest.approx(2 * 2.0 / 255 + 1e-6)
    assert q.min() >= -128 and q.max() <= 127 and torch.equal(q, torch.round(x / s))
    q, s = symmetric(torch.randn(30, 4), 6, 0)
    assert s.shape == (1, 4) and q.abs().max() <= 32


def test_pruning_score_and_target():
    from representations.hinerv import HiNeRVMethod
    from representations.hinerv_net import HiNeRVDecoder

    torch.manual_seed(0)
    dec = HiNeRVDecoder(HiNeRVMethod.plan(8, 40, 80, 24_000, {}))
    masks = prune_masks(dec, 0.15)
    total = sum(v.numel() for v in dec.state_dict().values())
    removed = sum(int((~m).sum()) for m in masks.values())
    assert removed == int(0.15 * total)
    assert not any(k.startswith("base_grids") or ".grids." in k or ".linear." in k for k in masks)
    state = dec.state_dict()
    score = {k: state[k].abs() / (state[k].numel() ** 0.5 + 1e-6) for k in masks}
    kept = min(float(score[k][m].min()) for k, m in masks.items() if m.any())
    dropped = max(float(score[k][~m].max()) for k, m in masks.items() if (~m).any())
    assert dropped <= kept
