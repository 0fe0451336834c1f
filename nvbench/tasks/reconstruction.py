"""Reconstruction: fit every frame, report the final-epoch quality of the stored representation."""

from __future__ import annotations

from typing import Any

from nvbench.methods import REPRESENTATION
from nvbench.tasks.base import Task, TaskContext


class ReconstructionTask(Task):
    name = "reconstruction"
    version = "1"
    description = ("train on all frames; PSNR (8-bit, float, pooled) and MS-SSIM of the final epoch's "
                   "stored representation, parameters, ppp, train time, decode fps")
    needs_any = frozenset({REPRESENTATION})

    def run(self, ctx: TaskContext) -> list[dict[str, Any]]:
        import numpy as np
        import torch

        from nvbench.evaluate import decode_uint8, evaluate_frames, sample_indices
        from nvbench.fit import fit_representation
        from nvbench.metrics import measure_fps
        from nvbench.train import pick_device

        fitted = fit_representation(ctx)
        res = fitted.result
        rec = ctx.base_record(params=fitted.config["params"], epoch=res.epochs_done,
                              train_seconds=round(res.train_seconds, 3))
        rec["params_paper"] = fitted.config.get("params_paper")
        rec["reused_model"] = fitted.reused
        rec["resumed_from_epoch"] = res.resumed_from  # > 0: training continued from a checkpoint
        rec["train_fps"] = (res.steps * ctx.recipe.batch_size / res.train_seconds) if res.train_seconds else None
        if res.status != "ok":
            rec.update(status=res.status, reason=res.reason)
            return [rec]
        decode = fitted.decode  # under --amp, if the job has it
        rec.update(evaluate_frames(decode, fitted.source))
        v = ctx.video
        rec["ppp"] = fitted.config["params"] / (v.num_frames * v.height * v.width)
        rec["decode_fps"] = measure_fps(decode, v.num_frames, pick_device(ctx.device), batch_size=8)
        rec["train_loss"] = res.history[-1]["loss"] if res.history else None
        idx = sample_indices(v.num_frames)
        np.savez_compressed(ctx.artifacts / "samples.npz", indices=np.array(idx),
                            decoded=decode_uint8(decode, idx), truth=np.asarray(v.frames[idx]))
        torch.save(fitted.decoder.state_dict(), ctx.artifacts / "decoder.pt")
        return [rec]
