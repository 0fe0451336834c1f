"""Train a representation once per training configuration and share it between jobs.

The reconstruction, compression and convergence jobs of the same method, video, size,
recipe, seed and split train it once: the trained model lives in the store under
models/<train-key>/, with a checkpoint that lets a killed run resume. What identifies a trained
model is nvbench.trainkey's rule, which the scheduler groups jobs by too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from nvbench.context import TaskContext
from nvbench.methods import build_model
from nvbench.nn import Decoder, NeuralRepresentation
from nvbench.results import write_json_atomic
from nvbench.safeload import load_cached_model, read_json_dict
from nvbench.train import (
    FrameSource,
    TrainResult,
    TrainSettings,
    pick_device,
    seed_everything,
    train,
    with_autocast,
)
from nvbench.trainkey import model_identity, train_key


@dataclass
class Fitted:
    model: NeuralRepresentation
    decoder: Decoder
    config: dict[str, Any]
    result: TrainResult
    source: FrameSource
    train_key: str
    reused: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    amp: str | None = None

    @property
    def decode(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The decoder as evaluated: under the job's mixed precision (`--amp`), if any. The
        stored decoder (and .nvb files) stay float32."""
        return with_autocast(self.decoder, self.source.device, self.amp)


def plan_for(ctx: TaskContext) -> dict[str, Any]:
    v = ctx.video
    return ctx.method.plan(v.num_frames, v.height, v.width, ctx.job.size, ctx.method_options)


def fit_representation(
    ctx: TaskContext,
    *,
    epochs: int | None = None,
    train_indices: Sequence[int] | None = None,
    split: dict[str, Any] | None = None,
    input_transform: Callable | None = None,
    loss_weight: Callable | None = None,
    eval_epochs: Sequence[int] = (),
    evaluate: Callable | None = None,
    callbacks: Sequence[Callable[[dict[str, Any]], None]] = (),
    source: FrameSource | None = None,
) -> Fitted:
    """Train (or load the already trained) representation for this job's configuration.
    `split` describes train_indices / masks for the cache key (e.g. {"train": "even"}).
    A model trained with `eval_epochs` is reused only by a run asking for the same epochs (its
    evaluations come back in `result.evaluations`). `source`: the task's FrameSource, so that
    its `evaluate` callback and training share one copy of the frames. Hybrid methods export
    their embeddings from `input_transform(frames)` (inpainting: the masked frames)."""
    device = pick_device(ctx.device)
    epochs = ctx.job.epochs if epochs is None else epochs
    config = plan_for(ctx)
    identity = model_identity(ctx.job, config, ctx.recipe, options=ctx.method_options, epochs=epochs, amp=ctx.amp)
    key = train_key(identity, split or {})
    folder = ctx.store.models(key)
    if source is None:
        source = FrameSource(ctx.video.frames, device, channels_last=ctx.channels_last)
    # Seed before building: the initial weights must depend on the job's seed only, not on
    # which jobs ran before in this process (workers run many jobs; results must not differ).
    seed_everything(ctx.job.seed)
    model = build_model(ctx.method, config)  # hybrid from the declared HYBRID capability
    meta_path, model_path = folder / "meta.json", folder / "model.pt"
    meta = read_json_dict(meta_path) if meta_path.is_file() and model_path.is_file() else None
    wanted_evals = sorted(set(eval_epochs))
    if meta is not None and (not wanted_evals or meta.get("eval_epochs") == wanted_evals) \
            and load_cached_model(model, model_path, device):  # refused / corrupted: one line, trained again
        model.to(device).eval()
        result = TrainResult(**meta["result"])
        reused = True
    else:
        settings = TrainSettings(
            epochs=epochs, recipe=ctx.recipe, seed=ctx.job.seed, train_indices=train_indices,
            eval_epochs=eval_epochs, budget_seconds=ctx.job.budget_seconds,
            checkpoint=folder / "checkpoint.pt", channels_last=ctx.channels_last, amp=ctx.amp,
            input_transform=input_transform, loss_weight=loss_weight,
        )
        cbs = list(callbacks) + ([ctx.progress] if ctx.progress else [])
        result = train(model, source, settings, callbacks=cbs, evaluate=evaluate)
        reused = False
        if result.status == "ok":
            tmp = model_path.with_name(f".{model_path.name}.{os.getpid()}.tmp")
            torch.save(model.state_dict(), tmp)
            os.replace(tmp, model_path)  # atomic: a killed run never leaves half a model
            write_json_atomic(meta_path, {"config": config, "result": result.__dict__, "job": ctx.job.identity(),
                                          "eval_epochs": wanted_evals})
            (folder / "checkpoint.pt").unlink(missing_ok=True)
    if device.type == "cpu":  # the count train_seconds were taken at: calibrated, fixed, or the cached run's
        ctx.train_threads = (result.threads or {}).get("threads") or (None if reused else torch.get_num_threads())
    frames_of = source.float
    if input_transform is not None:
        def frames_of(idx):  # noqa: F811 - what the encoder saw in training
            return input_transform(source.float(idx), idx)
    decoder = model.export(frames_of).eval()
    if ctx.channels_last:  # decoding runs 1.3-1.6x faster in this layout on CPU (nvbench speed)
        decoder = decoder.to(memory_format=torch.channels_last)
    return Fitted(model, decoder, config, result, source, key, reused, amp=ctx.amp)
