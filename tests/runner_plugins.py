"""Plugins the runner tests register at run time (never installed): a tiny two-sequence
dataset, a method whose recipe diverges, and light tasks. Worker processes import this
module by the 'module:attr' path the parent's registry sends them."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from nvbench import registry
from nvbench.data.base import DatasetCard, DatasetPlugin, SequenceInfo
from nvbench.methods import REPRESENTATION
from nvbench.recipe import HNERV_RECIPE
from nvbench.tasks.base import Task, TaskContext
from nvbench.video import Video
from representations.hnerv import HNeRVMethod

TINY_SHAPE = (8, 32, 64)  # frames, height, width: HNeRV's 2x4 grid times 16


def tiny_frames(name: str) -> np.ndarray:
    t_n, h, w = TINY_SHAPE
    phase = {"alpha": 0.0, "beta": 1.3}[name]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((t_n, h, w, 3), np.uint8)
    for t in range(t_n):
        for c in range(3):
            v = 0.5 + 0.4 * np.sin(x / w * 2 * np.pi + phase + c + 0.3 * t) * np.cos(y / h * np.pi + 0.1 * t)
            out[t, :, :, c] = np.rint(v * 255)
    return out


class TinyDataset(DatasetPlugin):
    name = "tiny"
    card = DatasetCard(
        name="tiny", title="two synthetic 8-frame 32x64 sequences (runner tests)",
        sequences=(SequenceInfo("alpha", 8, 32, 64, 25.0), SequenceInfo("beta", 8, 32, 64, 25.0)),
        paper_crop=(32, 64), colour="synthetic RGB", licence="-", citation="-", source="generated",
    )

    def load(self, sequence: str | None = None) -> Video:
        info = self.card.sequence(sequence)
        return Video(frames=tiny_frames(info.name), name=info.name, dataset="tiny", colour="synthetic RGB")

    def checksum(self, sequence: str | None = None) -> str:
        return f"tiny-{self.card.sequence(sequence).name}-v1"


class HotMethod(HNeRVMethod):
    """HNeRV trained with an absurd learning rate: the loss turns NaN within a few steps."""

    name = "hnerv-hot"
    recipe = replace(HNERV_RECIPE, name="hot", lr=1e8, warmup=0.0)


class SleepTask(Task):
    """No training: sleeps `seconds` and records it (measures the runner's own overhead)."""

    name = "sleep"
    trains = False
    options: ClassVar[dict[str, Any]] = {"seconds": 0.0}

    def run(self, ctx: TaskContext) -> list[dict[str, Any]]:
        seconds = float(ctx.task_options.get("seconds", 0.0))
        time.sleep(seconds)
        return [ctx.base_record(reason=f"slept {seconds} s")]


class ProbeTask(Task):
    """Trains through fit_representation like reconstruction/compression/convergence do and
    records whether it trained or loaded the shared representation."""

    name = "probe"
    needs_any = frozenset({REPRESENTATION})

    def run(self, ctx: TaskContext) -> list[dict[str, Any]]:
        from nvbench.fit import fit_representation

        fitted = fit_representation(ctx)
        res = fitted.result
        return [ctx.base_record(params=fitted.config["params"], epoch=res.epochs_done, status=res.status,
                                reason=res.reason,
                                reused_model=fitted.reused, train_key=fitted.train_key,
                                train_loss=fitted.result.history[-1]["loss"] if fitted.result.history else None)]


def register() -> None:
    registry.datasets.register("tiny", "runner_plugins:TinyDataset")
    registry.methods.register("hnerv-hot", "runner_plugins:HotMethod")
    registry.tasks.register("sleep", "runner_plugins:SleepTask")
    registry.tasks.register("probe", "runner_plugins:ProbeTask")
