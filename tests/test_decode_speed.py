"""A compression job's decode_fps: files of one decoder signature (the shared layout: one
architecture, other weight values) are timed once, files in a method's own layout one by one."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from nvbench.compress import pipeline
from nvbench.compress.nvb import SECTIONS, read_container, speed_signature
from nvbench.expand import RunRequest, expand


def _header(path) -> dict:
    return read_container(path.read_bytes(), str(path))[0]


@pytest.fixture(scope="module")
def smoke_job(tmp_path_factory):
    """A smoke hnerv compression job with four points (two bit depths, unpruned and pruned), the
    number of decode timings it made and its records."""
    from nvbench.matrix import run_matrix
    from nvbench.results import Store

    calls = []
    real = pipeline.PipelineRun.decode_speed

    def counting(self, variant, d, device):
        out = real(self, variant, d, device)
        calls.append((variant, out))
        return out

    mp = pytest.MonkeyPatch()
    import nvbench.metrics as metrics

    timed = []
    real_fps = metrics.measure_fps

    def fps(*args, **kwargs):
        timed.append(kwargs.get("min_seconds"))
        return real_fps(*args, **kwargs)

    mp.setattr(pipeline.PipelineRun, "decode_speed", counting)
    mp.setattr(metrics, "measure_fps", fps)
    try:
        settings = {"bits": "8,4", "prune": "0,0.2", "finetune_epochs": "1", "vmaf": "false", "lpips": "false",
                    "anchor": ""}
        jobs = expand(RunRequest(methods=["hnerv"], tasks=["compression"], preset="smoke", settings=settings))
        (payload,) = run_matrix(jobs, Store(tmp_path_factory.mktemp("store")))
    finally:
        mp.undo()
    return payload["records"], calls, timed


def test_points_of_one_architecture_share_one_timing(smoke_job):
    records, calls, timed = smoke_job
    assert [r["variant"] for r in records] == ["q8", "q4", "q8-p0.2", "q4-p0.2"]
    assert all(r["status"] == "ok" for r in records)
    assert timed == [pipeline.FPS_SECONDS]  # one timing, of the first point's decoder
    assert {r["decode_fps_variant"] for r in records} == {"q8"}
    assert len({r["decode_fps"] for r in records}) == 1 and records[0]["decode_fps"] > 0
    assert len(calls) == 4


def test_signature_ignores_weights_and_sees_the_architecture(smoke_job):
    from pathlib import Path

    records, _, _ = smoke_job
    headers = [_header(Path(r["file"])) for r in records]
    sigs = {speed_signature(h) for h in headers}
    assert len(sigs) == 1 and None not in sigs  # bit depths and pruning change weights, not the work
    other = json.loads(json.dumps(headers[0]))
    other["config"] = {**other["config"], "frames": other["config"]["frames"] + 1}
    assert speed_signature(other) != speed_signature(headers[0])
    resized = json.loads(json.dumps(headers[0]))
    resized["tensors"][0]["shape"] = [s + 1 for s in resized["tensors"][0]["shape"]]
    assert speed_signature(resized) != speed_signature(headers[0])


def test_own_layout_has_no_signature_and_is_timed_file_by_file(monkeypatch):
    own = {"method": "hinerv", "method_version": "1", "config": {}, "tensors": [],
           "sections": [{"name": "hinerv-weights"}]}
    shared = {**own, "sections": [{"name": n} for n in SECTIONS]}
    assert speed_signature(own) is None and speed_signature(shared) is not None

    timed = []
    import nvbench.metrics as metrics

    monkeypatch.setattr(metrics, "measure_fps", lambda *a, **k: timed.append(1) or 100.0 + len(timed))
    run = pipeline.PipelineRun(ctx=SimpleNamespace(video=SimpleNamespace(num_frames=4)), opts={}, fitted=None)
    d_own = {"loaded": None, "signature": None}
    d_sig = {"loaded": None, "signature": "sig"}
    assert run.decode_speed("a", d_own, "cpu") == (101.0, "a")
    assert run.decode_speed("b", d_own, "cpu") == (102.0, "b")
    assert run.decode_speed("c", d_sig, "cpu") == (103.0, "c")
    assert run.decode_speed("d", d_sig, "cpu") == (103.0, "c")
    assert len(timed) == 3
