"""Convergence task: the evaluation schedule, curves that rise, the wall-clock budget end to end."""

from __future__ import annotations

import json

import pytest
from _task_fixtures import context, smooth_clip

from nvbench.errors import NvbenchError
from nvbench.tasks.convergence import eval_schedule


def test_schedule():
    assert eval_schedule("auto", 30) == [1, 2, 5, 10, 20, 30]
    assert eval_schedule("auto", 300) == [1, 2, 5, 10, 20, 50, 100, 200, 300]
    assert eval_schedule("auto", 1) == [1]
    assert eval_schedule("3,1,50", 10) == [1, 3, 10]
    assert eval_schedule("auto", None)[:5] == [1, 2, 5, 10, 20]  # a time budget: open-ended
    with pytest.raises(NvbenchError):
        eval_schedule("0,2", 10)
    with pytest.raises(NvbenchError):
        eval_schedule("often", 10)


def test_curve_records_epochs_seconds_and_rising_quality(tmp_path):
    ctx, task = context("hnerv", "convergence", smooth_clip(), tmp_path, epochs=12)
    recs = task.run(ctx)
    assert [r["epoch"] for r in recs] == [1, 2, 5, 10, 12]
    secs = [r["train_seconds"] for r in recs]
    assert secs == sorted(secs) and secs[0] > 0
    assert recs[-1]["final"] and not recs[0]["final"]
    assert recs[-1]["psnr"] > recs[0]["psnr"] + 1.0  # it learns
    assert all(0 < r["ms_ssim"] <= 1 for r in recs)
    # the final point equals what reconstruction measures on the same trained model (reused:
    # the training key names the training, not the task)
    rctx, rtask = context("hnerv", "reconstruction", smooth_clip(), tmp_path, epochs=12)
    (rec,) = rtask.run(rctx)
    assert rec["reused_model"] and rec["psnr"] == pytest.approx(recs[-1]["psnr"], abs=1e-9)


def test_budget_lays_the_schedule_over_time(tmp_path):
    ctx, task = context("hnerv", "convergence", smooth_clip(), tmp_path, epochs=1000, budget=1.5,
                        task_options={"ms_ssim": False})
    recs = task.run(ctx)
    last = recs[-1]
    assert last["budget_seconds"] == 1.5 and last["final"]
    assert 1.5 <= last["train_seconds"] < 1.5 + 2.0  # stops at the budget, not after 1000 epochs
    assert last["epoch"] < 1000 and last["epoch"] == max(r["epoch"] for r in recs)
    meta = json.loads(next(tmp_path.glob("models/*/meta.json")).read_text())
    lrs = [h["lr"] for h in meta["result"]["history"]]
    assert lrs[-1] < 0.2 * ctx.recipe.lr  # the cosine reached its end with the budget (however many epochs fit)


def test_budget_is_part_of_the_job_key():
    from nvbench.expand import RunRequest, expand

    keys = {expand(RunRequest(methods=["hnerv"], tasks=["convergence"], preset="smoke", budget_seconds=b))[0].key
            for b in (None, 60.0, 300.0)}
    assert len(keys) == 3
    (job,) = expand(RunRequest(methods=["hnerv"], tasks=["convergence"], preset="smoke", budget_seconds=60))
    assert job.budget_seconds == 60
