"""How fast this machine can go, and how close each method gets.

The limit of a pass (a training step, a decode batch): every compute layer it runs (Linear,
Conv1d/2d/3d, dense, grouped or depthwise, and the matrix products outside them such as
attention's; layer_walk) timed alone at its exact shape, at its best
over the memory layouts (forward, or forward+backward), summed over the pass's calls. The
fraction = that limit time / the real time of the pass: how much of the time the method spends
could not be saved by running each of its layers at its isolated best. The layers' FLOPs come
from torch.utils.flop_counter, the same count as nvbench.complexity. The former figure, all
counted FLOPs at the best dense-conv GFLOP/s of the heaviest shapes (machine_limit), is kept
alongside it ("best-rate fraction"); it is undefined for a model without dense convolutions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from nvbench.threads import run_for


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
    """The distinct stride-1 Conv2d shapes (input size) that `run()` executes, heaviest first: what
    the former limit (machine_limit) timed; from the one layer walk (layer_walk)."""
    shapes = {ConvShape(la.cin, la.cout, la.kernel[0], la.input[-2], la.input[-1], la.groups): None
              for la in layer_walk(model, run)[0] if la.kind == "conv2d" and set(la.stride) == {1}}
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
        n, dt = run_for(fn, window)
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
    """The former limit: best measured dense-conv GFLOP/s over the heaviest `top` shapes and both
    layouts, for forward (decode, at `decode_batch`) and forward+backward (training, at `batch`)."""
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


#: the compute layers the limit times, each at the exact shape the model runs it (subclasses too)
LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: matrix products run outside those layers (attention's q k^T and weights x v), timed as products
_PRODUCTS = {torch.ops.aten.mm.default: 1, torch.ops.aten.bmm.default: 1, torch.ops.aten.addmm.default: 2,
             torch.ops.aten.baddbmm.default: 2}  # op -> index of its first matrix argument


@dataclass(frozen=True)
class LayerShape:
    """One call of a compute layer as the model ran it: its type and hyper-parameters, the shape
    of its input (batch included), whether autograd needed the input's gradient, and its forward
    FLOPs as torch's FlopCounterMode counts them (the count nvbench.complexity reports)."""

    kind: str  # "linear", "conv1d", "conv2d", "conv3d" or "matmul" (a product outside those layers)
    cin: int
    cout: int
    bias: bool
    input: tuple[int, ...]
    grad_input: bool
    flops: float
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] | str = ()
    dilation: tuple[int, ...] = ()
    groups: int = 1
    other: tuple[int, ...] = ()  # matmul: the second operand's shape (`input` is the first's)
    grad_other: bool = False

    def build(self) -> nn.Module:
        """A fresh layer of the same type and hyper-parameters (weights do not change the time)."""
        if self.kind == "linear":
            return nn.Linear(self.cin, self.cout, bias=self.bias)
        conv = {"conv1d": nn.Conv1d, "conv2d": nn.Conv2d, "conv3d": nn.Conv3d}[self.kind]
        return conv(self.cin, self.cout, self.kernel, self.stride, self.padding, self.dilation, self.groups,
                    bias=self.bias)

    def train_flops(self) -> float:
        """FLOPs of forward + backward: the weight gradient always, the input gradient when needed
        (a matmul: the gradient of each operand that needs one)."""
        if self.kind == "matmul":
            return self.flops * (1 + self.grad_input + self.grad_other)
        return self.flops * (3 if self.grad_input else 2)

    def label(self) -> str:
        size = "x".join(str(d) for d in self.input)
        if self.kind == "linear":
            return f"linear {self.cin}->{self.cout} @{size}"
        if self.kind == "matmul":
            return f"matmul {size} @ {'x'.join(str(d) for d in self.other)}"
        k = "x".join(str(d) for d in self.kernel)
        g = "" if self.groups == 1 else (" depthwise" if self.groups == self.cin else f" g{self.groups}")
        s = "" if set(self.stride) == {1} else f" s{'x'.join(str(d) for d in self.stride)}"
        return f"{self.kind}{g} {self.cin}->{self.cout} k{k}{s} @{size}"

    def dense_conv(self) -> bool:
        """A stride-1 dense 2-D convolution: the kind of layer the best-rate figure is taken over."""
        return self.kind == "conv2d" and self.groups == 1 and set(self.stride) == {1}


