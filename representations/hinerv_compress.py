"""HiNeRV's own compression pipeline and its .nvb layout (the official compression/*.py, rewritten).

1. Pruning, once: over the weights of the stem, the ConvNeXt blocks and the head (not the grids,
   not the grid encodings' Linear), score |w| / sqrt(n_layer) with n_layer the layer's unpruned
   weights (`--prune-weight 0.5`); the lowest-scored weights are removed until 15 % of ALL stored
   parameters are zero (`--prune-ratio 0.15`; the official target counts every parameter), then
   fine-tuning with the mask for 60/300 of the training epochs (lr x1, no warm-up).
2. Quantisation-aware fine-tuning with Quant-Noise for 30/300 of the epochs (lr x0.1, no warm-up):
   at each training forward 90 % of the values of every weight and grid are replaced by their 6-bit
   quantised values (the lowest bit depth of the file), no straight-through gradient.
3. Files at 8, 7 and 6 bits: every stored tensor of 2+ dimensions (weights and grids) quantised
   symmetrically, q = round(x / s) in [-2^(n-1), 2^(n-1) - 1], s = 2 max|x| / (2^n - 1) + 1e-6,
   the max taken along the tensor's best axis (the largest dimension above 5 % of the tensor,
   else one scale for the tensor), scales stored as float16 and dequantised as q * s_fp16; other
   tensors (biases) float16. Pruning masks and the unpruned codes of each tensor are range-coded
   with constriction, each stream with its own histogram (the official code: torchac with
   each tensor's empirical CDF; masks coded the same way).

The file is one .nvb container (header JSON + sections, CRC-checked, no pickle) with
`layout: "hinerv"`; `load_file` rebuilds the decoder from it alone (`nvbench decode FILE`).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

import nvbench
from nvbench.compress.container import CorruptFileError, HeaderMismatchError, write_container
from nvbench.compress.entropy import get_varint, put_varint, scaled_histogram
from nvbench.compress.pipeline import Point
from nvbench.nn import NeuralRepresentation

LAYOUT = "hinerv"
SECTIONS = ("scales", "fp16", "tables", "symbols")
PRUNE_RATIO, PRUNE_WEIGHT, QUANT_NOISE, QUANT_LR_SCALE = 0.15, 0.5, 0.9, 0.1
PRUNE_FRACTION, QUANT_FRACTION = 60 / 300, 30 / 300  # of the training epochs (the repo: 60 and 30 of 300)
BITS = (8, 7, 6)


# --- what is pruned and quantised --------------------------------------------------------------
def prunable_names(decoder: nn.Module) -> list[str]:
    """Weights of the stem, the ConvNeXt blocks and the head (the official pruning targets:
    Linear/Conv layers outside `encoding` and outside the grid encoders)."""
    names = ["stem.weight", "head.weight"]
    for i, stage in enumerate(decoder.stages):
        for j, _ in enumerate(stage.blocks):
            names += [f"stages.{i}.blocks.{j}.{n}.weight" for n in ("dconv", "fc1", "fc2")]
    return names


def quantised_names(decoder: nn.Module) -> list[str]:
    """Every float tensor of 2+ dimensions: weights and grids (the official quant_model)."""
    return [k for k, v in decoder.state_dict().items() if v.dim() > 1 and v.is_floating_point()]


def best_axis(shape: tuple[int, ...], thres: float = 0.05) -> int | None:
    """The official compute_best_quant_axis: the largest dimension whose slices are under 5 % of
    the tensor (so the side information stays small); None = one scale for the whole tensor."""
    numel, best, best_dim = math.prod(shape), None, 0
    for axis, dim in enumerate(shape):
        if numel / dim >= numel * thres:
            continue
        if dim > best_dim:
            best, best_dim = axis, dim
    return best


def symmetric(x: torch.Tensor, bits: int, axis: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer codes as float, scale): the official _quantize_ste (max over `axis`, keepdim)."""
    qmax = 2.0**bits - 1.0
    x_max = x.abs().amax(dim=axis, keepdim=True) if axis is not None else x.abs().max()
    scale = 2 * x_max / qmax + 1e-6
    q = torch.round(x / scale).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return q, scale


