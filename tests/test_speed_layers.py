"""The per-layer limit of `nvbench speed`: every Linear/Conv call of a pass timed alone at its exact
shape and summed. It must cover every compute layer the complexity count sees, give HiNeRV (Linear
and depthwise layers, one tiny dense conv) a finite fraction, and reduce to the former best-rate
limit for a conv-only model when every shape runs at the same rate."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nvbench import registry, speed
from nvbench.complexity import decoder_macs_per_pixel
from nvbench.speed import conv_shapes, flops_per_frame, layer_limit, layer_seconds, layer_walk, machine_limit


def _leaf_modules_with_flops(run) -> int:
    """How many modules FlopCounterMode (the complexity count) attributes FLOPs to at the leaves."""
    with FlopCounterMode(display=False) as counter:
        run()
    names = [k for k, v in counter.get_flop_counts().items() if k != "Global" and sum(v.values()) > 0]
    return sum(1 for n in names if not any(o.startswith(n + ".") for o in names))


def test_layer_walk_sees_linear_depthwise_strided_1d_and_3d_layers():
    model = nn.ModuleDict({"lin": nn.Linear(6, 5, bias=False), "dw": nn.Conv2d(4, 4, 3, padding=1, groups=4),
                           "down": nn.Conv2d(4, 8, 2, stride=2), "c1": nn.Conv1d(3, 2, 3), "c3": nn.Conv3d(2, 2, 1)})
    inputs = {"lin": torch.randn(2, 7, 6), "dw": torch.randn(2, 4, 6, 6), "down": torch.randn(2, 4, 6, 6),
              "c1": torch.randn(2, 3, 9), "c3": torch.randn(1, 2, 3, 4, 5)}

    def run() -> None:
        for k, x in inputs.items():
            model[k](x)

    calls, total = layer_walk(model, run)
    assert [c.kind for c in calls] == ["linear", "conv2d", "conv2d", "conv1d", "conv3d"]  # no product twice
    assert calls[0].flops == 2 * 2 * 7 * 6 * 5 and calls[1].flops == 2 * 2 * 4 * 36 * 9
    assert sum(c.flops for c in calls) == total == flops_per_frame(run, 1)
    assert "depthwise" in calls[1].label() and " s2x2 " in calls[2].label() and calls[3].label().startswith("conv1d")
    for c, (k, x) in zip(calls, inputs.items()):
        assert c.build()(x).shape == model[k](x).shape  # the isolated layer computes the same shape
        assert not c.grad_input and c.train_flops() == 2 * c.flops  # weight gradient only: inputs need none
        assert layer_seconds(c, backward=False, min_seconds=0.002) > 0
        assert layer_seconds(c, backward=True, min_seconds=0.002) > 0


def test_matrix_products_outside_layers_are_timed_as_products():
    """Attention's q k^T and weights x v (E-NeRV) run outside any Linear: recorded once each, with
    the gradients autograd needs, and not again for the Linear's own product."""
    lin = nn.Linear(4, 4)
    q = torch.randn(3, 5, 4, requires_grad=True)
    k = torch.randn(3, 5, 4)

    def run() -> None:
        torch.softmax(lin(q) @ k.transpose(1, 2), -1) @ k

    calls, total = layer_walk(lin, run)
    assert [c.kind for c in calls] == ["linear", "matmul", "matmul"]
    prod = calls[1]
    assert prod.input == (3, 5, 4) and prod.other == (3, 4, 5) and prod.grad_input and not prod.grad_other
    assert prod.flops == 2 * 3 * 5 * 4 * 5 and prod.train_flops() == 2 * prod.flops
    assert sum(c.flops for c in calls) == total
    assert layer_seconds(prod, backward=True, min_seconds=0.002) > 0
    assert layer_seconds(calls[2], backward=False, min_seconds=0.002) > 0


def test_hinerv_gets_a_finite_fraction_and_the_limit_covers_every_layer():
    method = registry.methods.get("hinerv")
    out = speed.measure_method(method, 8, 40, 80, 24_000, min_seconds=0.05, rounds=1)
    for k in ("train_fraction", "decode_fraction"):
        assert math.isfinite(out[k]) and out[k] > 0, (k, out[k])  # no bound: its size is a timing
    assert out["train_fraction"] == pytest.approx(out["limit_train_ms"] / 1e3 * out["train_fps"] / out["batch_train"])
    assert out["limit_decode_flop_share"] == out["limit_train_flop_share"] == 1.0  # every counted FLOP is timed
    # the same decoder complexity.py counts: one frame decoded alone
    config = method.plan(8, 40, 80, 24_000, {})
    with torch.no_grad():
        dec = method.build(config).eval().export(lambda i: torch.rand(len(i), 3, 40, 80)).eval()

    def one() -> None:
        dec(torch.arange(1))

    calls, total = layer_walk(dec, one)
    n_layers = sum(isinstance(m, (nn.Linear, nn.Conv2d)) for m in dec.modules())
    with torch.enable_grad():
        assert len(calls) == _leaf_modules_with_flops(one) == n_layers == out["limit_decode_layers"]
    macs = decoder_macs_per_pixel(method, config, 8, 40, 80)
    assert sum(c.flops for c in calls) / 2 / (40 * 80) == pytest.approx(macs)
    kinds = {(c.kind, c.groups == c.cin and c.groups > 1) for c in calls}
    assert kinds == {("linear", False), ("conv2d", True), ("conv2d", False)}  # Linear, depthwise, the dense stem


def test_conv_only_limit_equals_the_former_limit_when_every_shape_runs_at_one_rate(monkeypatch):
    """Timed by a fake clock at a fixed GFLOP/s, the per-layer sum and the former limit (every
    counted FLOP at the best dense-conv rate, machine_limit over conv_shapes) are the same number:
    the new limit differs only where shapes run at different rates."""
    rate = 7e9

    def fake_best_time(fn, min_seconds, repeats=5, warmup=2):
        with FlopCounterMode(display=False) as c:
            fn()
        return c.get_total_flops() / rate

    monkeypatch.setattr(speed, "best_time", fake_best_time)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.GELU(), nn.Conv2d(16, 16, 3, padding=1),
                          nn.Conv2d(16, 3, 1))
    x = torch.randn(2, 3, 12, 16)

    def forward():
        return model(x)

    def step() -> None:
        forward().sum().backward()

    old = machine_limit(conv_shapes(model, forward), batch=2, decode_batch=2, min_seconds=0.0)
    assert old["train_gflops"] == pytest.approx(rate / 1e9) == old["forward_gflops"]
    old_train_s = flops_per_frame(step, 2) * 2 / (old["train_gflops"] * 1e9)
    old_decode_s = flops_per_frame(forward, 2) * 2 / (old["forward_gflops"] * 1e9)
    calls, _ = layer_walk(model, forward)
    new_train, new_decode = layer_limit(calls, True, 0.0), layer_limit(calls, False, 0.0)
    assert new_train["seconds"] == pytest.approx(old_train_s, rel=1e-9)
    assert new_decode["seconds"] == pytest.approx(old_decode_s, rel=1e-9)
    assert new_train["best_dense_conv_gflops"] == pytest.approx(old["train_gflops"])
