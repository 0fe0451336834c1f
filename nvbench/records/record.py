"""The record: one measured point of one job, its closed vocabularies, and the builders that make it.

A record is a `TypedDict`, not a dataclass, on purpose: records are JSON objects in the store,
tasks add their own fields beside the common ones (a codec's `quality`, a pipeline's `bits`,
inpainting's `mask`) and the report reads stores written by older versions. A TypedDict is
the plain dict the store, the report and pandas already pass around, with the field types
written down for type checkers and for `record_problems`, which checks them at run time.

Every record is made by `build_record` (through the four builders below or
`TaskContext.base_record`), so a status or split outside the vocabularies raises where it
is written, not later when a report misfiles the row.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, Literal, NotRequired, Required, TypedDict, Union, get_args, get_origin

if TYPE_CHECKING:
    from nvbench.jobs import Job
    from nvbench.video import Video

#: What became of a record. ok: measured; not_applicable: the task cannot run the method (a
#: missing capability, an anchor without the hook); failed: the job raised (the reason is the
#: error); diverged: training stopped on a non-finite loss, a PSNR collapse or a stall.
Status = Literal["ok", "not_applicable", "failed", "diverged"]
STATUSES: tuple[str, ...] = get_args(Status)

#: Which frames a record measures. all: every frame; seen / held-out: the frames interpolation
#: trained on and the ones it held out (the store has always spelled it `held-out`).
Split = Literal["all", "seen", "held-out"]
SPLITS: tuple[str, ...] = get_args(Split)

#: Old spellings read from stores and fixtures, mapped once when records are loaded (nvbench.records.frame).
SPLIT_ALIASES: dict[str, str] = {"held_out": "held-out", "heldout": "held-out"}

Number = int | float

Record = TypedDict("Record", {
    # -- every record carries these (RECORD_FIELDS); None where the job has no value (a codec's params)
    "method": Required[str], "variant": Required[str], "task": Required[str], "dataset": Required[str],
    "sequence": Required[str], "height": Required[int | None], "width": Required[int | None],
    "frames": Required[int | None], "size_target": Required[int | str | None], "params": Required[int | None],
    "recipe": Required[str | None], "seed": Required[int], "preset": Required[str], "epoch": Required[int | None],
    "split": Required[Split], "psnr": Required[Number | None], "psnr_float": Required[Number | None],
    "ms_ssim": Required[Number | None], "bpp": Required[Number | None], "train_seconds": Required[Number | None],
    "decode_fps": Required[Number | None], "status": Required[Status], "reason": Required[str],
    # -- written by TaskContext.base_record for every task (missing in failed records and older stores)
    "psnr_pooled": NotRequired[Number | None], "crop": NotRequired[str | None],
    "resolution": NotRequired[str | None], "resize_filter": NotRequired[str], "colour": NotRequired[str | None],
    "device": NotRequired[str | None], "amp": NotRequired[str | None],
    "macs_per_pixel": NotRequired[Number | None], "macs_reason": NotRequired[str],
    "train_threads": NotRequired[int],  # CPU threads of the training (nvbench/threads.py), for trained methods
    # -- written by some tasks: what tells the points of one job apart, and what they measured
    "quality": NotRequired[int], "quality_name": NotRequired[str], "coder": NotRequired[str],
    "bits": NotRequired[int], "embed_bits": NotRequired[int], "prune_ratio": NotRequired[Number],
    "lambda": NotRequired[Number], "mask": NotRequired[str], "file": NotRequired[str],
    "file_bytes": NotRequired[int], "frames_evaluated": NotRequired[int], "interp_split": NotRequired[str],
    "psnr_y": NotRequired[Number | None], "psnr_yuv": NotRequired[Number | None],
    "psnr_masked": NotRequired[Number | None], "lpips": NotRequired[Number | str | None],
    "vmaf": NotRequired[Number | str | None], "reused_model": NotRequired[bool],
    "budget_seconds": NotRequired[Number | None],
    # -- added by the runner to the records of a retried (diverged) job
    "retry_of": NotRequired[str], "attempt": NotRequired[int],
}, total=False)

#: Fields every record carries, in display order (later work adds fields; none renames these).
RECORD_FIELDS: tuple[str, ...] = tuple(sorted(Record.__required_keys__, key=list(Record.__annotations__).index))


class RecordError(ValueError):
    """A record field outside its vocabulary: a bug in the code that wrote it."""


def check_status(status: Any) -> Status:
    if status not in STATUSES:
        raise RecordError(f"record status {status!r}: use one of {', '.join(STATUSES)}")
    return status


def check_split(split: Any) -> Split:
    if split not in SPLITS:
        raise RecordError(f"record split {split!r}: use one of {', '.join(SPLITS)}")
    return split


def _hw(hw: Any) -> str | None:
    return f"{hw[0]}x{hw[1]}" if isinstance(hw, (list, tuple)) and len(hw) == 2 else None


def job_fields(job: Job, video: Video | None = None) -> dict[str, Any]:
    """The fields a job (and, once loaded, its video) gives every record of it."""
    fields: dict[str, Any] = {
        "method": job.method, "task": job.task, "dataset": job.dataset, "sequence": job.sequence,
        "size_target": job.size, "seed": job.seed, "preset": job.preset, "recipe": job.recipe,
        "crop": _hw(job.crop), "height": None, "width": None, "frames": job.frames,
        "resolution": _hw(job.resolution),
    }
    if video is not None:
        fields.update(height=video.height, width=video.width, frames=video.num_frames,
                      resolution=f"{video.height}x{video.width}")
    return fields


def build_record(job: Job, status: Status, *, video: Video | None = None, reason: str = "",
                 **fields: Any) -> Record:
    """A record of `job` with `status`: every RECORD_FIELD present (None where unmeasured), the
    job's identity, then `fields` (which win). Raises RecordError on a status or split outside
    the vocabularies."""
    rec: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    rec.update(variant="", split="all", reason="")
    rec.update(job_fields(job, video))
    rec.update(fields)
    rec["status"] = check_status(status)
    rec["reason"] = str(reason or "")
    check_split(rec["split"])
    if rec["variant"] is None:
        rec["variant"] = ""
    return rec  # type: ignore[return-value]


def ok_record(job: Job, video: Video | None = None, **fields: Any) -> Record:
    """A measured point."""
    return build_record(job, "ok", video=video, **fields)


def not_applicable_record(job: Job, reason: str, video: Video | None = None, **fields: Any) -> Record:
    """The task cannot run this method; `reason` says why (e.g. a missing capability)."""
    return build_record(job, "not_applicable", video=video, reason=reason, **fields)


def failed_record(job: Job, reason: str, video: Video | None = None, **fields: Any) -> Record:
    """The job raised; `reason` is the error in one line. `video` is None when loading it failed."""
    return build_record(job, "failed", video=video, reason=reason, **fields)


def diverged_record(job: Job, reason: str, video: Video | None = None, **fields: Any) -> Record:
    """Training diverged (non-finite loss, PSNR collapse, stall); `reason` says which, at which epoch."""
    return build_record(job, "diverged", video=video, reason=reason, **fields)


# ---------------------------------------------------------------------------------------------
# Checking a record against the TypedDict at run time (tests, `nvbench verify`).

def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return value in get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _hints() -> dict[str, Any]:
    out = {}
    for name, hint in Record.__annotations__.items():
        if isinstance(hint, str):  # postponed annotations are not used here, but be safe
            hint = eval(hint, globals())  # noqa: S307 - our own module's names
        while get_origin(hint) in (Required, NotRequired):
            hint = get_args(hint)[0]
        out[name] = hint
    return out


def record_problems(rec: Any) -> list[str]:
    """What is wrong with `rec` as a Record (empty: fine): missing common fields, a status or
    split outside the vocabularies, a known field of the wrong type. Unknown fields are allowed."""
    if not isinstance(rec, dict):
        return [f"not a record: {type(rec).__name__}"]
    problems = [f"lacks {f}" for f in RECORD_FIELDS if f not in rec]
    for name, hint in _hints().items():
        if name in rec and not _matches(rec[name], hint):
            problems.append(f"{name}={rec[name]!r} is not {hint}")
    return problems