@torch.no_grad()
def prune_masks(decoder: nn.Module, ratio: float = PRUNE_RATIO,
                weight: float = PRUNE_WEIGHT) -> dict[str, torch.Tensor]:
    """{name: bool keep-mask} removing int(ratio * all stored parameters) of the prunable weights
    with the lowest |w| / (n_layer^weight + 1e-6) (the official set_pruning from all-ones masks)."""
    state = decoder.state_dict()
    total = sum(v.numel() for v in state.values())
    names = prunable_names(decoder)
    target = int(total * ratio)
    if target == 0:
        return {n: torch.ones_like(state[n], dtype=torch.bool) for n in names}
    scores = torch.cat([(state[n].abs() / (state[n].numel() ** weight + 1e-6)).flatten() for n in names])
    thres = torch.sort(scores)[0][target - 1]
    masks, pos = {}, 0
    for n in names:
        k = state[n].numel()
        masks[n] = (scores[pos : pos + k] > thres).view_as(state[n])
        pos += k
    return masks


class CompressionModel(NeuralRepresentation):
    """The decoder as the shared training loop sees it during pruning fine-tuning and QAT:
    pruned weights are multiplied by their masks, and (QAT) Quant-Noise replaces a fraction of
    every quantised tensor's values by their quantised values at each training forward."""

    def __init__(self, decoder: nn.Module, masks: dict[str, torch.Tensor], noise: float = 0.0, bits: int = 6):
        super().__init__(getattr(decoder, "config", {}))
        self.decoder = decoder
        self.masks = masks
        self.noise, self.bits = noise, bits
        self.quantised = set(quantised_names(decoder))
        self.axes = {n: best_axis(tuple(p.shape)) for n, p in decoder.named_parameters() if n in self.quantised}
        self.train_patch = tuple(self.config["patch"])

    def effective(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, p in self.decoder.named_parameters():
            w = p * self.masks[name].to(p.device) if name in self.masks else p
            if self.training and self.noise > 0 and name in self.quantised:
                q, scale = symmetric(w, self.bits, self.axes[name])
                keep = (torch.rand_like(w) > self.noise).to(w.dtype)
                w = w * keep + (q.detach() * scale) * (1.0 - keep)  # no STE: the codes carry no gradient
            out[name] = w
        return out

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return torch.func.functional_call(self.decoder, self.effective(), (idx,))

    def forward_patches(self, idx: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                        patch: tuple[int, int]) -> torch.Tensor:
        return torch.func.functional_call(self.decoder, self.effective(), (idx, rows, cols, patch))

    @torch.no_grad()
    def fixed(self) -> nn.Module:
        """The decoder with its pruned weights set to exactly zero."""
        for name, p in self.decoder.named_parameters():
            if name in self.masks:
                p.mul_(self.masks[name].to(p.device))
        return self.decoder


# --- the file ------------------------------------------------------------------------------------
def _zigzag(v: int) -> int:
    return 2 * v if v >= 0 else -2 * v - 1


def _unzigzag(u: int) -> int:
    return u // 2 if u % 2 == 0 else -(u + 1) // 2


def _encode_streams(streams: list[np.ndarray]) -> tuple[bytes, bytes]:
    """Each integer stream range-coded with its own histogram (counts scaled to about 4096 with
    every used value kept >= 1, stored as varints)."""
    import constriction

    table, enc = bytearray(), constriction.stream.queue.RangeEncoder()
    for s in streams:
        s = np.asarray(s, np.int64).ravel()
        if s.size == 0:
            put_varint(table, 0)
            continue
        lo = int(s.min())
        counts = scaled_histogram(np.bincount(s - lo))  # its own histogram, scaled so the table stays small
        put_varint(table, len(counts))
        put_varint(table, _zigzag(lo))
        for c in counts:
            put_varint(table, int(c))
        if len(counts) > 1:
            model = constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)
            enc.encode((s - lo).astype(np.int32), model)
    return bytes(table), enc.get_compressed().astype("<u4").tobytes()


