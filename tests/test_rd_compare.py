"""RD curves (Pareto fronts), BD tables with 'no overlap', and the runner's anchor jobs."""

from __future__ import annotations

import pytest

from nvbench.rd import bd_rows, pareto
from nvbench.results import Store


def rec(method, bpp, psnr, seq="s1"):
    return {"method": method, "task": "compression", "status": "ok", "bpp": bpp, "psnr": psnr, "dataset": "d",
            "sequence": seq, "preset": "cpu", "height": 8, "width": 8, "frames": 2}


def test_pareto_front():
    pts = [(0.1, 30), (0.2, 29), (0.3, 33), (0.15, 31), (0.3, 32)]
    assert pareto(pts) == [(0.1, 30), (0.15, 31), (0.3, 33)]


def test_bd_rate_of_a_scaled_curve_and_no_overlap():
    anchor = [rec("x265", r, q) for r, q in [(0.1, 30), (0.2, 33), (0.4, 36), (0.8, 39)]]
    better = [rec("m", 0.8 * r, q) for r, q in [(0.1, 30), (0.2, 33), (0.4, 36), (0.8, 39)]]
    far = [rec("far", r, q) for r, q in [(0.1, 20), (0.2, 22), (0.3, 24)]]
    rows = {r["method"]: r for r in bd_rows(anchor + better + far, "x265")}
    assert rows["m"]["bd_rate"] == pytest.approx(-20.0, abs=1e-6)
    assert rows["m"]["bd_psnr"] > 0
    assert rows["far"]["bd_rate"] == "no overlap"


def test_average_row_over_sequences():
    recs = []
    for seq, f in (("a", 0.5), ("b", 2.0)):
        recs += [rec("x265", r, q, seq) for r, q in [(0.1, 30), (0.2, 33), (0.4, 36)]]
        recs += [rec("m", f * r, q, seq) for r, q in [(0.1, 30), (0.2, 33), (0.4, 36)]]
    rows = bd_rows(recs, "x265")
    avg = next(r for r in rows if r["sequence"] == "average")
    assert avg["bd_rate"] == pytest.approx((-50.0 + 100.0) / 2)


def test_companion_jobs_add_the_anchor_once(tmp_path):
    from nvbench.expand import RunRequest, add_companion_jobs, expand

    store = Store(tmp_path)
    jobs = expand(RunRequest(methods=["hnerv"], tasks=["compression"], preset="smoke"))
    full = add_companion_jobs(jobs, store)
    assert [j.method for j in full] == ["x265", "hnerv"]
    assert full[0].size is None and full[0].frames == jobs[0].frames
    # a run that already has the anchor, or a store with its points, adds nothing
    both = expand(RunRequest(methods=["x265", "hnerv"], tasks=["compression"], preset="smoke"))
    assert len(add_companion_jobs(both, store)) == 2
    r = rec("x265", 0.1, 30, "bunny")
    r.update(dataset="bunny", preset="smoke", frames=jobs[0].frames)
    store.write("k", {"records": [r]})
    assert add_companion_jobs(jobs, store) == list(jobs)
    # reconstruction runs never get one
    rj = expand(RunRequest(methods=["hnerv"], tasks=["reconstruction"], preset="smoke"))
    assert add_companion_jobs(rj, Store(tmp_path / "empty")) == list(rj)
