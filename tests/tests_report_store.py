"""A hand-made store whose right answers are known, for the report tests (not a test module)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _prov(seed: int = 1) -> dict[str, Any]:
    return {"git_commit": COMMIT, "nvbench_version": "0.1.0", "torch_version": "2.14.1+cpu", "platform": "Linux-test",
            "machine": "x86_64", "cpu_count": 2, "device": "cpu", "colour": "ffmpeg default (BT.601 limited)",
            "started": f"2026-11-29T10:0{seed}:00+00:00"}


def _rec(method: str, task: str, seed: int, **kw: Any) -> dict[str, Any]:
    r = {"method": method, "variant": "", "task": task, "dataset": "bunny", "sequence": "bunny", "height": 40,
         "width": 80, "frames": 8, "size_target": 24000, "params": None, "recipe": "r", "seed": seed,
         "preset": "smoke", "epoch": 2, "split": "all", "psnr": None, "psnr_float": None, "ms_ssim": None,
         "bpp": None, "train_seconds": None, "decode_fps": None, "status": "ok", "reason": "",
         "crop": "640x1280", "resolution": "40x80", "colour": "ffmpeg default (BT.601 limited)"}
    r.update(kw)
    return r


def _write(root: Path, key: str, records: list[dict[str, Any]], schema: Any = 1, seed: int = 1,
           job: dict | None = None, **extra: Any) -> None:
    payload: dict[str, Any] = {"schema": schema, "key": key, "label": key, "records": records,
                               "provenance": _prov(seed), "job": job or {"epochs": 2, "preset": "smoke"}}
    payload.update(extra)
    if schema is None:
        del payload["schema"]
    (root / "jobs").mkdir(parents=True, exist_ok=True)
    (root / "jobs" / f"{key}.json").write_text(json.dumps(payload))


def _samples(root: Path, key: str, offset: int) -> None:
    rng = np.random.default_rng(offset)
    truth = rng.integers(0, 256, (3, 40, 80, 3), dtype=np.uint8)
    decoded = np.clip(truth.astype(int) + offset, 0, 255).astype(np.uint8)
    d = root / "artifacts" / key
    d.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(d / "samples.npz", indices=np.array([0, 4, 7]), decoded=decoded, truth=truth)


def make_store(root: Path) -> tuple[Path, dict[str, Any]]:
    """Write the store; return (root, expected answers)."""
    # reconstruction: hnerv 30/32 dB (mean 31, std sqrt(2)), nerv 28/29 dB, enerv 27 dB
    for seed, p, fps in ((1, 30.0, 100.0), (2, 32.0, 140.0)):
        _write(root, f"rec-hnerv-{seed}", [_rec("hnerv", "reconstruction", seed, psnr=p, psnr_float=p + 0.01,
                                                 ms_ssim=0.9 + seed / 100, params=32993, train_seconds=10.0 * seed,
                                                 decode_fps=fps)], seed=seed)
    for seed, p in ((1, 28.0), (2, 29.0)):
        _write(root, f"rec-nerv-{seed}", [_rec("nerv", "reconstruction", seed, psnr=p, psnr_float=p, ms_ssim=0.8,
                                                params=30000, train_seconds=5.0, decode_fps=500.0)], seed=seed)
    _write(root, "rec-enerv-1", [_rec("enerv", "reconstruction", 1, psnr=27.0, params=31000, train_seconds=7.0,
                                      decode_fps=50.0)])
    _samples(root, "rec-hnerv-1", 3)
    _samples(root, "rec-nerv-1", 9)
    # convergence: one curve per seed at epochs 1, 2, 5; the leaderboard shows epoch 5
    for seed in (1, 2):
        recs = [_rec("hnerv", "convergence", seed, epoch=e, psnr=20.0 + e + seed, train_seconds=3.0 * e)
                for e in (1, 2, 5)]
        _write(root, f"conv-hnerv-{seed}", recs, seed=seed)
    # compression: hnerv points and an x265 anchor whose rate is exactly 1.25x hnerv's at equal PSNR
    q = [26.0, 28.0, 30.0, 31.5]
    hb = [0.02, 0.04, 0.08, 0.12]
    _write(root, "comp-hnerv-1", [_rec("hnerv", "compression", 1, bpp=b, psnr=p, ms_ssim=0.8 + i / 50,
                                       quant_bits=bits) for i, (b, p, bits) in enumerate(zip(hb, q, (4, 5, 6, 8)))])
    _write(root, "comp-x265-1", [_rec("x265", "compression", 1, bpp=b * 1.25, psnr=p, ms_ssim=0.8 + i / 50,
                                      crf=crf, size_target=None) for i, (b, p, crf) in
                                 enumerate(zip(hb, q, (40, 35, 30, 25)))], job={"epochs": 0, "preset": "smoke"})
    # interpolation: two hnerv variants, seen and held-out
    _write(root, "interp-hnerv-1", [
        _rec("hnerv", "interpolation", 1, variant=v, split=s, psnr=p)
        for v, s, p in (("interp-embed", "seen", 31.0), ("interp-embed", "held-out", 24.0),
                        ("encode-frame", "seen", 31.0), ("encode-frame", "held-out", 25.0))])
    # inpainting with masked-region PSNR
    _write(root, "inp-hnerv-1", [_rec("hnerv", "inpainting", 1, mask="disperse", psnr=29.0, psnr_masked=21.0,
                                      psnr_raw=28.5)])
    # older schema (no "schema" key, no provenance) at another preset: read, noted
    old = _rec("enerv", "reconstruction", 1, psnr=25.5, preset="cpu", height=160, width=320, resolution=None)
    for k in ("ms_ssim", "psnr_float", "decode_fps", "colour"):
        old.pop(k)
    (root / "jobs" / "old-enerv.json").write_text(json.dumps({"key": "old-enerv", "records": [old]}))
    # bad input: failed, diverged, not applicable, unreadable, newer schema
    _write(root, "bad-failed", [_rec("nerv", "reconstruction", 3, status="failed", reason="RuntimeError: boom")])
    _write(root, "bad-diverged", [_rec("hnerv", "reconstruction", 3, status="diverged",
                                       reason="PSNR collapsed at epoch 2")])
    _write(root, "bad-na", [_rec("x265", "interpolation", 1, status="not_applicable",
                                 reason="x265 has none of the capabilities interpolation needs")])
    (root / "jobs" / "bad-truncated.json").write_text('{"schema": 1, "records": [')
    _write(root, "bad-future", [_rec("hnerv", "reconstruction", 1, psnr=99.0)], schema=99)

    expected = {
        "cells": {
            ("reconstruction", "bunny", "smoke", "hnerv", "psnr"): 31.0,
            ("reconstruction", "bunny", "smoke", "nerv", "psnr"): 28.5,
            ("reconstruction", "bunny", "smoke", "enerv", "psnr"): 27.0,
            ("reconstruction", "bunny", "smoke", "hnerv", "decode_fps"): 120.0,
            ("reconstruction", "bunny", "smoke", "hnerv", "train_seconds"): 15.0,
            ("reconstruction", "bunny", "cpu", "enerv", "psnr"): 25.5,
            ("convergence", "bunny", "smoke", "hnerv", "psnr"): 26.5,
            ("inpainting", "bunny", "smoke", "hnerv", "psnr_masked"): 21.0,
            ("compression", "bunny", "smoke", "x265", "bpp"): 0.025,
        },
        "best": {
            ("reconstruction", "bunny", "smoke", "psnr"): "hnerv",
            ("reconstruction", "bunny", "smoke", "decode_fps"): "nerv",
            ("reconstruction", "bunny", "smoke", "train_seconds"): "nerv",
        },
        "methods": {"hnerv", "nerv", "enerv", "x265"},
        "plots": ["rd-bunny-smoke-bunny", "rd-paper-uvg", "convergence-bunny-smoke",
                  "convergence-paper-convergence_075",
                  "params-bunny-smoke", "params-paper-bunny", "interpolation-bunny-smoke", "interpolation-paper",
                  "inpainting-bunny-smoke", "inpainting-paper"],
        "left_out": 5,
        "bd_rate_hnerv_vs_x265": -20.0,
        "commit": COMMIT,
    }
    return root, expected
