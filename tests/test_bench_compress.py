"""Benchmarks (pytest-benchmark, `-m bench`): writing a .nvb file (quantisation + entropy coding)
and decoding one back to frames, for HNeRV at the cpu preset (160x320, 132 frames, 94k), with
both entropy coders.

Run: pytest -m bench tests/test_bench_compress.py --benchmark-enable (or `tox -e bench`).
The decoder's weights are random (coding speed does not depend on training); embeddings are
drawn from a normal distribution like trained ones."""

from __future__ import annotations

import pytest
import torch

from nvbench.compress.nvb import decode_frames, encode_decoder, read_state
from representations.hnerv import HNeRVMethod

N, H, W, SIZE = 132, 160, 320, 94_000


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    config = HNeRVMethod.plan(N, H, W, SIZE, {})
    dec = HNeRVMethod.build_decoder(config)
    with torch.no_grad():
        dec.embeddings.normal_(0, 1)
    return dec.eval(), config


@pytest.mark.bench
@pytest.mark.parametrize("coder", ["range", "huffman"])
def test_bench_entropy_encode(benchmark, decoder, coder):
    dec, config = decoder
    data = benchmark.pedantic(lambda: encode_decoder(dec, "hnerv", HNeRVMethod.version, config, bits=6, coder=coder),
                              rounds=3, iterations=1, warmup_rounds=1)
    header, state = read_state(data)
    assert header["coder"] == coder
    assert set(state) == set(dec.state_dict())
    benchmark.extra_info.update(coder=coder, bytes=len(data), bpp=8 * len(data) / (N * H * W))


@pytest.mark.bench
@pytest.mark.parametrize("coder", ["range", "huffman"])
def test_bench_decode_file_to_frames(benchmark, decoder, coder):
    dec, config = decoder
    data = encode_decoder(dec, "hnerv", HNeRVMethod.version, config, bits=6, coder=coder)
    frames = benchmark.pedantic(lambda: decode_frames(data), rounds=3, iterations=1, warmup_rounds=1)
    assert frames.shape == (N, H, W, 3)
    if benchmark.stats:
        benchmark.extra_info.update(coder=coder, frames_per_s=N / benchmark.stats.stats.mean)
