"""Inpainting (docs/tasks.md): train on masked frames with the loss on known pixels only.

The encoder of a hybrid method sees the masked frame (missing pixels set to 0, as the official
HNeRV code does) and its stored embeddings are computed from masked frames too. Masks:
`disperse` (five boxes, 50 px at 480 rows scaled with the height), `central` (one H/4 x W/4
box) or `object` (one mask image per frame from `mask_dir`). Every record carries three
PSNRs: the composited frame over the full frame (known pixels from the input, missing ones from
the method: the paper's protocol, `psnr`), the missing region only (`psnr_masked`) and the raw
output over the full frame (what the official code printed, `psnr_raw`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import INPAINT, REPRESENTATION
from nvbench.tasks.base import Task, TaskContext


class InpaintingTask(Task):
    name = "inpainting"
    version = "1"
    description = ("train with the loss on known pixels (encoder sees the masked frame); PSNR of the composited "
                   "frame, of the masked region, and of the raw output; masks disperse|central|object")
    needs_any = frozenset({REPRESENTATION, INPAINT})
    options: ClassVar[dict[str, Any]] = {"mask": "disperse", "box": 0, "mask_dir": "", "ms_ssim": True}
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = {"mask": ("disperse", "central", "object")}
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {"box": (0, None)}  # 0: the paper's side
    #: CLI columns: metric names (header and digits from nvbench.records.catalogue), context fields and
    #: this task's own context columns as (field, header, digits)
    table_columns: ClassVar[list[str | tuple[str, str] | tuple[str, str, int]]] = [
        "method", ("mask", "mask", 0), ("mask_side_px", "box px", 0), ("mask_fraction", "masked", 4), "size_target",
        "params", "epoch", "psnr", "psnr_masked", "psnr_raw", "ms_ssim", "status",
    ]

    def run(self, ctx: TaskContext) -> list[dict[str, Any]]:
        from nvbench.tasks.masks import build_masks

        opts = self.resolve_options(ctx.task_options)
        v, j = ctx.video, ctx.job
        masks = build_masks(opts, v.num_frames, v.height, v.width, truncated="frames" in v.geometry,
                            native=_native_size(j.dataset, j.sequence), crop=j.crop, resolution=j.resolution)
        if masks.fraction == 0.0:
            raise NvbenchError(f"inpainting: the {masks.kind} masks cover no pixel of the {v.height}x{v.width} frames")
        common = masks.record_fields()
        if ctx.method.has(REPRESENTATION):
            return self._representation(ctx, opts, masks, common)
        return self._anchor(ctx, opts, masks, common)

    def _representation(self, ctx: TaskContext, opts: dict[str, Any], masks: Any,
                        common: dict[str, Any]) -> list[dict[str, Any]]:
        import torch

        from nvbench.fit import fit_representation
        from nvbench.train import FrameSource, pick_device

        device = pick_device(ctx.device)
        source = FrameSource(ctx.video.frames, device, channels_last=ctx.channels_last)
        shared = None if masks.shared is None else torch.from_numpy(masks.shared).to(device)

        def known(idx: torch.Tensor) -> torch.Tensor:
            """(B,1,H,W) float: 1 on known pixels, 0 on missing ones."""
            if shared is not None:
                m = shared.expand(len(idx), -1, -1)
            else:
                m = torch.from_numpy(masks.frames(idx.cpu().numpy())).to(device)
            return (~m).unsqueeze(1).float()

        def masked_input(frames: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            return frames * known(idx).to(frames.dtype)

        fitted = fit_representation(
            ctx, split={"inpainting": masks.kind, "masks": masks.digest()}, source=source,
            input_transform=masked_input, loss_weight=known,
        )
        res = fitted.result
        base = {"params": fitted.config["params"], "epoch": res.epochs_done,
                "train_seconds": round(res.train_seconds, 3), "reused_model": fitted.reused, **common}
        if res.status != "ok":
            return [ctx.base_record(status=res.status, reason=res.reason, **base)]
        decoder = fitted.decode
        with torch.inference_mode():
            metrics = _score(ctx, masks, lambda idx, masked: decoder(idx).float(), bool(opts["ms_ssim"]))
        return [ctx.base_record(**base, **metrics)]

    def _anchor(self, ctx: TaskContext, opts: dict[str, Any], masks: Any,
                common: dict[str, Any]) -> list[dict[str, Any]]:
        import numpy as np
        import torch

        m_opts = ctx.method.resolve_options(ctx.method_options)

        def fill(idx: torch.Tensor, masked: np.ndarray) -> torch.Tensor:
            out = ctx.method.inpaint_frames(masked, masks.frames(idx.numpy()), m_opts)
            return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).permute(0, 3, 1, 2)

        return [ctx.base_record(**common, **_score(ctx, masks, fill, bool(opts["ms_ssim"])))]


def _native_size(dataset: str, sequence: str) -> tuple[int, int] | None:
    """The sequence's size on disk from its dataset card (object masks may come at that size)."""
    from nvbench import registry

    try:
        info = registry.datasets.get(dataset)().card.sequence(sequence)
    except Exception:  # a Video handed to the task directly has no card
        return None
    return info.height, info.width