def _layer_shape(mod: nn.Module, x: torch.Tensor, flops: float) -> LayerShape:
    common = {"bias": mod.bias is not None, "input": tuple(x.shape), "grad_input": bool(x.requires_grad),
              "flops": float(flops)}
    if isinstance(mod, nn.Linear):
        return LayerShape("linear", mod.in_features, mod.out_features, **common)
    kind = {nn.Conv1d: "conv1d", nn.Conv2d: "conv2d", nn.Conv3d: "conv3d"}[
        next(t for t in (nn.Conv1d, nn.Conv2d, nn.Conv3d) if isinstance(mod, t))]
    pad = mod.padding if isinstance(mod.padding, str) else tuple(mod.padding)
    return LayerShape(kind, mod.in_channels, mod.out_channels, kernel=tuple(mod.kernel_size),
                      stride=tuple(mod.stride), padding=pad, dilation=tuple(mod.dilation), groups=mod.groups,
                      **common)


class _Products(TorchDispatchMode):
    """Records the matrix products (mm/bmm, with or without an added term) that run while no
    compute layer is open, with their FLOPs as the enclosing FlopCounterMode counts them."""

    def __init__(self, counter: FlopCounterMode, open_: list[float], sink: list[LayerShape]):
        super().__init__()
        self.counter, self.open_, self.sink = counter, open_, sink

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        start = self.counter.get_total_flops()
        out = func(*args, **(kwargs or {}))
        first = _PRODUCTS.get(func)
        if first is not None and not self.open_:
            a, b = args[first - 1], args[first]
            self.sink.append(LayerShape("matmul", a.shape[-1], b.shape[-1], first == 2, tuple(a.shape),
                                        bool(a.requires_grad), float(self.counter.get_total_flops() - start),
                                        other=tuple(b.shape), grad_other=bool(b.requires_grad)))
        return out


def layer_walk(model: nn.Module, run: Callable[[], Any]) -> tuple[list[LayerShape], float]:
    """Every call of a compute layer (LAYER_TYPES) that `run()` makes, and every matrix product
    it runs outside them, in order, each with its forward FLOPs, and the FLOPs of the whole run,
    all from one FlopCounterMode pass (so these FLOPs and the count of nvbench.complexity are the
    same numbers). Autograd is on: the plain path, as the model trains (decoding shortcuts such as
    nvbench.nn.head_over_subpixel skip modules); a layer called inside another is counted in the
    outer one."""
    calls: list[LayerShape] = []
    open_: list[float] = []
    hooks = []
    with FlopCounterMode(display=False) as counter, _Products(counter, open_, calls):

        def pre(_mod: nn.Module, _inp: tuple[Any, ...]) -> None:
            open_.append(counter.get_total_flops())

        def post(mod: nn.Module, inp: tuple[Any, ...], _out: Any) -> None:
            start = open_.pop()
            if not open_:
                calls.append(_layer_shape(mod, inp[0], counter.get_total_flops() - start))

        for m in model.modules():
            if isinstance(m, LAYER_TYPES):
                hooks += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
        try:
            with torch.enable_grad():
                run()
        finally:
            for h in hooks:
                h.remove()
    return calls, float(counter.get_total_flops())


def _layouts(kind: str) -> tuple[torch.memory_format, ...]:
    if kind == "conv2d":
        return (torch.contiguous_format, torch.channels_last)
    if kind == "conv3d":
        return (torch.contiguous_format, torch.channels_last_3d)
    return (torch.contiguous_format,)