@torch.no_grad()
def encode_file(decoder: nn.Module, method: str, method_version: str, config: dict[str, Any], bits: int,
                masks: dict[str, torch.Tensor], info: dict[str, Any] | None = None) -> bytes:
    """The .nvb bytes of a (pruned, QAT-trained) decoder at `bits` (the official compress_bitstream)."""
    quant = set(quantised_names(decoder))
    tensors, streams = [], []
    scales, fp16 = bytearray(), bytearray()
    for name, t in decoder.state_dict().items():
        x = t.detach().float().cpu()
        mask = masks.get(name)
        entry: dict[str, Any] = {"name": name, "shape": list(x.shape), "masked": mask is not None}
        if mask is not None:
            mask = mask.cpu()
            streams.append(mask.flatten().to(torch.int64).numpy())
        if name in quant:
            axis = best_axis(tuple(x.shape))
            q, scale = symmetric(x, bits, axis)
            q = q.to(torch.int64)
            codes = q.flatten()[mask.flatten()] if mask is not None else q.flatten()
            streams.append(codes.numpy())
            scales += scale.half().flatten().numpy().astype("<f2").tobytes()
            entry.update(kind="quantised", axis=axis)
        else:
            vals = x.flatten()[mask.flatten()] if mask is not None else x.flatten()
            fp16 += vals.half().numpy().astype("<f2").tobytes()
            entry.update(kind="fp16")
        tensors.append(entry)
    table, symbols = _encode_streams(streams)
    header = {
        "format": "nvb", "layout": LAYOUT, "writer": f"nvbench {nvbench.__version__}", "method": method,
        "method_version": str(method_version), "config": config, "coder": "range-per-tensor", "bits": int(bits),
        "frames": int(config["frames"]), "height": int(config["height"]), "width": int(config["width"]),
        "tensors": tensors, "info": info or {},
    }
    return write_container(header, [("scales", bytes(scales)), ("fp16", bytes(fp16)), ("tables", table),
                                    ("symbols", symbols)])


def _scale_shape(shape: tuple[int, ...], axis: int | None) -> tuple[int, ...]:
    return tuple(1 if a == axis else d for a, d in enumerate(shape)) if axis is not None else ()


def load_file(header: dict[str, Any], sections: dict[str, bytes], device: str = "cpu", name: str = "file") -> Any:
    """The decoder rebuilt from a HiNeRV .nvb file alone (the method's `file_decoder`)."""
    from nvbench import registry

    # a shared-layout file (--set pipeline=shared) never comes here: nvbench.compress.nvb reads it itself
    if header.get("layout") != LAYOUT or [s.get("name") for s in header.get("sections", [])] != list(SECTIONS):
        raise HeaderMismatchError(f"{name}: not a HiNeRV file (layout {header.get('layout')!r})")
    bits, config, tensors = header.get("bits"), header.get("config"), header.get("tensors")
    if not (isinstance(bits, int) and 2 <= bits <= 16 and isinstance(config, dict) and isinstance(tensors, list)):
        raise HeaderMismatchError(f"{name}: header fields bits/config/tensors are missing or malformed")
    method = registry.methods.get(header["method"])
    try:
        with torch.device("meta"):
            skeleton = method.build_decoder(config)
    except Exception as exc:
        raise HeaderMismatchError(f"{name}: the method cannot build a decoder from the header's config: "
                                  f"{type(exc).__name__}: {exc}") from exc
    expected = {k: list(v.shape) for k, v in skeleton.state_dict().items()}
    if [t.get("name") for t in tensors] != list(expected) or any(t.get("shape") != expected[t["name"]]
                                                                  for t in tensors):
        raise HeaderMismatchError(f"{name}: stored tensors do not match the decoder")
    quant = set(quantised_names(skeleton))
    need_scales = 0
    for t in tensors:
        shape = tuple(t["shape"])
        kind = "quantised" if t["name"] in quant else "fp16"
        if t.get("kind") != kind or not isinstance(t.get("masked"), bool) or (
                kind == "quantised" and t.get("axis") != best_axis(shape)):
            raise HeaderMismatchError(f"{name}: tensor {t['name']!r} has the wrong kind or axis")
        if t["kind"] == "quantised":
            need_scales += 2 * math.prod(_scale_shape(shape, t["axis"]))
    if len(sections["scales"]) != need_scales:
        raise HeaderMismatchError(f"{name}: scale section is {len(sections['scales'])} bytes, needs {need_scales}")
    decoded = _decode_sequential(sections["tables"], sections["symbols"], tensors, name)
    scales = np.frombuffer(sections["scales"], "<f2")
    fp16 = np.frombuffer(sections["fp16"], "<f2")
    state, spos, fpos = {}, 0, 0
    for t, (mask, codes) in zip(tensors, decoded):
        shape = tuple(t["shape"])
        n_values = int(mask.sum()) if mask is not None else math.prod(shape)
        if t["kind"] == "quantised":
            k = math.prod(_scale_shape(shape, t["axis"]))
            s = torch.from_numpy(scales[spos : spos + k].astype(np.float32)).view(_scale_shape(shape, t["axis"]))
            spos += k
            if codes.size != n_values or not np.all(np.isfinite(s.numpy())):
                raise CorruptFileError(f"{name}: tensor {t['name']!r} does not decode")
            q = torch.zeros(math.prod(shape), dtype=torch.float32)
            vals = torch.from_numpy(codes.astype(np.float32))
        else:
            vals = torch.from_numpy(fp16[fpos : fpos + n_values].astype(np.float32))
            fpos += n_values
            if vals.numel() != n_values:
                raise HeaderMismatchError(f"{name}: float16 section is too short")
            q, s = torch.zeros(math.prod(shape), dtype=torch.float32), None
        if mask is not None:
            q[torch.from_numpy(mask.astype(bool))] = vals
        else:
            q = vals
        q = q.view(shape)
        state[t["name"]] = q * s if s is not None else q
    if fpos != len(fp16):
        raise HeaderMismatchError(f"{name}: float16 section has {len(fp16) - fpos} values left over")
    decoder = method.build_decoder(config)
    decoder.load_state_dict(state)
    return decoder.to(device).eval()


