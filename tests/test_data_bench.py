"""Benchmarks (pytest -m bench): a synthetic 600-frame 1080p raw sequence prepared like UVG,
then iterated in training batches from the memory map.

Measured: preparation seconds and the share that is colour conversion; uint8 frames/s
delivered by the training loop's FrameSource from a warm page cache; anonymous resident
memory (RssAnon: memory-mapped file pages do not count) above the baseline.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.bench

T, H, W = 600, 1080, 1920


def rss_anon() -> int:
    """Anonymous resident bytes of this process (heap, numpy/torch buffers; not file maps)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def write_synthetic_yuv(path: Path, frames: int = T) -> Path:
    """Moving gradients with texture, frame by frame (never the whole video in memory)."""
    y0 = (np.add.outer(np.arange(H) // 5, np.arange(W) // 7) % 220 + 16).astype(np.uint8)
    c0 = (np.add.outer(np.arange(H // 2) // 3, np.arange(W // 2) // 4) % 200 + 28).astype(np.uint8)
    with open(path, "wb") as fh:
        for t in range(frames):
            fh.write(np.roll(y0, 4 * t, axis=1).tobytes())
            fh.write(np.roll(c0, t, axis=0).tobytes())
            fh.write(np.roll(c0, -t, axis=1).tobytes())
    return path


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Beauty (600 frames 1080p on UVG's card) from a synthetic raw file, prepared once."""
    import os

    root = tmp_path_factory.mktemp("bench_data")
    old = os.environ.get("NVBENCH_DATA")
    os.environ["NVBENCH_DATA"] = str(root / "data")
    from nvbench.data.uvg import UVGDataset, yuv_name

    src = write_synthetic_yuv(root / yuv_name("Beauty"))
    ds = UVGDataset()
    t0 = time.perf_counter()
    meta = ds.prepare(src, ["Beauty"], echo=lambda s: None)[0]
    seconds = time.perf_counter() - t0
    src.unlink()  # the prepared store is all the runs need
    yield ds, meta, seconds
    if old is None:
        os.environ.pop("NVBENCH_DATA", None)
    else:
        os.environ["NVBENCH_DATA"] = old


def test_bench_prepare_one_uvg_sequence(benchmark, prepared):
    ds, meta, seconds = prepared
    assert meta["shape"] == [T, H, W, 3]
    share = meta["convert_seconds"] / seconds
    benchmark.extra_info.update({"prepare_seconds": round(seconds, 1), "convert_seconds": meta["convert_seconds"],
                                 "conversion_share": round(share, 3), "write_seconds": meta["write_seconds"]})
    print(f"\nprepare 600x1080p: {seconds:.1f} s, conversion {meta['convert_seconds']:.1f} s ({share:.0%}), "
          f"writing+hashing {meta['write_seconds']:.1f} s")
    # opening a prepared sequence is instant: a memory map and a small JSON
    video = benchmark(ds.load, "Beauty")
    assert isinstance(video.frames, np.memmap) and video.frames.shape == (T, H, W, 3)
    assert 0.3 < share < 1.0


def test_bench_training_batches_memory_and_throughput(benchmark, prepared):
    import torch

    from nvbench.train import FrameSource

    ds, _, _ = prepared
    baseline = rss_anon()
    video = ds.load("Beauty")
    source = FrameSource(video.frames, torch.device("cpu"))
    assert source._resident is None  # 3.7 GB: stays memory-mapped, gathered per batch
    gen = torch.Generator().manual_seed(0)
    peak = {"anon": 0}

    def epoch(batch: int = 2, as_float: bool = False) -> int:
        perm = torch.randperm(T, generator=gen)
        n = 0
        for b in range(0, T, batch):
            idx = perm[b : b + batch]
            x = source.float(idx) if as_float else source.uint8(idx)
            assert x.shape == (len(idx), 3, H, W)
            n += x.shape[0]
            peak["anon"] = max(peak["anon"], rss_anon() - baseline)
        return n

    epoch()  # warm the page cache
    t0 = time.perf_counter()
    epoch()
    fps_uint8 = T / (time.perf_counter() - t0)
    epoch(as_float=True)  # what train() does per batch: floats exist only per batch
    result = benchmark.pedantic(epoch, rounds=1, iterations=1)
    assert result == T
    growth = peak["anon"]
    benchmark.extra_info.update({"uint8_frames_per_second": round(fps_uint8),
                                 "rss_anon_growth_mb": round(growth / 1e6)})
    print(f"\n1080p uint8 frames/s (warm cache, batches of 2): {fps_uint8:.0f}; RssAnon growth {growth / 1e6:.0f} MB "
          f"(a float copy of the video would be {T * H * W * 3 * 4 / 1e9:.1f} GB)")
    assert growth < 1.5e9
    assert fps_uint8 >= 300, f"{fps_uint8:.0f} frames/s at 1080p (target 300)"
