"""The thread calibration (nvbench/threads.py): it keeps the worker's count unless another is
clearly faster, and a calibrated training gives the same weights bit for bit as a training run at
the chosen count from the start (the calibration's steps leave no trace)."""

from __future__ import annotations

import pytest
import torch

from nvbench import threads as nvthreads
from nvbench.recipe import HINERV_RECIPE, HNERV_RECIPE, NERV_RECIPE
from nvbench.train import FrameSource, TrainSettings, train
from tests.conftest import smooth_video


class FakeMachine:
    """A clock whose step cost depends on the thread count (seconds per step by count)."""

    def __init__(self, cost: dict[int, float]):
        self.cost, self.t, self.threads, self.calls, self.steps = dict(cost), 0.0, max(cost), [], 0

    def set_threads(self, n: int) -> None:
        self.threads = n
        self.calls.append(n)

    def clock(self) -> float:
        return self.t

    def step(self) -> None:
        self.t += self.cost[self.threads]
        self.steps += 1


def _calibrate(m: FakeMachine) -> nvthreads.Calibration:
    return nvthreads.calibrate(m.step, max(m.cost), m.set_threads, clock=m.clock)


def test_candidates():
    assert nvthreads.candidates(16) == [16, 15, 8, 1]
    assert nvthreads.candidates(2) == [2, 1]
    assert nvthreads.candidates(1) == [1]


def test_idle_machine_keeps_all_threads():
    m = FakeMachine({1: 0.10, 2: 0.06})
    cal = _calibrate(m)
    assert cal.chosen == 2 and m.threads == 2
    assert cal.steps_per_s[2] == pytest.approx(1 / 0.06) and cal.steps_per_s[1] == pytest.approx(10.0)
    assert m.calls == [2, 1, 2, 1, 2]  # alternating rounds, then the choice
    assert cal.seconds == pytest.approx(m.t)


def test_a_training_of_few_long_steps_calibrates_in_few_steps():
    m = FakeMachine({1: 2.0, 2: 1.2})  # C3-like: whole-video steps of seconds
    cal = nvthreads.calibrate(m.step, 2, m.set_threads, clock=m.clock, max_steps=4)
    assert cal.chosen == 2 and m.steps == 4 and m.calls == [2, 1, 2]  # one round, one timed step per count


def test_busy_core_chooses_fewer_threads():
    m = FakeMachine({1: 0.10, 2: 0.30})  # a competitor holds a core: one thread is 3x faster
    assert _calibrate(m).chosen == 1 and m.threads == 1


def test_a_count_within_the_margin_does_not_win():
    m = FakeMachine({1: 0.098, 2: 0.100})  # 2% faster with one thread: below the 5% margin
    assert _calibrate(m).chosen == 2


def test_first_step_after_a_change_is_not_timed():
    class SlowStart(FakeMachine):
        def set_threads(self, n: int) -> None:
            super().set_threads(n)
            self.t += 0.0  # no cost here; the next step is the slow one
            self.first = True

        def step(self) -> None:
            self.t += 5.0 if getattr(self, "first", False) and self.threads == 1 else self.cost[self.threads]
            self.first = False

    m = SlowStart({1: 0.10, 2: 0.30})
    assert _calibrate(m).chosen == 1  # a slow first step (a new thread team) does not decide it


def test_explicit_threads_mean_no_calibration(monkeypatch):
    monkeypatch.setitem(nvthreads._MODE, "mode", "fixed")
    assert nvthreads.wants_calibration("cpu") is None
    monkeypatch.setitem(nvthreads._MODE, "mode", "auto")
    assert nvthreads.wants_calibration("cuda") is None
    with pytest.raises(ValueError, match="auto or fixed"):
        nvthreads.set_mode("some")


def _train(method, recipe, threads: int, auto: bool, monkeypatch):
    video = smooth_video(frames=8, height=40, width=80)
    config = method.plan(8, 40, 80, 24_000, {})
    torch.manual_seed(3)
    model = method.build(config)
    monkeypatch.setitem(nvthreads._MODE, "mode", "auto" if auto else "fixed")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        res = train(model, FrameSource(video.frames, torch.device("cpu")), TrainSettings(epochs=2, recipe=recipe))
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    return res, {k: v.detach().clone() for k, v in model.state_dict().items()}, after


@pytest.mark.parametrize("name,recipe", [("hnerv", HNERV_RECIPE), ("nerv", NERV_RECIPE), ("hinerv", HINERV_RECIPE)])
def test_calibrated_training_equals_training_at_the_chosen_count(name, recipe, monkeypatch):
    from nvbench import registry

    method = registry.methods.get(name)
    res, calibrated, after = _train(method, recipe, 2, True, monkeypatch)
    assert res.threads is not None and set(res.threads["steps_per_s"]) == {"2", "1"}
    assert after == 2  # the worker's count is back after training
    chosen = res.threads["threads"]
    ref_res, fixed, _ = _train(method, recipe, chosen, False, monkeypatch)
    assert ref_res.threads is None
    assert res.history[-1]["loss"] == ref_res.history[-1]["loss"]
    different = [k for k in fixed if not torch.equal(fixed[k], calibrated[k])]
    assert not different, f"the calibration's steps left a trace in: {different[:5]}"


def test_records_carry_the_training_thread_count(tmp_path, monkeypatch):
    """A CPU training's records say at how many threads train_seconds were taken: the calibrated
    count in `auto` mode, the user's count with --threads."""
    import json

    from nvbench.cli import main

    monkeypatch.setitem(nvthreads._MODE, "mode", "auto")
    monkeypatch.setenv("NVBENCH_THREADS_MODE", "auto")
    torch.set_num_threads(2)
    store = tmp_path / "auto"
    assert main(["run", "-m", "hnerv", "-t", "reconstruction", "--preset", "smoke", "--epochs", "1",
                 "--results", str(store), "--quiet"]) == 0
    (job,) = [json.loads(p.read_text()) for p in (store / "jobs").glob("*.json")]
    assert job["records"][0]["train_threads"] in (1, 2)
    meta = [json.loads(p.read_text()) for p in (store / "models").glob("*/meta.json")]
    assert meta[0]["result"]["threads"]["threads"] == job["records"][0]["train_threads"]
    store = tmp_path / "fixed"
    assert main(["run", "-m", "hnerv", "-t", "reconstruction", "--preset", "smoke", "--epochs", "1", "--threads", "1",
                 "--results", str(store), "--quiet"]) == 0
    (job,) = [json.loads(p.read_text()) for p in (store / "jobs").glob("*.json")]
    assert job["records"][0]["train_threads"] == 1
    assert nvthreads.mode() == "fixed"  # --threads fixed the count for the rest of the process
