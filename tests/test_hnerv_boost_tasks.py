"""HNeRV-Boost at the smoke preset on every task it supports: reconstruction, its own compression
pipeline (and the shared one), interpolation (both variants) and inpainting; a decoded .nvb gives
the scored frames bit-exactly in a fresh process."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from _fresh_decode import fresh_decode

from nvbench.expand import RunRequest, expand
from nvbench.matrix import run_matrix
from nvbench.results import Store

OFF = {"vmaf": "false", "lpips": "false"}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("store"))
    jobs = expand(RunRequest(methods=["hnerv-boost"], tasks=["reconstruction", "interpolation", "inpainting"],
                             preset="smoke"))
    jobs += expand(RunRequest(methods=["hnerv-boost"], tasks=["compression"], preset="smoke", settings=OFF))
    jobs += expand(RunRequest(methods=["hnerv-boost"], tasks=["compression"], preset="smoke",
                              settings={**OFF, "pipeline": "shared", "bits": "8", "prune": "0"}))
    payloads = run_matrix(jobs, store)
    return [r for p in payloads for r in p["records"] if r["method"] == "hnerv-boost"]


def test_reconstruction(records):
    (rec,) = [r for r in records if r["task"] == "reconstruction"]
    assert rec["status"] == "ok", rec.get("reason")
    assert rec["recipe"] == "hnerv-boost" and rec["params"] == 25_756 and rec["epoch"] == 2
    assert np.isfinite(rec["psnr"]) and rec["psnr"] > 8 and 0 < rec["ms_ssim"] <= 1


def test_own_pipeline_point(records):
    (own,) = [r for r in records if r["task"] == "compression" and r.get("pipeline") == "own"]
    assert own["status"] == "ok", own.get("reason")
    assert own["pipeline_name"] == "representations.hnerv_boost_compress:compress" and own["rd_knob"] == "bits"
    assert own["variant"] == "q8" and own["bits"] == 8  # the repo's single 8-bit point
    assert own["qat_epochs"] == 1 and own["qat_fraction"] == pytest.approx(1 / 3, abs=1e-4)  # 100/300 of 2 epochs
    assert own["qat_lambda"] == 0.05 and own["qat_target_bits"] == 4.0 and own["qat_lr"] == 5e-4
    assert own["reused_model"] is True  # the reconstruction job's trained model
    path = Path(own["file"])
    assert path.stat().st_size == own["file_bytes"]
    assert own["bpp"] == pytest.approx(own["file_bytes"] * 8 / (8 * 40 * 80))
    assert 0 < own["estimated_bits_per_param"] < own["bits_per_param"]  # the file also holds its header
    assert np.isfinite(own["psnr"]) and own["psnr"] > 8


def test_shared_pipeline_is_a_separate_point(records):
    (shared,) = [r for r in records if r["task"] == "compression" and r.get("pipeline") == "shared"]
    assert shared["status"] == "ok" and shared["pipeline_name"] == "shared" and shared["variant"] == "q8"
    assert "qat_epochs" not in shared


def test_fresh_process_decodes_exactly_the_scored_frames(records, tmp_path):
    (own,) = [r for r in records if r["task"] == "compression" and r.get("pipeline") == "own"]
    frames = fresh_decode(own["file"], tmp_path)
    assert frames.shape == (8, 40, 80, 3)
    assert hashlib.sha256(frames.tobytes()).hexdigest() == own["frames_sha256"]


def test_interpolation_both_variants(records):
    held = {r["variant"]: r for r in records if r["task"] == "interpolation" and r["split"] == "held-out"}
    assert set(held) == {"interp-embed", "encode-frame"}
    for r in held.values():
        assert r["status"] == "ok" and np.isfinite(r["psnr"])


def test_inpainting(records):
    rows = [r for r in records if r["task"] == "inpainting"]
    assert rows and all(r["status"] == "ok" for r in rows), [r.get("reason") for r in rows]
    assert all(np.isfinite(r["psnr"]) for r in rows)


def test_qat_quantisers_and_rate_term():
    """The penalty is on while the estimate is above target bits per parameter, off below; the
    stored codes decode to the values the quantised network used."""
    import torch

    from representations.hnerv_boost import HNeRVBoostMethod as M
    from representations.hnerv_boost_compress import BoostQAT, gaussian_bits

    torch.manual_seed(0)
    p = M.plan(8, 40, 80, 24_000, {})
    qat = BoostQAT(M.build(p), 8, 0.05, 4.0)
    frames = torch.rand(8, 3, 40, 80)
    qat.train()
    qat(torch.tensor([1]), frames[[1]])
    bits = float(qat._bits)
    term = qat.rate_term()
    assert bits / p["params"] > 4.0 and float(term) == pytest.approx(0.05 * bits / (40 * 80), rel=1e-5)
    qat.target_bits = 1e9
    qat(torch.tensor([1]), frames[[1]])
    assert float(qat.rate_term()) == 0.0
    qat.eval()
    qts, values = qat.quantised_state(lambda idx: frames[idx])
    name = "blocks.1.conv.weight"
    w = dict(qat.model.decoder.named_parameters())[name]
    _, deq = qat.quant[name.replace(".", "__")](w)
    np.testing.assert_allclose(values["net." + name], deq.detach().numpy(), rtol=0, atol=1e-6)
    assert qts["net." + name].bits <= 9 and qts["embeddings"].codes.min() == 0
    code = torch.randn(1000) * 3
    assert 2.0 < float(gaussian_bits(code, noisy=False)) / 1000 < 5.0  # ~log2(sqrt(2 pi e) * 3) = 3.6
