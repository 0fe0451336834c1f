"""Interpolation (internal generalisation; docs/tasks.md): train on every other frame, test on the rest.

The split follows the official HNeRV `--data_split a_b_c`: frame k trains when k mod c < a and
is held out when k mod c >= b; the paper's every-other-frame split is 1_1_2 ("even"). Seen and
held-out PSNR are separate records. A held-out frame is produced by each variant the trained
representation declares (`interpolation_variants`: "index" for index-based methods, HNeRV's
"interp-embed" and "encode-frame", ...), or by an INTERPOLATE anchor from the two nearest
training frames (one at the ends). Each method's index normalisation is recorded.
"""

from __future__ import annotations

from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import INTERPOLATE, REPRESENTATION
from nvbench.tasks.base import Task, TaskContext


def split_indices(spec: str, frames: int) -> tuple[list[int], list[int]]:
    """(train, held_out) frame indices for 'even', 'odd' or the official 'a_b_c' rule."""
    spec = str(spec).strip().lower()
    if spec == "even":
        a, b, c = 1, 1, 2
    elif spec == "odd":
        train = [k for k in range(frames) if k % 2 == 1]
        return train, [k for k in range(frames) if k % 2 == 0]
    else:
        try:
            a, b, c = (int(x) for x in spec.split("_"))
        except ValueError as exc:
            raise NvbenchError(f"interpolation: split={spec!r}: use even, odd or a_b_c (e.g. 1_1_2)") from exc
        if c < 1 or not 0 <= a <= c or not 0 <= b <= c:
            raise NvbenchError(f"interpolation: split={spec!r}: need 0 <= a, b <= c and c >= 1")
    train = [k for k in range(frames) if k % c < a]
    held = [k for k in range(frames) if k % c >= b and k not in set(train)]
    return train, held


def neighbours(index: int, train: list[int]) -> tuple[int, int, float]:
    """(before, after, weight of after) for a held-out index: the nearest training frames on
    each side; at an end the one neighbour serves as both."""
    lower = [t for t in train if t < index]
    upper = [t for t in train if t > index]
    before = lower[-1] if lower else upper[0]
    after = upper[0] if upper else before
    weight = 0.0 if after == before else (index - before) / (after - before)
    return before, after, weight


class InterpolationTask(Task):
    name = "interpolation"
    version = "1"
    description = ("train on even frames, test on odd ones (a_b_c split as the official code); seen and held-out "
                   "PSNR per interpolation variant; non-learned neighbour-average anchor")
    needs_any = frozenset({REPRESENTATION, INTERPOLATE})
    options: ClassVar[dict[str, Any]] = {"split": "even", "ms_ssim": True}
    #: CLI columns: metric names (header and digits from nvbench.records.catalogue), context fields and
    #: this task's own context columns as (field, header, digits)
    table_columns: ClassVar[list[str | tuple[str, str] | tuple[str, str, int]]] = [
        "method", "variant", "split", "size_target", "params", "epoch", ("frames_evaluated", "frames", 0), "psnr",
        "psnr_float", "ms_ssim", ("index_normalisation", "index t", 0), "status",
    ]

    def run(self, ctx: TaskContext) -> list[dict[str, Any]]:
        opts = self.resolve_options(ctx.task_options)
        train, held = split_indices(opts["split"], ctx.video.num_frames)
        n = ctx.video.num_frames
        if not train:
            raise NvbenchError(f"interpolation: split={opts['split']} leaves no training frame among {n} frames")
        if not held:
            raise NvbenchError(f"interpolation: split={opts['split']} leaves no held-out frame among {n} frames")
        common = {"index_normalisation": ctx.method.index_normalisation or None, "interp_split": opts["split"],
                  "train_frames": len(train)}
        if ctx.method.has(REPRESENTATION):
            return self._representation(ctx, opts, train, held, common)
        return self._anchor(ctx, train, held, common)

    def _representation(self, ctx: TaskContext, opts: dict[str, Any], train: list[int], held: list[int],
                        common: dict[str, Any]) -> list[dict[str, Any]]:
        from nvbench.evaluate import evaluate_frames
        from nvbench.fit import fit_representation, plan_for
        from nvbench.train import with_autocast

        variants = tuple(getattr(ctx.method.build(plan_for(ctx)), "interpolation_variants", ()))
        if not variants:
            return [ctx.base_record(status="not_applicable", split="held-out", **common,
                                    reason=f"{ctx.method.name}'s representation declares no interpolation variant")]
        fitted = fit_representation(ctx, train_indices=train, split={"interpolation": opts["split"]})
        res = fitted.result
        base = {"params": fitted.config["params"], "epoch": res.epochs_done,
                "train_seconds": round(res.train_seconds, 3), "reused_model": fitted.reused, **common}
        if res.status != "ok":
            return [ctx.base_record(status=res.status, reason=res.reason, **base)]
        ms = bool(opts["ms_ssim"])
        records = [ctx.base_record(split="seen", frames_evaluated=len(train), **base,
                                   **evaluate_frames(fitted.decode, fitted.source, train, with_ms_ssim=ms))]
        model, source = fitted.model.eval(), fitted.source
        for variant in variants:
            def decode(idx: Any, variant: str = variant) -> Any:
                return model.interpolate(variant, idx, source.float, train)

            decode = with_autocast(decode, source.device, ctx.amp)
            metrics = evaluate_frames(decode, source, held, with_ms_ssim=ms)
            records.append(ctx.base_record(split="held-out", variant=variant, frames_evaluated=len(held),
                                           **base, **metrics))
        return records

    def _anchor(self, ctx: TaskContext, train: list[int], held: list[int],
                common: dict[str, Any]) -> list[dict[str, Any]]:
        import numpy as np
        import torch

        from nvbench.metrics import QualityAccumulator

        frames = ctx.video.frames
        opts = ctx.method.resolve_options(ctx.method_options)
        acc = QualityAccumulator(with_ms_ssim=bool(self.resolve_options(ctx.task_options)["ms_ssim"]))
        for s in range(0, len(held), 8):
            chunk = held[s : s + 8]
            nb = [neighbours(i, train) for i in chunk]
            before = np.asarray(frames[[b for b, _, _ in nb]])
            after = np.asarray(frames[[a for _, a, _ in nb]])
            pred = ctx.method.interpolate_frames(before, after, np.array([w for _, _, w in nb]), opts)
            gt = torch.from_numpy(np.asarray(frames[chunk])).permute(0, 3, 1, 2)
            acc.add(torch.from_numpy(np.ascontiguousarray(pred)).permute(0, 3, 1, 2), gt)
        return [ctx.base_record(split="held-out", frames_evaluated=len(held), **common, **acc.result())]