def _decode_sequential(table: bytes, payload: bytes, tensors: list[dict[str, Any]],
                       name: str) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """(mask, codes) per tensor, decoding the streams in file order (a value stream's length is
    its mask's number of kept values)."""
    import constriction

    if len(payload) % 4:
        raise CorruptFileError(f"{name}: range-coded payload is not a whole number of 32-bit words")
    dec = constriction.stream.queue.RangeDecoder(np.frombuffer(payload, "<u4").astype(np.uint32))
    pos = 0

    def stream(n: int) -> np.ndarray:
        nonlocal pos
        sub = _decode_one(table, pos, dec, n, name, constriction)
        pos = sub[1]
        return sub[0]

    out = []
    try:
        for t in tensors:
            mask = stream(math.prod(t["shape"])) if t["masked"] else None
            if mask is not None and not np.all((mask == 0) | (mask == 1)):
                raise CorruptFileError(f"{name}: a pruning mask holds values other than 0 and 1")
            n = int(mask.sum()) if mask is not None else math.prod(t["shape"])
            codes = stream(n) if t["kind"] == "quantised" else None
            out.append((mask, codes))
    except CorruptFileError:
        raise
    except Exception as exc:
        raise CorruptFileError(f"{name}: coded tensors do not decode: {exc}") from exc
    if pos != len(table):
        raise CorruptFileError(f"{name}: histogram table has the wrong length")
    return out


def _decode_one(table: bytes, pos: int, dec: Any, n: int, name: str, constriction: Any) -> tuple[np.ndarray, int]:
    k, pos = get_varint(table, pos)
    if k == 0:
        if n:
            raise CorruptFileError(f"{name}: a coded tensor has no histogram")
        return np.zeros(0, np.int64), pos
    if k > 1 << 17:
        raise CorruptFileError(f"{name}: histogram too large")
    z, pos = get_varint(table, pos)
    counts = np.zeros(k, np.int64)
    for j in range(k):
        counts[j], pos = get_varint(table, pos)
    if n and not counts.any():
        raise CorruptFileError(f"{name}: an empty histogram")
    lo = _unzigzag(z)
    if k == 1:
        return np.full(n, lo, np.int64), pos
    model = constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)
    return np.asarray(dec.decode(model, int(n)), np.int64) + lo, pos


