"""How fast this machine can go, and how close each method gets.

The limit: the best dense-convolution throughput (GFLOP/s) measured at the shapes a method's
convolutions actually run at (forward, and forward+backward), over both memory layouts. A
method's FLOPs per frame come from torch.utils.flop_counter; frames/s times FLOPs/frame over the
limit is the fraction of the machine it uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class ConvShape:
    cin: int
    cout: int
    kernel: int
    height: int
    width: int
    groups: int = 1

    def flops(self, batch: int) -> float:
        """Multiply-adds x2 of one forward pass."""
        return 2.0 * batch * self.cout * self.height * self.width * (self.cin // self.groups) * self.kernel**2


def conv_shapes(model: nn.Module, run: Callable[[], Any]) -> list[ConvShape]:
    """The distinct Conv2d shapes (input size) that `run()` executes, heaviest first."""
    shapes: dict[ConvShape, None] = {}
    hooks = []

    def hook(mod: nn.Conv2d, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        h, w = inp[0].shape[-2:]
        if mod.stride == (1, 1):  # patchify convs (stride = kernel) are a different kernel class
            shapes[ConvShape(mod.in_channels, mod.out_channels, mod.kernel_size[0], h, w, mod.groups)] = None

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(hook))
    try:
        with torch.enable_grad():  # the plain path: decoding shortcuts (nvbench.nn.head_over_subpixel) skip modules
            run()
    finally:
        for h in hooks:
            h.remove()
    return sorted(shapes, key=lambda s: -s.flops(1))


def best_time(fn: Callable[[], Any], min_seconds: float, repeats: int = 5, warmup: int = 2) -> float:
    """Seconds per call: the lowest mean over `repeats` windows of min_seconds/repeats each.

    The best window, as timeit recommends: a shared machine only ever adds time (this one
    swings 1.5x between minutes with nothing else running), so the minimum is the estimate of
    what the code and the hardware can do, and it is taken the same way for the limit."""
    for _ in range(warmup):
        fn()
    window = min_seconds / max(1, repeats)
    best = float("inf")
    for _ in range(max(1, repeats)):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= window:
                break
        best = min(best, dt / n)
    return best


def conv_rate(shape: ConvShape, batch: int, backward: bool, channels_last: bool,
              min_seconds: float = 0.3) -> float:
    """GFLOP/s of one dense conv shape (forward, or forward + both backward convolutions)."""
    conv = nn.Conv2d(shape.cin, shape.cout, shape.kernel, padding=shape.kernel // 2, groups=shape.groups)
    x = torch.randn(batch, shape.cin, shape.height, shape.width)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if backward:
        x.requires_grad_(True)

        def fn() -> None:
            y = conv(x)
            y.backward(torch.ones_like(y))

        flops = 3 * shape.flops(batch)  # forward + grad input + grad weight
    else:

        def fn() -> None:
            with torch.inference_mode():
                conv(x)

        flops = shape.flops(batch)
    return flops / best_time(fn, min_seconds) / 1e9


def machine_limit(shapes: list[ConvShape], batch: int = 2, top: int = 4,
                  min_seconds: float = 0.3, decode_batch: int | None = None) -> dict[str, Any]:
    """Best measured dense-conv GFLOP/s over the heaviest `top` shapes and both layouts, for
    forward (decode, at `decode_batch`) and forward+backward (training, at `batch`)."""
    rows = []
    for s in [s for s in shapes if s.groups == 1][:top]:
        for cl in (False, True):
            for bw in (False, True):
                b = batch if bw else (decode_batch or batch)
                rows.append({"shape": f"{s.cin}->{s.cout} k{s.kernel} @{s.height}x{s.width}",
                             "channels_last": cl, "backward": bw, "batch": b,
                             "gflops": conv_rate(s, b, bw, cl, min_seconds)})
    best_fwd = max((r["gflops"] for r in rows if not r["backward"]), default=0.0)
    best_bwd = max((r["gflops"] for r in rows if r["backward"]), default=0.0)
    return {"threads": torch.get_num_threads(), "forward_gflops": best_fwd, "train_gflops": best_bwd, "rows": rows}


def flops_per_frame(fn: Callable[[], Any], frames: int) -> float:
    """FLOPs of `fn()` (counted, not timed) per frame it handles."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / frames


