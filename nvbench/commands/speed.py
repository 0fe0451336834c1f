"""`nvbench speed`: frames/s in training and decoding against this machine's measured limit."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_speed(args: argparse.Namespace) -> int:
    import torch

    from nvbench import registry
    from nvbench.cli import _csv
    from nvbench.methods import REPRESENTATION
    from nvbench.presets import get_preset, parse_size
    from nvbench.provenance import cpu_ticks, load_average, timing_line
    from nvbench.speed import CATEGORIES, measure_method, profile_method
    from nvbench.table import render

    load_at_start, ticks_at_start = load_average(), cpu_ticks()
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = get_preset(args.preset)
    h, w = preset.geometry_for("bunny").resolution or preset.geometry_for("bunny").crop
    frames = 132 if preset.frames is None else preset.frames
    size = parse_size(args.size) if args.size else preset.default_size
    rows: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    for name in _csv(args.method):
        method = registry.methods.get(name)
        if not method.has(REPRESENTATION):
            print(f"{name}: not a trainable representation; skipped")
            continue
        if args.profile:
            profiles += profile_method(method, frames, h, w, size, batch_decode=args.batch,
                                       channels_last=not args.no_channels_last)
        rows.append(measure_method(method, frames, h, w, size, batch_decode=args.batch,
                                   channels_last=not args.no_channels_last, min_seconds=args.seconds,
                                   rounds=args.rounds))
    print(render(rows, [
        ("method", "method", 0), ("params", "params", 0), ("train_fps", "train f/s", 1),
        ("train_fps_at_limit", "at limit", 1), ("train_fraction", "fraction", 2),
        ("decode_fps", "decode f/s", 1), ("decode_fps_at_limit", "at limit", 1),
        ("decode_fraction", "fraction", 2), ("decode_disk_fps", "to disk f/s", 1),
        ("train_gflop_per_frame", "train GFLOP/f", 3),
        ("decode_gflop_per_frame", "decode GFLOP/f", 3), ("limit_train_layers", "layers timed", 0),
        ("train_fraction_best_rate", "best-rate train fraction", 2),
        ("decode_fraction_best_rate", "best-rate decode fraction", 2),
    ]))
    print(f"\n{h}x{w}, {frames} frames, size {size}, torch threads {torch.get_num_threads()}, "
          f"decode batch {args.batch}; best of {args.rounds} alternating rounds of the method and the limit")
    print("limit = each Linear/Conv layer call of the pass (dense, grouped, depthwise) and each matrix product "
          "outside them timed alone at its exact shape, best layout, summed; fraction = limit time / real time; "
          "best-rate fraction = all FLOPs at the best dense-conv GFLOP/s of the 4 heaviest dense conv shapes "
          "(the former limit; - without dense convs); "
          "to disk = every frame decoded to uint8 and written to a .npy file")
    print(timing_line(load_at_start, ticks_at_start=ticks_at_start))
    if profiles:
        cats = [c for c, _ in CATEGORIES] + ["other"]
        cols = [("method", "method", 0), ("what", "profiled", 0), ("total", "ms/call", 2)]
        cols += [(c, f"{c} ms", 2) for c in cats] + [("loss alone", "loss fwd+bwd alone ms", 2)]
        print()
        print(render([{c: 0.0 for c in cats} | p for p in profiles], cols))
        print("operators' self CPU time (torch.profiler) by category; layout = copies, pixel shuffle, cat, indexing; "
              "other = allocation, views, autograd bookkeeping")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("speed", help="training and decode frames/s against this machine's per-layer limit")
    p.add_argument("--method", "-m", default="hnerv", help="comma-separated representation methods")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--size", help="stored-parameter budget (default: the preset's)")
    p.add_argument("--batch", type=int, default=8, help="decode batch size")
    p.add_argument("--seconds", type=float, default=2.0, help="timing window per measurement")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of method and limit timing")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--profile", action="store_true",
                   help="also show where a training step and a decode batch spend their time, by operator category")
    p.set_defaults(func=cmd_speed)
