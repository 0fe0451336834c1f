"""What identifies a trained representation: the one rule behind the trainer's model cache
(models/<train-key>/, nvbench.fit) and the scheduler's grouping of jobs (nvbench.schedule).
Pure Python: the parent computes it for every job without importing torch."""

from __future__ import annotations

from typing import Any

from nvbench.jobs import Job, digest
from nvbench.recipe import Recipe, resolve_recipe

_FROM_JOB: Any = object()  # model_identity's default: the job's own value


def job_recipe(job: Job, method: Any) -> Recipe | None:
    """The recipe a job trains with: its recipe name resolved against the method's own, at the
    preset's batch size; None for a method without a recipe or a job that trains nothing."""
    if not method.recipe or job.recipe == "-":
        return None
    from nvbench.presets import PRESETS

    return resolve_recipe(job.recipe, method.recipe).with_batch(PRESETS[job.preset].batch_size)


def model_identity(job: Job, config: dict[str, Any], recipe: Recipe | None, *,
                   options: dict[str, Any] | None = None, epochs: int | None = None,
                   amp: str | None = _FROM_JOB) -> dict[str, Any]:
    """Everything that fixes a trained model except the frames the task trains on (its split):
    the method and its plan (`config`, so two size spellings of one plan are one model), the
    options, the resolved recipe, epochs, seed, the source frames and their geometry, the time
    budget and the precision. Not the dataset's or the preset's name: the source checksum and
    the resolved recipe already say what they change. `options`/`epochs`/`amp` default to the
    job's (a task may train with other options, e.g. one model per C3 lambda)."""
    return {
        "method": job.method, "method_version": job.method_version, "config": config,
        "options": job.method_options if options is None else options,
        "recipe": recipe.to_dict() if recipe else None, "epochs": job.epochs if epochs is None else epochs,
        "seed": job.seed, "source": job.source_checksum, "crop": job.crop, "resolution": job.resolution,
        "frames": job.frames, "budget": job.budget_seconds, "amp": job.amp if amp is _FROM_JOB else amp,
    }


def train_key(identity: dict[str, Any], split: dict[str, Any]) -> str:
    """The key of one trained model: its identity and the task's split (e.g. {"interpolation":
    "even"}, inpainting's mask digest; {} for all frames)."""
    return digest({**identity, "split": split})


def group_key(identity: dict[str, Any]) -> str:
    """The same identity without the split, which only a running task knows (inpainting's masks):
    every job that may share a model gets one group key."""
    return digest(identity)