def layer_seconds(layer: LayerShape, backward: bool, min_seconds: float = 0.3) -> float:
    """Seconds of one call of the layer alone at its exact shape (best_time), the best over the
    memory layouts it has: forward under inference_mode, or forward + backward (the gradients
    the model's own step computes)."""
    if layer.kind == "matmul":
        return _product_seconds(layer, backward, min_seconds)
    best = float("inf")
    for fmt in _layouts(layer.kind):
        mod = layer.build().to(memory_format=fmt) if fmt != torch.contiguous_format else layer.build()
        x = torch.randn(layer.input).contiguous(memory_format=fmt)
        if backward:
            x.requires_grad_(layer.grad_input)

            def fn(mod: nn.Module = mod, x: torch.Tensor = x) -> None:
                y = mod(x)
                y.backward(torch.ones_like(y))
        else:

            def fn(mod: nn.Module = mod, x: torch.Tensor = x) -> None:
                with torch.inference_mode():
                    mod(x)

        best = min(best, best_time(fn, min_seconds))
    return best


def _product_seconds(layer: LayerShape, backward: bool, min_seconds: float) -> float:
    a = torch.randn(layer.input, requires_grad=backward and layer.grad_input)
    b = torch.randn(layer.other, requires_grad=backward and layer.grad_other)
    if backward and (a.requires_grad or b.requires_grad):

        def fn() -> None:
            y = torch.matmul(a, b)
            y.backward(torch.ones_like(y))
    else:

        def fn() -> None:
            with torch.inference_mode():
                torch.matmul(a, b)

    return best_time(fn, min_seconds)


def layer_limit(calls: list[LayerShape], backward: bool, min_seconds: float = 0.3,
                times: dict[LayerShape, float] | None = None) -> dict[str, Any]:
    """The limit of one pass: each distinct layer call timed alone (layer_seconds), the pass's
    limit = the sum over its calls of those best times. `times` (from an earlier round) keeps
    the best of both rounds per layer."""
    counts = Counter(calls)
    best = dict(times or {})
    for layer in counts:
        t = layer_seconds(layer, backward, min_seconds)
        best[layer] = min(t, best.get(layer, float("inf")))
    rows = [{"layer": la.label(), "calls": n, "backward": backward, "ms": best[la] * 1e3,
             "gflops": (la.train_flops() if backward else la.flops) / best[la] / 1e9}
            for la, n in counts.items()]
    return {"seconds": sum(best[la] * n for la, n in counts.items()), "times": best, "rows": rows,
            "layers": len(calls), "best_dense_conv_gflops": best_dense_conv_rate(counts, best, backward)}