@dataclass
class MethodBench:
    """One representation set up for timing: the shared loop's optimiser and loss on random
    frames of the right shape (`step`), and its exported decoder on one batch (`decode`)."""

    config: dict[str, Any]
    model: nn.Module
    batch: int
    step: Callable[[], None]
    forward: Callable[[], Any]
    loss_only: Callable[[], None]
    decoder: nn.Module
    decode_idx: torch.Tensor

    @classmethod
    def build(cls, method: Any, frames: int, height: int, width: int, size: int | str,
              options: dict[str, Any] | None = None, batch_train: int | None = None,
              batch_decode: int = 8, channels_last: bool = True) -> MethodBench:
        from nvbench.methods import build_model
        from nvbench.train import compute_loss, make_optimizer

        config = method.plan(frames, height, width, size, options or {})
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = build_model(method, config).to(memory_format=fmt)
        recipe = method.recipe
        bs = batch_train or recipe.batch_size
        hybrid = getattr(model, "hybrid", False)
        x = torch.rand(bs, 3, height, width).contiguous(memory_format=fmt)
        idx = torch.arange(bs)
        opt = make_optimizer(model, recipe, torch.device("cpu"))
        pred = torch.rand_like(x).requires_grad_(True)

        def forward() -> Any:
            return model(idx, x if hybrid else None)

        def step() -> None:
            loss = compute_loss(recipe.loss, forward().float(), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        def loss_only() -> None:
            compute_loss(recipe.loss, pred, x).backward()

        # the decoder as tasks prepare it (eval, the same memory layout)
        dec = model.eval().export(lambda i: torch.rand(len(i), 3, height, width).contiguous(memory_format=fmt))
        model.train()
        return cls(config, model, bs, step, forward, loss_only, dec.eval().to(memory_format=fmt),
                   torch.arange(min(batch_decode, frames)))

    def decode(self) -> None:
        with torch.inference_mode():
            self.decoder(self.decode_idx)

    def decode_as_trained(self) -> None:
        """The decoder with autograd on: the model's own computation, not the cheaper-to-run
        equivalent it uses when decoding (nvbench.nn.head_over_subpixel); for FLOP counts."""
        with torch.enable_grad():
            self.decoder(self.decode_idx)


def measure_method(method: Any, frames: int, height: int, width: int, size: int | str,
                   options: dict[str, Any] | None = None, batch_train: int | None = None,
                   batch_decode: int = 8, channels_last: bool = True, min_seconds: float = 1.0,
                   limit: dict[str, Any] | None = None, rounds: int = 3) -> dict[str, Any]:
    """Training frames/s (one optimiser step of the shared loop's optimiser and loss per batch,
    random frames of the right shape), decode frames/s (float output, one batch) and decode to
    uint8 frames written to a .npy file (every frame, in batches) of a representation plugin,
    with FLOPs per frame and the fraction of this machine's measured limit.

    The method and the limit are timed in `rounds` alternating rounds and the best of each is
    kept, so that both are seen under the same conditions of a shared machine."""
    import tempfile
    from pathlib import Path

    from nvbench.evaluate import decode_to_npy

    b = MethodBench.build(method, frames, height, width, size, options, batch_train, batch_decode, channels_last)
    config, bs, dec, didx = b.config, b.batch, b.decoder, b.decode_idx
    shapes = conv_shapes(b.model, b.forward)
    train_flops = flops_per_frame(b.step, bs)
    decode_flops = flops_per_frame(b.decode_as_trained, len(didx))
    best = {"train": float("inf"), "decode": float("inf"), "disk": float("inf")}
    measure_limit = limit is None
    with tempfile.TemporaryDirectory(prefix="nvbench-speed-") as tmp:
        target = Path(tmp) / "frames.npy"

        def to_disk() -> None:
            decode_to_npy(dec, range(frames), target, height, width, batch_size=len(didx))

        for _ in range(max(1, rounds)):
            best["train"] = min(best["train"], best_time(b.step, min_seconds / rounds))
            best["decode"] = min(best["decode"], best_time(b.decode, min_seconds / rounds))
            best["disk"] = min(best["disk"], best_time(to_disk, 0.0, repeats=1, warmup=1))
            if measure_limit:
                here = machine_limit(shapes, batch=bs, decode_batch=len(didx),
                                     min_seconds=min(0.6, min_seconds) / rounds)
                limit = here if limit is None else _best_limit(limit, here)
    assert limit is not None
    train_fps, decode_fps, disk_fps = bs / best["train"], len(didx) / best["decode"], frames / best["disk"]
    out = {
        "method": method.name, "height": height, "width": width, "params": config["params"],
        "train_fps": train_fps, "decode_fps": decode_fps, "decode_disk_fps": disk_fps,
        "train_gflop_per_frame": train_flops / 1e9, "decode_gflop_per_frame": decode_flops / 1e9,
        "limit_train_gflops": limit["train_gflops"], "limit_decode_gflops": limit["forward_gflops"],
        "batch_train": bs, "batch_decode": len(didx), "rounds": rounds,
    }
    out["train_fps_at_limit"] = limit["train_gflops"] * 1e9 / train_flops if train_flops else None
    out["decode_fps_at_limit"] = limit["forward_gflops"] * 1e9 / decode_flops if decode_flops else None
    out["train_fraction"] = train_fps / out["train_fps_at_limit"] if out["train_fps_at_limit"] else None
    out["decode_fraction"] = decode_fps / out["decode_fps_at_limit"] if out["decode_fps_at_limit"] else None
    out["threads"] = torch.get_num_threads()
    return out


def _best_limit(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two limit measurements of the same shapes combined: the best rate of each row."""
    rows = [ra if ra["gflops"] >= rb["gflops"] else rb for ra, rb in zip(a["rows"], b["rows"])]
    return {**a, "rows": rows,
            "forward_gflops": max((r["gflops"] for r in rows if not r["backward"]), default=0.0),
            "train_gflops": max((r["gflops"] for r in rows if r["backward"]), default=0.0)}


#: where the time of a step goes, by the aten operators' self time (first match wins)
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conv", ("convolution", "conv2d", "conv1d", "conv_depthwise")),
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::linear")),
    ("activation", ("gelu", "tanh", "sigmoid", "erf", "silu", "relu")),
    ("layout", ("copy_", "pixel_shuffle", "pixel_unshuffle", "aten::cat", "clone", "contiguous", "_to_copy",
                "aten::index", "index_select", "as_strided_scatter")),
    ("norm", ("layer_norm", "instance_norm", "batch_norm", "group_norm")),
    ("optimiser", ("adam", "optimizer", "zero_grad")),
    ("elementwise", ("aten::mul", "aten::add", "aten::sub", "aten::div", "aten::pow", "aten::sqrt", "aten::abs",
                     "aten::sum", "aten::mean", "mse_loss", "l1_loss", "aten::sgn", "aten::neg", "aten::exp",
                     "aten::rsub", "aten::clamp", "aten::round", "aten::fill_", "aten::zero_", "aten::where")),
)


def categorise(op: str) -> str:
    low = op.lower()
    for name, keys in CATEGORIES:
        if any(k.lower() in low for k in keys):
            return name
    return "other"


def profile_breakdown(fn: Callable[[], Any], calls: int = 10) -> dict[str, float]:
    """Milliseconds per call of `fn` by category (CATEGORIES) of the operators' self CPU time,
    plus 'total'. What torch.profiler attributes; Python overhead outside operators is not in it."""
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
    out: dict[str, float] = {}
    for ev in prof.key_averages():
        cat = categorise(ev.key)
        out[cat] = out.get(cat, 0.0) + ev.self_cpu_time_total / 1e3 / calls
    out["total"] = sum(out.values())
    return out


def profile_method(method: Any, frames: int, height: int, width: int, size: int | str,
                   options: dict[str, Any] | None = None, batch_decode: int = 8,
                   channels_last: bool = True, calls: int = 10) -> list[dict[str, Any]]:
    """Where a training step and a decode batch spend their time (profile_breakdown), and the
    loss's forward + backward timed alone (it runs as element-wise ops and small convs)."""
    b = MethodBench.build(method, frames, height, width, size, options, batch_decode=batch_decode,
                          channels_last=channels_last)
    train = profile_breakdown(b.step, calls)
    train["loss alone"] = best_time(b.loss_only, 0.5) * 1e3
    return [{"method": method.name, "what": f"train step (batch {b.batch}, {method.recipe.loss})", **train},
            {"method": method.name, "what": f"decode (batch {len(b.decode_idx)})",
             **profile_breakdown(b.decode, calls)}]
