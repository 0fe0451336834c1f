"""Convergence: quality of the stored representation against epochs and against training time.

The representation is trained once (the same training as reconstruction) and evaluated at the
scheduled epochs: 1, 2, 5, 10, 20, 50, ... and the last. Evaluation time is not training
time. With `--budget-seconds` the learning-rate schedule is laid over wall-clock time, so every
method gets the same seconds, and the last evaluation falls when the budget runs out.
"""

from __future__ import annotations

from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import REPRESENTATION
from nvbench.tasks.base import Task, TaskContext

BUDGET_SCHEDULE_LIMIT = 10**7  # epochs the open-ended schedule covers under a time budget


def eval_schedule(spec: str, epochs: int | None) -> list[int]:
    """'auto': 1, 2, 5 x 10^k up to `epochs`, plus `epochs` itself; or comma-separated epochs
    (`epochs` None: a time budget, the schedule is open-ended and the last epoch is added by
    the training loop)."""
    limit = epochs if epochs is not None else BUDGET_SCHEDULE_LIMIT
    if str(spec).strip().lower() == "auto":
        out, k = set(), 1
        while k <= limit:
            out.update(m * k for m in (1, 2, 5) if m * k <= limit)
            k *= 10
    else:
        try:
            out = {int(x) for x in str(spec).replace("_", ",").split(",") if x.strip()}
        except ValueError as exc:
            raise NvbenchError(f"convergence: schedule={spec!r}: use 'auto' or epochs like 1,5,10") from exc
        if not out or min(out) < 1:
            raise NvbenchError(f"convergence: schedule={spec!r}: epochs start at 1")
        out = {e for e in out if e <= limit}
    if epochs is not None:
        out.add(epochs)
    return sorted(out)


class ConvergenceTask(Task):
    name = "convergence"
    version = "1"
    description = ("PSNR and MS-SSIM of the stored representation at epochs 1, 2, 5, 10, 20, ... and the last, "
                   "with the elapsed training seconds (--budget-seconds: the schedule over wall-clock time)")
    needs_any = frozenset({REPRESENTATION})
    options: ClassVar[dict[str, Any]] = {"schedule": "auto", "ms_ssim": True}
    #: CLI columns: metric names (header and digits from nvbench.records.catalogue) and context fields
    table_columns: ClassVar[list[str | tuple[str, str] | tuple[str, str, int]]] = [
        "method", "size_target", "params", "epoch", "train_seconds", "budget_seconds", "psnr", "psnr_float",
        "ms_ssim", "status",
    ]

    def run(self, ctx: TaskContext) -> list[dict[str, Any]]:
        from nvbench.evaluate import evaluate_frames
        from nvbench.fit import fit_representation
        from nvbench.train import FrameSource, pick_device, with_autocast

        opts = self.resolve_options(ctx.task_options)
        budget = ctx.job.budget_seconds
        schedule = eval_schedule(opts["schedule"], None if budget else ctx.job.epochs)
        source = FrameSource(ctx.video.frames, pick_device(ctx.device), channels_last=ctx.channels_last)

        def evaluate(model: Any, epoch: int) -> dict[str, Any]:
            decoder = model.export(source.float).eval()  # what would be stored at this epoch
            decode = with_autocast(decoder, source.device, ctx.amp)  # as the final decode is evaluated
            return evaluate_frames(decode, source, with_ms_ssim=bool(opts["ms_ssim"]))

        fitted = fit_representation(ctx, eval_epochs=schedule, evaluate=evaluate, source=source)
        res = fitted.result
        common = {"params": fitted.config["params"], "budget_seconds": budget, "reused_model": fitted.reused,
                  "schedule": opts["schedule"]}
        records = []
        for ev in res.evaluations:
            metrics = {k: v for k, v in ev.items() if k not in ("epoch", "elapsed")}
            records.append(ctx.base_record(epoch=ev["epoch"], train_seconds=round(ev["elapsed"], 3),
                                           final=ev["epoch"] == res.epochs_done, **common, **metrics))
        if res.status != "ok":
            records.append(ctx.base_record(epoch=res.epochs_done, train_seconds=round(res.train_seconds, 3),
                                           status=res.status, reason=res.reason, **common))
        elif not records:
            raise NvbenchError("convergence: no evaluation ran (the budget ended before the first epoch)")
        return records
