"""Scoring several RD points at once (one per core) gives the records one after the other gives:
the .nvb files of a representation (nvbench.compress.pipeline.score_many) and a codec's ladder
(the compression task's encode/decode side by side). Timings aside, every field is equal."""

from __future__ import annotations

import json

import torch

from nvbench.cli import main

TIMING = ("seconds", "fps", "_s")


def _records(store) -> dict[tuple, dict]:
    out = {}
    for p in sorted((store / "jobs").glob("*.json")):
        job = json.loads(p.read_text())
        for r in job["records"]:
            keep = {k: v for k, v in r.items() if not any(t in k for t in TIMING) and k != "file"}
            out[(job["job"]["method"], r.get("variant"))] = keep
    return out


def test_points_scored_side_by_side_equal_points_scored_in_turn(tmp_path, monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    calls = {}

    import nvbench.compress.pipeline as pipeline
    import nvbench.tasks.compression as compression

    real_workers, real_codec_threads = pipeline.scoring_workers, compression._codec_threads

    def workers(points, device):
        calls["nvb"] = real_workers(points, device)
        return calls["nvb"]

    try:
        monkeypatch.setattr(pipeline, "scoring_workers", workers)
        args = ["run", "-m", "hnerv,x265", "-t", "compression", "--preset", "smoke", "--epochs", "1", "--quiet"]
        assert main(args + ["--results", str(tmp_path / "side")]) == 0
        assert calls["nvb"] == 2 and real_codec_threads(__import__("nvbench").registry.methods.get("x265"), {}) == 1
        monkeypatch.setattr(pipeline, "scoring_workers", lambda points, device: 1)
        monkeypatch.setattr(compression, "_codec_threads", lambda m, o: 2)  # one quality at a time
        assert main(args + ["--results", str(tmp_path / "turn"), "--force"]) == 0
    finally:
        torch.set_num_threads(before)
    side, turn = _records(tmp_path / "side"), _records(tmp_path / "turn")
    assert side.keys() == turn.keys() and len(side) >= 8 + 3  # 8 .nvb points, the smoke x265 ladder
    for key in side:
        assert side[key] == turn[key], key
