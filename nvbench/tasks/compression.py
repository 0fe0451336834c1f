"""Compression: rate-distortion points from real files, for representations and codecs alike.

Representations: the trained model (shared with reconstruction through fit_representation's
cache) is pruned at each ratio (fine-tuned with the shared loop), quantised at each bit depth,
entropy-coded and written as one .nvb file per point; the file is decoded again from its bytes
alone and the metrics are measured on those frames. Codecs (capability CODEC): each quality of
the method's ladder is encoded to a real bitstream, decoded, and measured the same way.
bpp = file bits / (T*H*W). Every record also has PSNR-Y/-YUV against the BT.709 4:2:0 planes of
the same frames, the 4:2:0 round-trip ceiling, VMAF and LPIPS (or why they are unavailable).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from nvbench.methods import CODEC, REPRESENTATION
from nvbench.rd import RD_COLUMNS
from nvbench.tasks.base import Task, TaskContext


def frames_digest(frames: Any) -> str:
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()


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
        "anchor": "x265",  # the BD-rate anchor the runner adds when the store has no points of it
        "vmaf": True,
        "lpips": True,
    }
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = {"coder": ("range", "huffman")}
    table_columns = RD_COLUMNS

    # -- runner and CLI hooks ----------------------------------------------------------------
    @classmethod
    def companion_jobs(cls, job: Any, store: Any, known: Any = ()) -> list[Any]:
        """The anchor's compression job for this sequence and preset when the store has no ok
        anchor points there (and the run does not already include it)."""
        from nvbench import registry

        anchor = str(cls.resolve_options(job.task_options).get("anchor") or "")
        if not anchor or job.method == anchor:
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
    def summary(cls, records: list[dict[str, Any]], store: Any) -> str:
        """BD-rate/BD-PSNR against the anchor over everything the store has for the sequences
        of this run, the 4:2:0 ceiling, and what the range coder saves over Huffman."""
        from nvbench.rd import bd_table

        mine = [r for r in records if r.get("task") == cls.name]
        if not mine:
            return ""
        seqs = {(r.get("dataset"), r.get("sequence"), r.get("preset")) for r in mine}
        pool = [r for r in store.records() if (r.get("dataset"), r.get("sequence"), r.get("preset")) in seqs]
        anchors = {str(r.get("anchor")) for r in mine if r.get("anchor")} or {"x265"}
        lines = []
        for anchor in sorted(anchors):
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

    def _reference(self, ctx: TaskContext) -> dict[str, Any]:
        from nvbench.colour import DESCRIPTION, rgb_to_yuv420, roundtrip_ceiling

        frames = ctx.video.frames
        yuv = rgb_to_yuv420(frames)
        return {"yuv": yuv, "ceiling": roundtrip_ceiling(frames, yuv), "colour": DESCRIPTION}

    def _extra_metrics(self, ctx: TaskContext, opts: dict, ref: dict, frames: Any, yuv: Any = None) -> dict:
        from nvbench.colour import rgb_to_yuv420, yuv_psnr
        from nvbench.perceptual import lpips_score, vmaf

        yuv = yuv if yuv is not None else rgb_to_yuv420(frames)
        out: dict[str, Any] = yuv_psnr(ref["yuv"], yuv)
        out["psnr_ceiling_yuv420"] = ref["ceiling"]
        out["colour_conversion"] = ref["colour"]
        out["vmaf"] = vmaf(ctx.video.frames, frames, ctx.video.fps, ref["yuv"], yuv) if opts["vmaf"] else "off"
        out["lpips"] = lpips_score(ctx.video.frames, frames) if opts["lpips"] else "off"
        return out

    def _rgb_metrics(self, ctx: TaskContext, frames: Any) -> dict[str, Any]:
        import torch

        from nvbench.metrics import QualityAccumulator

        acc = QualityAccumulator()
        gt = ctx.video.frames
        for s in range(0, len(frames), 16):
            pred = torch.from_numpy(frames[s : s + 16]).permute(0, 3, 1, 2).float() / 255.0
            acc.add(pred, torch.from_numpy(gt[s : s + 16]).permute(0, 3, 1, 2))
        return acc.result()

    def _codec(self, ctx: TaskContext, opts: dict) -> list[dict[str, Any]]:
        m, v = ctx.method, ctx.video
        ref = self._reference(ctx)
        pixels = v.num_frames * v.height * v.width
        records = []
        for q in m.qualities(ctx.job.preset, ctx.method_options):
            t0 = time.perf_counter()
            path = Path(m.encode(v.frames, q, ctx.artifacts, ctx.method_options, fps=v.fps))
            enc = time.perf_counter() - t0
            t1 = time.perf_counter()
            out = m.decode(path, (v.num_frames, v.height, v.width), ctx.artifacts, ctx.method_options)
            dec = time.perf_counter() - t1
            size = path.stat().st_size
            rec = ctx.base_record(variant=f"q{q}", quality=q, quality_name=m.quality_name, coder=m.name,
                                  file=str(path), file_bytes=size, bpp=size * 8 / pixels,
                                  encode_seconds=enc, encode_seconds_total=enc, decode_seconds=dec,
                                  decode_fps=v.num_frames / dec if dec > 0 else None,
                                  frames_sha256=frames_digest(out.rgb), anchor=opts["anchor"],
                                  options=m.resolve_options(ctx.method_options))
            rec.update(self._rgb_metrics(ctx, out.rgb))
            rec.update(self._extra_metrics(ctx, opts, ref, out.rgb, getattr(out, "yuv", None)))
            records.append(rec)
        return records

    def _representation(self, ctx: TaskContext, opts: dict) -> list[dict[str, Any]]:
        import torch

        from nvbench.compress.nvb import (
            REFERENCE_BATCH,
            REFERENCE_THREADS,
            encode_decoder,
            load_decoder,
            torch_threads,
        )
        from nvbench.compress.prune import prune_and_finetune, sparsity
        from nvbench.evaluate import decoded_batches, to_host_uint8
        from nvbench.fit import fit_representation
        from nvbench.metrics import QualityAccumulator, measure_fps
        from nvbench.train import pick_device

        device = pick_device(ctx.device)
        fitted = fit_representation(ctx)
        res = fitted.result
        base = dict(params=fitted.config["params"], epoch=res.epochs_done, train_seconds=round(res.train_seconds, 3),
                    reused_model=fitted.reused, anchor=opts["anchor"])
        if res.status != "ok":
            return [ctx.base_record(**base, status=res.status, reason=res.reason)]
        v, m = ctx.video, ctx.method
        pixels = v.num_frames * v.height * v.width
        ref = self._reference(ctx)
        ft_epochs = opts["finetune_epochs"] if opts["finetune_epochs"] >= 0 else max(1, ctx.job.epochs // 10)
        other = {"range": "huffman", "huffman": "range"}[opts["coder"]]
        records = []
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
                path = ctx.artifacts / f"{variant}.nvb"
                path.write_bytes(data)
                other_bytes = len(encode_decoder(dec, m.name, m.version, fitted.config, coder=other, **kw))
                # decode from the file alone and score exactly those frames
                # (the reference decode: the threads and batch `nvbench decode` uses, so a fresh
                # process on this device gives exactly these frames)
                with torch_threads(REFERENCE_THREADS):
                    t2 = time.perf_counter()
                    loaded, _ = load_decoder(path, str(device))
                    setup = time.perf_counter() - t2
                    acc, chunks = QualityAccumulator(), []
                    with torch.inference_mode():
                        for _, idx, pred in decoded_batches(loaded, range(v.num_frames), REFERENCE_BATCH):
                            acc.add(pred, fitted.source.uint8(idx))
                            chunks.append(to_host_uint8(pred))
                    dec_s = time.perf_counter() - t2
                import numpy as np

                frames = np.concatenate(chunks)
                size = len(data)
                rec = ctx.base_record(**base, variant=variant, bits=bits, embed_bits=ebits, coder=opts["coder"],
                                      file=str(path), file_bytes=size, bpp=size * 8 / pixels,
                                      **{f"bytes_{opts['coder']}": size, f"bytes_{other}": other_bytes},
                                      encode_seconds=enc, encode_seconds_total=enc + res.train_seconds,
                                      decode_seconds=dec_s, decode_setup_seconds=setup,
                                      decode_threads=REFERENCE_THREADS,
                                      decode_fps=measure_fps(loaded, v.num_frames, device, batch_size=REFERENCE_BATCH),
                                      frames_sha256=frames_digest(frames),
                                      bits_per_param=size * 8 / fitted.config["params"], **pinfo)
                rec["ppp"] = fitted.config["params"] / pixels
                rec.update(acc.result())
                rec.update(self._extra_metrics(ctx, opts, ref, frames))
                records.append(rec)
        return records
