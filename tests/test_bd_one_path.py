"""One BD-rate path: with two seeds, the compression task's CLI summary, `nvbench compare` and the
report (BD table, ranking cell, text summary) print the same numbers — the seeds averaged per point
first, then one Pareto front per method (nvbench.rd)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests_report_store import _rec, _write

from nvbench.bdrate import bd_psnr, bd_rate
from nvbench.rd import bd_rows
from nvbench.results import Store

Q = [26.0, 28.0, 30.0, 31.5]
B = [0.02, 0.04, 0.08, 0.12]


def _store(root: Path) -> tuple[float, float, float]:
    """x265 at 1.25x the bits of seed 1; seed 2 of hnerv is 1.1x the rate and 1 dB worse. Returns
    (BD-rate of the seed-averaged curve, its BD-PSNR, BD-rate of the pooled front)."""
    _write(root, "comp-x265-1", [_rec("x265", "compression", 1, bpp=1.25 * b, psnr=q, crf=c, size_target=None)
                                 for b, q, c in zip(B, Q, (40, 35, 30, 25))], job={"epochs": 0, "preset": "smoke"})
    for seed, (fb, dq) in ((1, (1.0, 0.0)), (2, (1.1, -1.0))):
        _write(root, f"comp-hnerv-{seed}", [_rec("hnerv", "compression", seed, bpp=fb * b, psnr=q + dq, quant_bits=bits)
                                            for b, q, bits in zip(B, Q, (4, 5, 6, 8))], seed=seed)
    ab, aq = [1.25 * b for b in B], Q
    mb, mq = [1.05 * b for b in B], [q - 0.5 for q in Q]
    return bd_rate(ab, aq, mb, mq), bd_psnr(ab, aq, mb, mq), bd_rate(ab, aq, B, Q)


def _cli_numbers(text: str) -> tuple[float, float]:
    line = next(ln for ln in text.splitlines() if ln.startswith("bunny:bunny") and " hnerv " in ln)
    nums = re.findall(r"-?\d+\.\d+", line)
    return float(nums[0]), float(nums[1])


def test_cli_summary_compare_and_report_agree_with_two_seeds(tmp_path: Path, capsys) -> None:
    want_rate, want_psnr, pooled = _store(tmp_path)
    assert abs(want_rate - pooled) > 1.0  # the two seed rules really differ on this store
    store = Store(tmp_path)

    # the function itself: seeds averaged per point
    row = next(r for r in bd_rows(store.records(), "x265") if r["method"] == "hnerv")
    assert row["bd_rate"] == pytest.approx(want_rate) and row["bd_psnr"] == pytest.approx(want_psnr)
    assert row["points"] == 4

    # the compression task's summary after a run
    from nvbench.tasks.compression import CompressionTask

    mine = [r for r in store.records() if r["method"] == "hnerv"]
    summary = CompressionTask.summary(mine, store)
    # nvbench compare
    from nvbench.cli import main

    assert main(["compare", "--results", str(tmp_path), "--no-points"]) == 0
    compare = capsys.readouterr().out
    # the report: the BD table, the ranking's BD cell and the text summary
    from nvbench.report.build import build_context
    from nvbench.report.text import render_text

    ctx = build_context(tmp_path, tmp_path / "out", with_plots=False)
    entry = next(e for e in ctx["bd_tables"]["x265"] if e.method == "hnerv")
    cell = next(r for r in ctx["rankings"][0].rows if r.method == "hnerv").cells["bd_x265"]
    text_line = next(ln for ln in render_text(ctx).splitlines() if "hnerv:" in ln and "BD-PSNR" in ln)

    for got in (_cli_numbers(summary), _cli_numbers(compare)):
        assert got == (round(want_rate, 2), round(want_psnr, 3))
    assert entry.bd_rate == pytest.approx(want_rate) and entry.bd_psnr == pytest.approx(want_psnr)
    assert cell.value == pytest.approx(want_rate)
    assert f"{want_rate:+.2f} %" in text_line and f"{want_psnr:+.3f} dB" in text_line


def test_bd_rate_and_bd_psnr_are_independent_and_averages_stay_per_dataset(tmp_path: Path) -> None:
    """A curve whose quality range misses the anchor's has no BD-rate but still a BD-PSNR; the
    average over sequences never mixes datasets."""
    def rec(method, b, q, ds="d", seq="s"):
        return {"method": method, "task": "compression", "status": "ok", "bpp": b, "psnr": q, "dataset": ds,
                "sequence": seq, "preset": "cpu", "height": 8, "width": 8, "frames": 2, "job_key": method + ds + seq,
                "seed": 1}

    recs = [rec("x265", b, q) for b, q in ((0.1, 30), (0.2, 33), (0.4, 36))]
    recs += [rec("low", b, q) for b, q in ((0.1, 20), (0.2, 22), (0.4, 24))]
    row = next(r for r in bd_rows(recs, "x265") if r["method"] == "low")
    assert row["bd_rate"] == "no overlap" and row["bd_psnr"] == pytest.approx(-11.0)
    two = []
    for ds, f in (("d1", 0.5), ("d2", 2.0)):
        two += [rec("x265", b, q, ds) for b, q in ((0.1, 30), (0.2, 33), (0.4, 36))]
        two += [rec("m", f * b, q, ds) for b, q in ((0.1, 30), (0.2, 33), (0.4, 36))]
    rows = bd_rows(two, "x265")
    assert not [r for r in rows if r["sequence"] == "average"]  # one sequence per dataset: nothing to average
    assert sorted(round(r["bd_rate"], 6) for r in rows) == [-50.0, 100.0]


def test_frames_and_resolution_are_separate_curves() -> None:
    def rec(method, b, q, frames):
        return {"method": method, "task": "compression", "status": "ok", "bpp": b, "psnr": q, "dataset": "d",
                "sequence": "s", "preset": "cpu", "height": 8, "width": 8, "frames": frames,
                "job_key": f"{method}{frames}", "seed": 1}

    recs = [rec("x265", b, q, 8) for b, q in ((0.1, 30), (0.2, 33), (0.4, 36))]
    recs += [rec("m", 0.8 * b, q, 8) for b, q in ((0.1, 30), (0.2, 33), (0.4, 36))]
    recs += [rec("m", 0.1 * b, q + 5, 16) for b, q in ((0.1, 30), (0.2, 33), (0.4, 36))]  # no 16-frame anchor
    rows = [r for r in bd_rows(recs, "x265") if r["method"] == "m"]
    assert len(rows) == 2
    eight = next(r for r in rows if r["points"] == 3 and r["bd_rate"] is not None)
    assert eight["bd_rate"] == pytest.approx(-20.0)  # the 16-frame points did not join the 8-frame front
    assert sum(r["bd_rate"] is None and "no x265 points" in r["note"] for r in rows) == 1


def test_own_and_shared_runs_are_separate_curves() -> None:
    """`--recipe shared` and `--set pipeline=shared` points form their own curves (never pooled
    into the method's front), and the method's own curve keeps its name."""
    from nvbench.rd import rd_curves

    def rec(job, bpp, psnr, **kw):
        return {"method": "hinerv", "task": "compression", "status": "ok", "dataset": "bunny", "sequence": "bunny",
                "preset": "cpu", "height": 16, "width": 32, "frames": 8, "bpp": bpp, "psnr": psnr, "seed": 1,
                "job_key": job, "variant": f"q{int(bpp * 100)}", "epoch": 3, "recipe": "hinerv", **kw}

    records = [rec("own", 0.05, 27.0, pipeline="own"), rec("own", 0.08, 27.5, pipeline="own"),
               rec("sh", 0.06, 30.0, pipeline="shared"), rec("sh", 0.09, 31.0, pipeline="shared"),
               rec("rs", 0.05, 20.0, recipe="shared"), rec("rs", 0.07, 21.0, recipe="shared")]
    curves = {c.name: c for c in rd_curves(records)}
    assert set(curves) == {"hinerv", "hinerv pipeline=shared", "hinerv recipe=shared"}
    assert curves["hinerv"].psnr == [27.0, 27.5] and curves["hinerv pipeline=shared"].psnr == [30.0, 31.0]