# --- the pipeline --------------------------------------------------------------------------------
def stage_recipe(recipe: Any, lr_scale: float) -> Any:
    """A fine-tuning stage's recipe: the training recipe without warm-up, lr (and its floor)
    scaled (the official get_stage_optimizer_scheduler)."""
    return replace(recipe, lr=recipe.lr * lr_scale, warmup=0.0)


def hinerv_pipeline(run: Any) -> list[dict[str, Any]]:
    """HiNeRV's RD points: prune + fine-tune, Quant-Noise QAT, files at each bit depth."""
    import copy

    from nvbench.train import TrainSettings, train

    ctx, fitted, m = run.ctx, run.fitted, run.ctx.method
    epochs = ctx.job.epochs
    bits_list = [int(b) for b in run.option("bits", list(BITS))]
    ratio = max([float(r) for r in run.option("prune", [PRUNE_RATIO])] or [0.0])
    ft = int(run.option("finetune_epochs", -1))
    prune_epochs = ft if ft >= 0 else max(1, round(epochs * PRUNE_FRACTION))
    quant_epochs = ft if ft >= 0 else max(1, round(epochs * QUANT_FRACTION))
    recipe = ctx.recipe
    t0 = time.perf_counter()
    decoder = copy.deepcopy(fitted.decoder).float().to(memory_format=torch.contiguous_format)
    for p in decoder.parameters():
        p.requires_grad_(True)
    masks = prune_masks(decoder, ratio) if ratio > 0 else {}
    info: dict[str, Any] = {"prune_ratio": ratio, "prune_score": "|w|/sqrt(n_layer)",
                            "prune_epoch_fraction": PRUNE_FRACTION, "finetune_epochs": prune_epochs if masks else 0,
                            "qat_epoch_fraction": QUANT_FRACTION, "qat_epochs": quant_epochs,
                            "qat_noise": QUANT_NOISE, "qat_bits": min(bits_list), "qat_lr_scale": QUANT_LR_SCALE,
                            "quantisation": "symmetric, per channel along the best axis, fp16 scales",
                            "entropy_coder": "range (constriction), one histogram per tensor and mask"}
    stats = {}
    if masks:
        model = CompressionModel(decoder, masks)
        res = train(model, fitted.source, TrainSettings(epochs=prune_epochs, recipe=stage_recipe(recipe, 1.0),
                                                        seed=ctx.job.seed, channels_last=False))
        stats.update(finetune_seconds=res.train_seconds, finetune_status=res.status,
                     finetune_loss=res.history[-1]["loss"] if res.history else None)
    model = CompressionModel(decoder, masks, noise=QUANT_NOISE, bits=min(bits_list))
    res = train(model, fitted.source, TrainSettings(epochs=quant_epochs, recipe=stage_recipe(recipe, QUANT_LR_SCALE),
                                                    seed=ctx.job.seed + 1, channels_last=False))
    stats.update(qat_seconds=res.train_seconds, qat_status=res.status,
                 qat_loss=res.history[-1]["loss"] if res.history else None)
    decoder = model.fixed().eval()
    zeros = sum(int((decoder.state_dict()[n] == 0).sum()) for n in masks)
    total = sum(v.numel() for v in decoder.state_dict().values())
    info["sparsity"] = zeros / total  # of all stored parameters (the official get_sparsity)
    prep = time.perf_counter() - t0
    points = []
    for bits in bits_list:
        variant = f"q{bits}" + (f"-p{ratio:g}" if masks else "")
        t1 = time.perf_counter()
        data = encode_file(decoder, m.name, m.version, fitted.config, bits, masks,
                           info={"variant": variant, "sequence": ctx.job.sequence, "dataset": ctx.job.dataset,
                                 "preset": ctx.job.preset})
        enc = prep + time.perf_counter() - t1
        points.append(Point(data, variant, enc,
                            dict(bits=bits, embed_bits=bits, coder="range-per-tensor", **info, **stats)))
    return run.score_many(points)  # the files scored in parallel where the cores allow (same bits)
