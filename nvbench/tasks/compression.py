"""Compression: rate-distortion points from real files, for representations and codecs alike.

Representations: the trained model (shared with reconstruction through fit_representation's
cache) goes through a compression pipeline (nvbench.compress.pipeline) that writes one .nvb file
per RD point: the method's own when it declares `compression_pipeline` and the option
`pipeline` is `own` (the default), else the shared one (pruning at each ratio with fine-tuning in
the shared loop, quantisation at each bit depth, entropy coding). Every pipeline ends each point
with the same scoring step: the file is decoded again from its bytes alone and the metrics are
measured on those frames; `pipeline`, `pipeline_name` and `rd_knob` are in every record. Codecs
(capability CODEC): each quality of the method's ladder is encoded to a real bitstream, decoded,
and measured the same way. bpp = file bits / (T*H*W). Every record also has PSNR-Y/-YUV against
the BT.709 4:2:0 planes of the same frames, the 4:2:0 round-trip ceiling, VMAF and LPIPS (or why
they are unavailable).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from nvbench.compress.pipeline import (
    frames_digest,
    lpips_metric,
    plane_metrics,
    reference_planes,
    rgb_metrics,
    scoring_workers,
    side_by_side,
)
from nvbench.methods import CODEC, REPRESENTATION
from nvbench.records.catalogue import DEFAULT_ANCHOR
from nvbench.tasks.base import Task, TaskContext


def anchor_list(value: Any) -> list[str]:
    """Anchor names from the `anchor` option's text ("x265", "x265,vvenc"), in order, no repeats."""
    return list(dict.fromkeys(a.strip() for a in str(value or "").split(",") if a.strip()))


