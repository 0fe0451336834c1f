"""The compression-pipeline seam: a method's own pipeline or the shared one (`--set pipeline=`),
recorded in every record and in the job key, with the keys of jobs written before it unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvbench.compress.pipeline import SHARED, resolve_pipeline, shared_pipeline
from nvbench.errors import NvbenchError
from nvbench.expand import RunRequest, expand

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "reports" / "leaderboard" / "jobs" / "bdaa0ad6cda53ea0.json"


def test_committed_compression_job_key_is_unchanged():
    payload = json.loads(COMMITTED.read_text())
    (job,) = expand(RunRequest(methods=["hnerv"], tasks=["compression"], preset="cpu"))
    assert payload["job"]["task"] == "compression" and payload["job"]["task_options"] == {}
    assert job.key == COMMITTED.stem == "bdaa0ad6cda53ea0"


def test_pipeline_option_is_validated_and_part_of_the_key():
    (default,) = expand(RunRequest(methods=["hnerv"], tasks=["compression"], preset="smoke"))
    (shared,) = expand(RunRequest(methods=["hnerv"], tasks=["compression"], preset="smoke",
                                  settings={"pipeline": "shared"}))
    assert shared.task_options == {"pipeline": "shared"} and shared.key != default.key
    with pytest.raises(NvbenchError, match="pipeline='mine' is not one of own, shared"):
        expand(RunRequest(methods=["hnerv"], tasks=["compression"], preset="smoke", settings={"pipeline": "mine"}))


def test_resolve_pipeline_reads_the_method_hook():
    class Plain:
        compression_pipeline = ""

    class Own:
        compression_pipeline = "nvbench.compress.pipeline:shared_pipeline"  # any importable function

    assert resolve_pipeline(Plain, "own") == (SHARED, shared_pipeline)
    assert resolve_pipeline(Own, "shared") == (SHARED, shared_pipeline)
    name, fn = resolve_pipeline(Own, "own")
    assert name == Own.compression_pipeline and fn is shared_pipeline


def test_records_say_which_pipeline_ran(tmp_path):
    from nvbench.matrix import run_matrix
    from nvbench.results import Store

    settings = {"bits": "8", "prune": "0", "vmaf": "false", "lpips": "false", "anchor": "", "pipeline": "shared"}
    jobs = expand(RunRequest(methods=["hnerv"], tasks=["compression"], preset="smoke", settings=settings))
    (payload,) = run_matrix(jobs, Store(tmp_path))
    (rec,) = payload["records"]
    assert rec["status"] == "ok", rec.get("reason")
    assert (rec["pipeline"], rec["pipeline_name"], rec["rd_knob"], rec["variant"]) == ("shared", SHARED, "bits", "q8")
    assert rec["file_bytes"] == Path(rec["file"]).stat().st_size and rec["psnr"] > 10
