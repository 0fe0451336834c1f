"""How a trained representation becomes rate-distortion points: the pipelines and the scoring step.

A pipeline takes a trained model (`nvbench.fit.Fitted`) and makes one real .nvb file per RD
point. Every pipeline ends each point with the same `PipelineRun.score` step: the file is
written, decoded again from its bytes alone the reference way (the threads and batch of
`nvbench decode`, so a fresh process gives exactly these frames), scored, and turned into a
record. What differs between pipelines is only how the file's bytes are made.

`shared_pipeline` is the one every method can use (global magnitude pruning -> fine-tuning with
the shared loop -> post-training quantisation -> entropy coding); a method may name its own as
`compression_pipeline = "module:function"` (a function taking a `PipelineRun`, returning
records), and the compression task's option `pipeline=shared` runs the shared one instead, so
that an architecture and a pipeline can be compared separately.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: `pipeline_name` of records made by the shared pipeline
SHARED = "shared"
#: the least timing window of a point's decode_fps: at least one full pass of the video (the cpu
#: preset's is ~0.5 s); files of one decoder signature are timed once (PipelineRun.decode_speed)
FPS_SECONDS = 0.25


def frames_digest(frames: Any) -> str:
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()


_CEILING: dict[str, float] = {}


def reference_planes(video: Any) -> dict[str, Any]:
    """The BT.709 4:2:0 planes of the source frames and the round-trip ceiling they allow,
    computed once per source content (the main job's x265 anchor and the method share them)."""
    from nvbench.colour import DESCRIPTION, roundtrip_ceiling, source_planes

    yuv = source_planes(video.frames)
    key = frames_digest(video.frames)
    ceiling = _CEILING.get(key)
    if ceiling is None:
        ceiling = roundtrip_ceiling(video.frames, yuv)
        _CEILING.clear()
        _CEILING[key] = ceiling
    return {"yuv": yuv, "ceiling": ceiling, "colour": DESCRIPTION}


def plane_metrics(video: Any, opts: dict[str, Any], ref: dict[str, Any], frames: Any, yuv: Any = None) -> dict:
    """PSNR-Y/-U/-V/-YUV against the source's 4:2:0 planes, the ceiling and VMAF (or 'off'). numpy
    and libvmaf give the same numbers at any thread count, so scoring runs this side by side."""
    from nvbench.colour import rgb_to_yuv420, yuv_psnr
    from nvbench.perceptual import vmaf

    yuv = yuv if yuv is not None else rgb_to_yuv420(frames)
    out: dict[str, Any] = yuv_psnr(ref["yuv"], yuv)
    out["psnr_ceiling_yuv420"] = ref["ceiling"]
    out["colour_conversion"] = ref["colour"]
    out["vmaf"] = vmaf(video.frames, frames, video.fps, ref["yuv"], yuv) if opts.get("vmaf", True) else "off"
    return out


def lpips_metric(video: Any, opts: dict[str, Any], frames: Any) -> dict:
    """LPIPS (or 'off'): torch at the worker's threads, so one file at a time."""
    from nvbench.perceptual import lpips_score

    return {"lpips": lpips_score(video.frames, frames) if opts.get("lpips", True) else "off"}


def rgb_metrics(video: Any, frames: Any) -> dict[str, Any]:
    """PSNR / MS-SSIM of uint8 frames (T,H,W,3) against the source, as evaluation measures them."""
    import torch

    from nvbench.metrics import QualityAccumulator

    acc = QualityAccumulator()
    gt = video.frames
    for s in range(0, len(frames), 16):
        pred = torch.from_numpy(frames[s : s + 16]).permute(0, 3, 1, 2).float() / 255.0
        acc.add(pred, torch.from_numpy(gt[s : s + 16]).permute(0, 3, 1, 2))
    return acc.result()


def resolve_pipeline(method: Any, choice: str) -> tuple[str, Callable[[PipelineRun], list[dict[str, Any]]]]:
    """(pipeline_name, function) for a method and the task's `pipeline` option: the method's own
    `compression_pipeline` when it names one and `choice` is 'own', else the shared pipeline."""
    own = str(getattr(method, "compression_pipeline", "") or "")
    if choice == "own" and own:
        from nvbench.registry import import_object

        return own, import_object(own)
    return SHARED, shared_pipeline


@dataclass
class PipelineRun:
    """One compression job's trained model and everything a pipeline needs to make its points."""

    ctx: Any  # nvbench.tasks.base.TaskContext
    opts: dict[str, Any]  # the compression task's options, resolved
    fitted: Any  # nvbench.fit.Fitted
    pipeline: str = "own"  # the task option as asked: own | shared
    pipeline_name: str = SHARED  # what runs: "shared" or the method's "module:function"
    rd_knob: str = "bits"  # what the points sweep (the method's rd_knob)
    base: dict[str, Any] = field(default_factory=dict)  # fields every record of the job has
    _ref: dict[str, Any] | None = None
    _speeds: dict[str, tuple[float, str]] = field(default_factory=dict)  # signature -> (fps, timed variant)

    def option(self, key: str, default: Any) -> Any:
        """A task option as the user set it, else the pipeline's own default (an own pipeline
        sweeps its paper's points unless told otherwise: the task's defaults are the shared
        pipeline's)."""
        return self.opts[key] if key in (self.ctx.task_options or {}) else default

    @property
    def reference(self) -> dict[str, Any]:
        if self._ref is None:
            self._ref = reference_planes(self.ctx.video)
        return self._ref

    def score(self, data: bytes, variant: str, *, encode_seconds: float, extra: dict[str, Any] | None = None
              ) -> dict[str, Any]:
        """Write `data` as <variant>.nvb, decode it from the file alone the reference way, score
        those frames and return the point's record (the whole file counts for the rate)."""
        return self.score_many([Point(data, variant, encode_seconds, extra)])[0]

    def score_many(self, points: list[Point]) -> list[dict[str, Any]]:
        """`score` for several files, in order. The reference decode and its PSNR/MS-SSIM run at
        one thread each (`nvbench decode`'s) and the plane metrics and VMAF at any count, so on a
        CPU with more threads than that several files are decoded and scored at once, one per
        thread, with the same bits as one after the other; what is timed (decode frames/s) and the
        metrics taken at the session's thread count (LPIPS) then run one file at a time."""

        from nvbench.compress.nvb import REFERENCE_THREADS, torch_threads
        from nvbench.train import pick_device

        device = pick_device(self.ctx.device)
        _ = self.reference  # computed once, before any worker thread needs it
        paths = []
        for p in points:
            path: Path = self.ctx.artifacts / f"{p.variant}.nvb"
            path.write_bytes(p.data)
            paths.append(path)
        workers = scoring_workers(len(points), device.type)  # from the worker's threads, before they drop to one
        with torch_threads(REFERENCE_THREADS):
            decoded = side_by_side(lambda path: self._reference_decode(path, device), paths, workers)
        return [self._record(p, path, d, device, self.decode_speed(p.variant, d, device))
                for p, path, d in zip(points, paths, decoded)]

    def decode_speed(self, variant: str, d: dict[str, Any], device: Any) -> tuple[float, str]:
        """(decode frames/s, the variant whose decoder was timed) for a decoded file, at the
        session's threads with nothing else running. Files of one `speed_signature` (a job's
        points in the shared layout: one architecture, other weight values) do the same work, so
        the first of them is timed for all (the job's eight timings of one computation differed
        only by the host's noise); a method's own layout is timed file by file."""
        from nvbench.compress.nvb import REFERENCE_BATCH
        from nvbench.metrics import measure_fps

        sig = d["signature"]
        if sig is not None and sig in self._speeds:
            return self._speeds[sig]
        fps = measure_fps(d["loaded"], self.ctx.video.num_frames, device, batch_size=REFERENCE_BATCH,
                          min_seconds=FPS_SECONDS)
        if sig is not None:
            self._speeds[sig] = (fps, variant)
        return fps, variant

    def _reference_decode(self, path: Path, device: Any) -> dict[str, Any]:
        """Decode `path` from its bytes alone in batches of REFERENCE_BATCH and accumulate its
        quality against the source (called at REFERENCE_THREADS; thread-safe)."""
        import numpy as np
        import torch

        from nvbench.compress.nvb import REFERENCE_BATCH, load_decoder, speed_signature
        from nvbench.evaluate import decoded_batches, to_host_uint8
        from nvbench.metrics import QualityAccumulator

        v, fitted = self.ctx.video, self.fitted
        t0 = time.perf_counter()
        loaded, header = load_decoder(path, str(device))
        setup = time.perf_counter() - t0
        acc, chunks = QualityAccumulator(), []
        with torch.inference_mode():
            for _, idx, pred in decoded_batches(loaded, range(v.num_frames), REFERENCE_BATCH):
                acc.add(pred, fitted.source.uint8(idx))
                chunks.append(to_host_uint8(pred))
        dec_s = time.perf_counter() - t0
        frames = np.concatenate(chunks)
        return {"loaded": loaded, "setup": setup, "seconds": dec_s, "quality": acc.result(), "frames": frames,
                "planes": plane_metrics(v, self.opts, self.reference, frames), "signature": speed_signature(header)}

    def _record(self, p: Point, path: Path, d: dict[str, Any], device: Any, speed: tuple[float, str]
                ) -> dict[str, Any]:
        from nvbench.compress.nvb import REFERENCE_THREADS

        ctx, fitted, v = self.ctx, self.fitted, self.ctx.video
        pixels = v.num_frames * v.height * v.width
        size = len(p.data)
        params = fitted.config["params"]
        rec = ctx.base_record(**self.base, variant=p.variant, file=str(path), file_bytes=size, bpp=size * 8 / pixels,
                              encode_seconds=p.encode_seconds,
                              encode_seconds_total=p.encode_seconds + fitted.result.train_seconds,
                              decode_seconds=d["seconds"], decode_setup_seconds=d["setup"],
                              decode_threads=REFERENCE_THREADS,
                              decode_fps=speed[0], decode_fps_variant=speed[1],
                              frames_sha256=frames_digest(d["frames"]), bits_per_param=size * 8 / params,
                              **(p.extra or {}))
        rec["ppp"] = params / pixels
        rec.update(d["quality"])
        rec.update(d["planes"])
        rec.update(lpips_metric(v, self.opts, d["frames"]))
        return rec


def side_by_side(fn: Callable[[Any], Any], items: list[Any], workers: int) -> list[Any]:
    """`fn` over `items`, results in order: `workers` at a time in threads, or one after the other
    when that is 1 (the scoring of RD points and a codec's ladder)."""
    if workers <= 1:
        return [fn(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def scoring_workers(points: int, device_type: str, threads_each: int | None = None) -> int:
    """How many of `points` run at once (`side_by_side`): one per `threads_each` of the worker's
    torch threads on a CPU, by default REFERENCE_THREADS (`score_many`'s reference decodes; a
    codec's ladder passes its encoder's threads); a GPU decodes one file at a time."""
    import torch

    from nvbench.compress.nvb import REFERENCE_THREADS

    if device_type != "cpu":
        return 1
    return max(1, min(points, torch.get_num_threads() // max(1, threads_each or REFERENCE_THREADS)))


@dataclass
class Point:
    """One RD point's file before it is scored: its bytes, its variant name (the file name), the
    seconds it took to make, and fields for its record."""

    data: bytes
    variant: str
    encode_seconds: float
    extra: dict[str, Any] | None = None


def shared_pipeline(run: PipelineRun) -> list[dict[str, Any]]:
    """Today's pipeline for every representation: for each pruning ratio, global magnitude
    pruning and fine-tuning with the shared loop; for each bit depth, post-training
    quantisation (HNeRV's rule) and entropy coding into one .nvb."""
    from nvbench.compress.nvb import encode_decoder
    from nvbench.compress.prune import prune_and_finetune, sparsity

    ctx, opts, fitted, m = run.ctx, run.opts, run.fitted, run.ctx.method
    ft_epochs = opts["finetune_epochs"] if opts["finetune_epochs"] >= 0 else max(1, ctx.job.epochs // 10)
    other = {"range": "huffman", "huffman": "range"}[opts["coder"]]
    points: list[Point] = []
    for ratio in [float(r) for r in opts["prune"]]:
        t0 = time.perf_counter()
        if ratio > 0:
            dec, pinfo = prune_and_finetune(fitted.decoder, ratio, fitted.source, ctx.recipe, ft_epochs,
                                            build_decoder=m.build_decoder, seed=ctx.job.seed)
        else:
            dec, pinfo = fitted.decoder, {"prune_ratio": 0.0, "finetune_epochs": 0, "finetune_seconds": 0.0,
                                          "sparsity": sparsity(fitted.decoder)}
        prep = time.perf_counter() - t0
        for bits in [int(b) for b in opts["bits"]]:
            ebits = int(opts["embed_bits"]) or bits
            variant = f"q{bits}" + (f"e{ebits}" if ebits != bits else "") + (f"-p{ratio:g}" if ratio else "")
            kw = dict(bits=bits, embed_bits=ebits, exact_zero=ratio > 0,
                      info={"prune_ratio": ratio, "variant": variant, "sequence": ctx.job.sequence,
                            "dataset": ctx.job.dataset, "preset": ctx.job.preset})
            t1 = time.perf_counter()
            data = encode_decoder(dec, m.name, m.version, fitted.config, coder=opts["coder"], **kw)
            enc = prep + time.perf_counter() - t1
            other_bytes = len(encode_decoder(dec, m.name, m.version, fitted.config, coder=other, **kw))
            points.append(Point(data, variant, enc, dict(
                bits=bits, embed_bits=ebits, coder=opts["coder"],
                **{f"bytes_{opts['coder']}": len(data), f"bytes_{other}": other_bytes}, **pinfo)))
    return run.score_many(points)