class CompressionTask(Task):
    name = "compression"
    version = "2"  # 2: symbols centred on the zero code
    description = ("RD points from real files: pruning x quantisation bits for representations (.nvb), "
                   "the quality ladder for codecs; bpp, PSNR(-Y/-YUV), MS-SSIM, VMAF, LPIPS, times")
    needs_any = frozenset({REPRESENTATION, CODEC})
    options: ClassVar[dict[str, Any]] = {
        "bits": [8, 6, 5, 4],  # weight bit depths swept
        "embed_bits": 0,  # embedding bit depth; 0 = same as the weights
        "prune": [0.0, 0.2],  # pruning ratios swept (fraction of weights removed)
        "finetune_epochs": -1,  # after pruning; -1 = a tenth of the training epochs (at least 1)
        "coder": "range",  # entropy coder of the scored file: range | huffman
        # BD-rate anchor(s), comma-separated; the runner adds each one the store has no points of
        "anchor": DEFAULT_ANCHOR,
        "vmaf": True,
        "lpips": True,
        # own: the method's own compression pipeline when it declares one (`compression_pipeline`),
        # else the shared one; shared: the shared pipeline for every method. Left at the default it
        # is not part of the job key, so the keys of jobs written before it existed are unchanged.
        "pipeline": "own",
    }
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = {"coder": ("range", "huffman"),
                                                            "pipeline": ("own", "shared")}
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {
        "bits": (1, 16), "embed_bits": (0, 16), "prune": (0.0, 0.99), "finetune_epochs": (-1, None),
    }
    #: CLI columns (`nvbench run`, `nvbench compare`): metric names (header and digits from
    #: nvbench.records.catalogue), context fields, shorter headers where the table is wide
    table_columns: ClassVar[list[str | tuple[str, str] | tuple[str, str, int]]] = [
        "method", ("variant", "point"), "size_target", "bpp", "psnr", "psnr_y", "psnr_yuv", "ms_ssim", "vmaf",
        "file_bytes", ("coder", "coder", 0), "encode_seconds", "decode_seconds", ("decode_fps", "dec fps"),
    ]

    # -- runner and CLI hooks ----------------------------------------------------------------
    @classmethod
    def anchors(cls, task_options: dict[str, Any] | None) -> list[str]:
        """The BD-rate anchors named by the `anchor` option (comma-separated, e.g. "x265,vvenc")."""
        return anchor_list(cls.resolve_options(task_options).get("anchor"))

    @classmethod
    def companion_jobs(cls, job: Any, store: Any, known: Any = (), anchors: Any = ()) -> list[Any]:
        """Each anchor's compression job (the `anchor` option's, then the run's `--anchor` ones) for
        this sequence and preset when the store has no ok anchor points there (and the run does
        not already include it)."""
        names = dict.fromkeys([*cls.anchors(job.task_options), *anchors])
        return [j for anchor in names for j in cls._anchor_job(anchor, job, store, known)]

    @classmethod
    def _anchor_job(cls, anchor: str, job: Any, store: Any, known: Any) -> list[Any]:
        from nvbench import registry

        if job.method == anchor:
            return []
        same = ("dataset", "sequence", "preset", "frames", "crop", "resolution")
        for other in known:
            if other.method == anchor and other.task == cls.name and all(getattr(other, k) == getattr(job, k)
                                                                         for k in same):
                return []
        for r in store.records():
            if (r.get("method") == anchor and r.get("task") == cls.name and r.get("status") == "ok"
                    and r.get("dataset") == job.dataset and r.get("sequence") == job.sequence
                    and r.get("preset") == job.preset and r.get("frames") == job.frames):
                return []
        try:
            method = registry.methods.get(anchor)
        except Exception:
            return []
        return [replace(job, method=anchor, size=None, recipe="-", seed=1, epochs=0, method_version=method.version,
                        method_options={}, task_options={}, budget_seconds=None)]

    @classmethod
    def summary(cls, records: list[dict[str, Any]], store: Any, anchors: Any = ()) -> str:
        """BD-rate/BD-PSNR against the anchor over everything the store has for the sequences
        of this run, the 4:2:0 ceiling, and what the range coder saves over Huffman."""
        from nvbench.rd import bd_table

        mine = [r for r in records if r.get("task") == cls.name]
        if not mine:
            return ""
        seqs = {(r.get("dataset"), r.get("sequence"), r.get("preset")) for r in mine}
        pool = [r for r in store.records() if (r.get("dataset"), r.get("sequence"), r.get("preset")) in seqs]
        names = {a: None for r in mine for a in anchor_list(r.get("anchor"))} or {DEFAULT_ANCHOR: None}
        lines = []
        for anchor in {**names, **dict.fromkeys(anchors)}:
            lines.append(f"BD-rate / BD-PSNR against {anchor} (PSNR, RGB 8-bit; negative BD-rate = fewer bits):")
            lines.append(bd_table(pool, anchor))
        for ds, seq, preset in sorted(seqs, key=str):
            ceil = [r.get("psnr_ceiling_yuv420") for r in mine if r.get("sequence") == seq
                    and isinstance(r.get("psnr_ceiling_yuv420"), float)]
            if ceil:
                lines.append(f"{ds}:{seq} ({preset}): RGB -> YUV 4:2:0 -> RGB round trip alone allows {ceil[0]:.2f} dB")
        savings = [1 - r["bytes_range"] / r["bytes_huffman"] for r in mine
                   if r.get("bytes_range") and r.get("bytes_huffman")]
        if savings:
            lines.append(f"range coder vs Huffman: files {100 * sum(savings) / len(savings):.1f}% smaller on average "
                         f"({100 * min(savings):.1f}..{100 * max(savings):.1f}%) over {len(savings)} points")
        return "\n".join(lines)

    # -- the task ------------------------------------------------------------------------------
    def run(self, ctx: TaskContext) -> list[dict[str, Any]]:
        opts = self.resolve_options(ctx.task_options)
        if ctx.method.has(REPRESENTATION):
            return self._representation(ctx, opts)
        return self._codec(ctx, opts)

    def _codec(self, ctx: TaskContext, opts: dict) -> list[dict[str, Any]]:
        m, v = ctx.method, ctx.video
        ref = reference_planes(v)
        pixels = v.num_frames * v.height * v.width
        qualities = list(m.qualities(ctx.job.preset, ctx.method_options))

        def code(q: Any) -> tuple[Path, float, Any, float, dict[str, Any]]:
            """Encode and decode one quality (the codec's own processes; its stated threads), then
            its plane metrics and VMAF (numpy and libvmaf: the same at any thread count)."""
            t0 = time.perf_counter()
            path = Path(m.encode(v.frames, q, ctx.artifacts, ctx.method_options, fps=v.fps))
            enc = time.perf_counter() - t0
            t1 = time.perf_counter()
            out = m.decode(path, (v.num_frames, v.height, v.width), ctx.artifacts, ctx.method_options)
            dec = time.perf_counter() - t1
            return path, enc, out, dec, plane_metrics(v, opts, ref, out.rgb, getattr(out, "yuv", None))

        # the qualities are independent bitstreams: encoded and decoded side by side, one per core
        # that the worker has (an encoder at its stated threads gives the same bytes either way);
        # the metrics torch computes at the worker's thread count run one after the other
        workers = scoring_workers(len(qualities), "cpu", _codec_threads(m, ctx.method_options))
        coded = side_by_side(code, qualities, workers)
        records = []
        for q, (path, enc, out, dec, planes) in zip(qualities, coded):
            size = path.stat().st_size
            rec = ctx.base_record(variant=f"q{q}", quality=q, quality_name=m.quality_name, coder=m.name,
                                  file=str(path), file_bytes=size, bpp=size * 8 / pixels,
                                  encode_seconds=enc, encode_seconds_total=enc, decode_seconds=dec,
                                  decode_fps=v.num_frames / dec if dec > 0 else None,
                                  frames_sha256=frames_digest(out.rgb), anchor=opts["anchor"],
                                  options=m.resolve_options(ctx.method_options),
                                  pipeline=opts["pipeline"], pipeline_name="codec", rd_knob="quality")
            conditions = getattr(m, "coding_conditions", None)  # a codec's stated coding conditions
            rec.update(conditions(q, ctx.method_options) if callable(conditions) else {})
            rec.update(getattr(out, "info", None) or {})  # what the decoder saw (e.g. its intra frames)
            rec.update(rgb_metrics(v, out.rgb))
            rec.update(planes)
            rec.update(lpips_metric(v, opts, out.rgb))
            records.append(rec)
        return records

    def _representation(self, ctx: TaskContext, opts: dict) -> list[dict[str, Any]]:
        from nvbench.compress.pipeline import PipelineRun, resolve_pipeline
        from nvbench.fit import fit_representation

        name, pipeline = resolve_pipeline(ctx.method, opts["pipeline"])
        fitted = fit_representation(ctx)
        res = fitted.result
        base = dict(params=fitted.config["params"], epoch=res.epochs_done, train_seconds=round(res.train_seconds, 3),
                    reused_model=fitted.reused, anchor=opts["anchor"], pipeline=opts["pipeline"], pipeline_name=name,
                    rd_knob=str(getattr(ctx.method, "rd_knob", "bits") or "bits"))
        if res.status != "ok":
            return [ctx.base_record(**base, status=res.status, reason=res.reason)]
        run = PipelineRun(ctx=ctx, opts=opts, fitted=fitted, pipeline=opts["pipeline"], pipeline_name=name,
                          rd_knob=base["rd_knob"], base=base)
        return pipeline(run)


def _codec_threads(method: Any, options: dict[str, Any]) -> int:
    """Threads one encode of `method` uses: its resolved `threads` option (the stated coding
    conditions), else all of the worker's (then its qualities run one after the other)."""
    try:
        n = int(method.resolve_options(options).get("threads") or 0)
    except (AttributeError, TypeError, ValueError):
        n = 0
    if n > 0:
        return n
    import torch

    return torch.get_num_threads()