def _score(ctx: TaskContext, masks: Any, predict: Any, with_ms_ssim: bool, batch: int = 8) -> dict[str, Any]:
    """The three PSNRs (composited full frame, masked region, raw output) over all frames;
    `predict(idx, masked_uint8_frames)` gives float (B,3,H,W) in [0,1]. The first, middle and
    last frames (raw, composited, mask) go to the job's artifacts as composite.npz."""
    import numpy as np
    import torch

    from nvbench.evaluate import sample_indices
    from nvbench.metrics import QualityAccumulator, to_uint8

    frames = ctx.video.frames
    full, region, raw = QualityAccumulator(with_ms_ssim), QualityAccumulator(False), QualityAccumulator(with_ms_ssim)
    empty = 0
    keep = set(sample_indices(ctx.video.num_frames))
    samples: dict[str, list] = {"indices": [], "raw": [], "composite": [], "mask": []}
    for s in range(0, ctx.video.num_frames, batch):
        idx = torch.arange(s, min(ctx.video.num_frames, s + batch))
        gt_np = np.asarray(frames[s : s + len(idx)])
        m_np = np.ascontiguousarray(masks.frames(idx.numpy()))
        masked = gt_np * (~m_np)[..., None].astype(np.uint8)
        pred = predict(idx, masked).float().cpu().clamp(0, 1)
        gt = torch.from_numpy(np.ascontiguousarray(gt_np)).permute(0, 3, 1, 2)
        m = torch.from_numpy(m_np).unsqueeze(1)
        composite = torch.where(m, pred, gt.float() / 255.0)
        for b, i in enumerate(idx.tolist()):
            if i in keep:
                samples["indices"].append(i)
                samples["raw"].append(to_uint8(pred[b]).permute(1, 2, 0).numpy())
                samples["composite"].append(to_uint8(composite[b]).permute(1, 2, 0).numpy())
                samples["mask"].append(m_np[b])
        full.add(composite, gt)
        raw.add(pred, gt)
        has = m.flatten(1).any(1)
        empty += int((~has).sum())
        if bool(has.any()):
            region.add(composite[has], gt[has], region=m[has])
    np.savez_compressed(ctx.artifacts / "composite.npz", **{k: np.stack(v) for k, v in samples.items()})
    out: dict[str, Any] = dict(full.result())
    r, w = region.result(), raw.result()
    out.update(psnr_masked=r["psnr"], psnr_masked_float=r["psnr_float"], psnr_masked_pooled=r["psnr_pooled"],
               psnr_raw=w["psnr"], psnr_raw_float=w["psnr_float"], psnr_raw_pooled=w["psnr_pooled"],
               ms_ssim_raw=w.get("ms_ssim"), frames_without_mask=empty)
    return out
