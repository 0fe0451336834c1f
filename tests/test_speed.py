"""`nvbench speed` and its pieces: FLOP counts, the limit, the method measurement, and the
streamed uint8 decode to disk. Timings are only checked for sanity (no speed assertions)."""

from __future__ import annotations

import numpy as np
import torch

from nvbench import registry
from nvbench.cli import main
from nvbench.evaluate import decode_to_npy, decode_uint8
from nvbench.speed import ConvShape, conv_shapes, flops_per_frame, machine_limit, measure_method


def test_flop_count_of_a_conv_is_its_multiply_adds():
    conv = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 4, 10, 12)
    shape = ConvShape(4, 8, 3, 10, 12)
    assert flops_per_frame(lambda: conv(x), 2) == shape.flops(1) == 2 * 8 * 10 * 12 * 4 * 9
    assert conv_shapes(conv, lambda: conv(x)) == [shape]


def test_limit_takes_the_best_rate_of_both_layouts():
    lim = machine_limit([ConvShape(8, 16, 3, 16, 16)], batch=2, min_seconds=0.02)
    assert len(lim["rows"]) == 4  # NCHW/NHWC x forward/forward+backward
    assert lim["forward_gflops"] == max(r["gflops"] for r in lim["rows"] if not r["backward"]) > 0
    assert lim["train_gflops"] == max(r["gflops"] for r in lim["rows"] if r["backward"]) > 0


def test_measure_method_reports_rates_fractions_and_disk_decode():
    out = measure_method(registry.methods.get("hnerv"), 8, 40, 80, 24_000, min_seconds=0.05, rounds=2)
    for k in ("train_fps", "decode_fps", "decode_disk_fps", "train_fps_at_limit", "decode_fps_at_limit"):
        assert out[k] > 0, k
    assert out["batch_decode"] == 8 and out["batch_train"] == 2 and out["rounds"] == 2
    assert out["decode_fraction"] == out["decode_fps"] / out["decode_fps_at_limit"]
    # FLOPs of the 24k decoder at 40x80: counted, so they scale with the pixels
    small = measure_method(registry.methods.get("hnerv"), 8, 40, 80, 24_000, min_seconds=0.02, rounds=1)
    assert small["decode_gflop_per_frame"] == out["decode_gflop_per_frame"]


def test_decode_to_npy_writes_what_decode_uint8_returns(tmp_path):
    gen = torch.Generator().manual_seed(0)
    frames = torch.rand(11, 3, 6, 10, generator=gen)

    def decode(idx):
        return frames[idx]

    path = decode_to_npy(decode, range(11), tmp_path / "f.npy", 6, 10, batch_size=4)
    on_disk = np.load(path)
    assert on_disk.dtype == np.uint8 and on_disk.shape == (11, 6, 10, 3)
    assert np.array_equal(on_disk, decode_uint8(decode, range(11), batch_size=3))


def test_speed_command_prints_the_table(capsys):
    assert main(["speed", "-m", "hnerv", "--preset", "smoke", "--seconds", "0.05", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "to disk f/s" in out and "hnerv" in out and "best of 1 alternating rounds" in out


def test_profile_splits_a_step_into_categories():
    from nvbench.speed import categorise, profile_method

    assert categorise("aten::mkldnn_convolution") == "conv"
    assert categorise("aten::convolution_backward") == "conv"
    assert categorise("aten::gelu_backward") == "activation"
    assert categorise("aten::pixel_shuffle") == "layout"
    assert categorise("aten::_fused_adam_") == "optimiser"
    assert categorise("aten::mse_loss_backward") == "elementwise"
    assert categorise("aten::empty") == "other"
    train, decode = profile_method(registry.methods.get("nerv"), 8, 40, 80, 24_000, calls=2)
    assert train["what"] == "train step (batch 1, fusion6)" and decode["what"] == "decode (batch 8)"
    parts = [v for k, v in train.items() if k not in ("method", "what", "total", "loss alone")]
    assert abs(sum(parts) - train["total"]) < 1e-6
    assert train["conv"] > 0 and train["optimiser"] > 0 and train["loss alone"] > 0
    assert decode.get("optimiser", 0.0) == 0.0  # decoding never touches the optimiser


def test_gpu_check_script_runs_its_code_path_on_the_cpu(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py"
    out = subprocess.run([sys.executable, str(script), "--device", "cpu", "--preset", "smoke", "--size", "24k",
                          "--epochs", "1", "--results", str(tmp_path / "r")], capture_output=True, text=True,
                         check=True, cwd=script.parents[1])
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["device"] == "cpu" and res["resolution"] == "40x80" and res["epochs"] == 1
    assert res["decode_fps_batch1"] > 0 and res["decode_fps_batch16"] > 0 and res["seconds_per_epoch"] > 0
    assert res["paper"]["decode_fps"] == 333.0


def test_conv_shapes_see_every_conv_of_the_plain_path():
    """The limit is measured at the shapes the model computes, including the last block and
    the head, which decoding runs through a shortcut (nvbench.nn.head_over_subpixel)."""
    method = registry.methods.get("nerv")
    config = method.plan(8, 40, 80, 24_000, {})
    model = method.build(config).to(memory_format=torch.channels_last).eval()
    shapes = conv_shapes(model, lambda: model(torch.arange(2)))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(shapes) == len({(m.in_channels, m.out_channels, m.kernel_size[0]) for m in convs})


def test_a_batch_is_at_most_the_video():
    """c3's recipe asks for every frame in one batch (1 << 20): the bench, like the training loop,
    takes at most the video's frames (it asked for ~40 GB before)."""
    from nvbench import registry
    from nvbench.speed import MethodBench

    bench = MethodBench.build(registry.methods.get("c3"), 8, 40, 80, 24_000)
    assert bench.batch == 8
    bench.step()