def best_dense_conv_rate(counts: Counter[LayerShape], best: dict[LayerShape, float], backward: bool,
                         top: int = 4) -> float:
    """The former limit: the best GFLOP/s of the `top` heaviest stride-1 dense Conv2d shapes."""
    dense = sorted((la for la in counts if la.dense_conv()), key=lambda la: -la.flops / la.input[0])[:top]
    return max(((la.train_flops() if backward else la.flops) / best[la] / 1e9 for la in dense), default=0.0)


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
              batch_decode: int = 8, channels_last: bool = True, video: Any = None) -> MethodBench:
        """`video`: uint8 frames (T,H,W,3) that each step takes its next batch from, converted as
        the training loop does (FrameSource); None: one batch of random frames, reused."""
        from nvbench.methods import build_model
        from nvbench.train import FrameSource, compute_loss, make_optimizer

        config = method.plan(frames, height, width, size, options or {})
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = build_model(method, config).to(memory_format=fmt)
        recipe = method.recipe
        bs = min(batch_train or recipe.batch_size, frames)  # as the training loop: a batch is at most the video
        hybrid = getattr(model, "hybrid", False)
        x = torch.rand(bs, 3, height, width).contiguous(memory_format=fmt)
        idx = torch.arange(bs)
        opt = make_optimizer(model, recipe, torch.device("cpu"))
        pred = torch.rand_like(x).requires_grad_(True)
        source = FrameSource(video, torch.device("cpu"), channels_last) if video is not None else None
        batches = iter(())

        def forward() -> Any:
            return model(idx, x if hybrid else None)

        def step() -> None:
            nonlocal x, idx, batches
            if source is not None:  # the next batch of real frames, in a fixed shuffled order
                if (i := next(batches, None)) is None:
                    order = torch.randperm(source.num_frames, generator=torch.Generator().manual_seed(0))
                    batches = iter(order[: len(order) // bs * bs].view(-1, bs))
                    i = next(batches)
                idx, x = i, source.float(i)
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
                   rounds: int = 3) -> dict[str, Any]:
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
    train_layers, train_total = layer_walk(b.model, b.forward)
    decode_layers, decode_total = layer_walk(dec, b.decode_as_trained)
    train_flops = flops_per_frame(b.step, bs)
    decode_flops = decode_total / len(didx)
    best = {"train": float("inf"), "decode": float("inf"), "disk": float("inf")}
    lim: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nvbench-speed-") as tmp:
        target = Path(tmp) / "frames.npy"

        def to_disk() -> None:
            decode_to_npy(dec, range(frames), target, height, width, batch_size=len(didx))

        for _ in range(max(1, rounds)):
            best["train"] = min(best["train"], best_time(b.step, min_seconds / rounds))
            best["decode"] = min(best["decode"], best_time(b.decode, min_seconds / rounds))
            best["disk"] = min(best["disk"], best_time(to_disk, 0.0, repeats=1, warmup=1))
            window = min(0.6, min_seconds) / rounds
            lim = {"train": layer_limit(train_layers, True, window, lim.get("train", {}).get("times")),
                   "decode": layer_limit(decode_layers, False, window, lim.get("decode", {}).get("times"))}
    train_fps, decode_fps, disk_fps = bs / best["train"], len(didx) / best["decode"], frames / best["disk"]
    tl, dl = lim["train"], lim["decode"]
    out = {
        "method": method.name, "height": height, "width": width, "params": config["params"],
        "train_fps": train_fps, "decode_fps": decode_fps, "decode_disk_fps": disk_fps,
        "train_gflop_per_frame": train_flops / 1e9, "decode_gflop_per_frame": decode_flops / 1e9,
        "limit_train_ms": tl["seconds"] * 1e3, "limit_decode_ms": dl["seconds"] * 1e3,
        "limit_train_layers": tl["layers"], "limit_decode_layers": dl["layers"],
        # the share of each pass's counted forward FLOPs that the timed layers carry (1.0: all of it)
        "limit_train_flop_share": sum(la.flops for la in train_layers) / train_total if train_total else None,
        "limit_decode_flop_share": sum(la.flops for la in decode_layers) / decode_total if decode_total else None,
        "limit_train_gflops": tl["best_dense_conv_gflops"], "limit_decode_gflops": dl["best_dense_conv_gflops"],
        "limit_rows": tl["rows"] + dl["rows"],
        "batch_train": bs, "batch_decode": len(didx), "rounds": rounds,
    }
    # the limit: every compute layer at its own best isolated time; fraction = limit time / real time
    out["train_fps_at_limit"] = bs / tl["seconds"] if tl["seconds"] else None
    out["decode_fps_at_limit"] = len(didx) / dl["seconds"] if dl["seconds"] else None
    out["train_fraction"] = train_fps / out["train_fps_at_limit"] if out["train_fps_at_limit"] else None
    out["decode_fraction"] = decode_fps / out["decode_fps_at_limit"] if out["decode_fps_at_limit"] else None
    # the former figure: all counted FLOPs at the best dense-conv rate (undefined without dense convs)
    rate_t, rate_d = out["limit_train_gflops"], out["limit_decode_gflops"]
    out["train_fraction_best_rate"] = train_fps * train_flops / (rate_t * 1e9) if rate_t else None
    out["decode_fraction_best_rate"] = decode_fps * decode_flops / (rate_d * 1e9) if rate_d else None
    out["threads"] = torch.get_num_threads()
    return out


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
