"""The .nvb pipeline: quantisation, entropy coders, container, decode from bytes, bad input."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from nvbench.compress import entropy
from nvbench.compress.container import (
    FORMAT_VERSION,
    MAGIC,
    BadMagicError,
    ChecksumError,
    HeaderMismatchError,
    TruncatedFileError,
    UnsupportedVersionError,
    read_container,
    write_container,
)
from nvbench.compress.nvb import decode_frames, encode_decoder, load_decoder, read_state
from nvbench.compress.prune import global_masks, prunable, sparsity
from nvbench.compress.quantize import candidates, quantise, quantise_with
from nvbench.errors import FormatError
from nvbench.evaluate import decode_uint8
from representations.hnerv import HNeRVMethod


def small_decoder(seed: int = 0, frames: int = 6):
    torch.manual_seed(seed)
    config = HNeRVMethod.plan(frames, 40, 80, 24_000, {})
    dec = HNeRVMethod.build_decoder(config)
    with torch.no_grad():
        dec.embeddings.normal_(0, 1)
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return dec.eval(), config


def test_quantise_scale_rule_and_error_bound():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (64, 9)).astype(np.float32)
    q = quantise_with(x, 8, ())
    assert q.scales[()] == pytest.approx((x.max() - x.min()) / 255, rel=1e-6)
    assert q.codes.min() == 0 and q.codes.max() == 255
    assert np.abs(q.dequantise() - x).max() <= q.scales.max() / 2 + 1e-6
    # 4 bits: 16 levels, error larger than at 8 bits
    assert np.abs(quantise(x, 4).dequantise() - x).mean() > np.abs(quantise(x, 8).dequantise() - x).mean()


def test_quantise_picks_per_channel_when_channels_differ():
    rng = np.random.default_rng(1)
    x = (rng.normal(0, 1, (60, 100)) * np.logspace(-3, 0, 60)[:, None]).astype(np.float32)
    assert (0,) in candidates(x.shape)
    q = quantise(x, 6)
    assert q.keep == (0,)  # one (min, scale) per output channel beats one per tensor here
    assert q.mins.shape == (60,)


def test_exact_zero_keeps_pruned_weights_zero():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (32, 50)).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = 0.0
    for bits in (8, 4, 2):
        q = quantise(x, bits, exact_zero=True)
        assert np.all(q.dequantise()[x == 0] == 0.0)


@pytest.mark.parametrize("coder", entropy.CODERS)
def test_coders_round_trip(coder):
    rng = np.random.default_rng(3)
    streams = [np.clip(np.rint(rng.normal(128, 9, 5000)), 0, 255).astype(np.int64),
               np.clip(np.rint(rng.normal(20, 4, 700)), 0, 63).astype(np.int64),
               np.zeros(0, np.int64), np.full(10, 7)]
    alphabets = [256, 64, 256, 16]
    tables, payload = entropy.encode(coder, streams, alphabets)
    out = entropy.decode(coder, tables, payload, [len(s) for s in streams], alphabets)
    assert all(np.array_equal(a, b) for a, b in zip(streams, out))
    # both beat 8 bits per symbol on peaked data
    assert len(payload) * 8 < 0.8 * sum(len(s) * np.log2(k) for s, k in zip(streams, alphabets))


@pytest.mark.parametrize("coder", entropy.CODERS)
def test_all_zero_tensors_round_trip(coder):
    """A tensor whose every symbol is 0 (all-zero latents or weights) has a one-entry histogram;
    the range coder once refused it (constriction cannot model a single symbol)."""
    streams = [np.zeros(100, np.int64), np.zeros(3, np.int64), np.arange(5)]
    alphabets = [16, 256, 16]
    tables, payload = entropy.encode(coder, streams, alphabets)
    out = entropy.decode(coder, tables, payload, [len(s) for s in streams], alphabets)
    assert all(np.array_equal(a, b) for a, b in zip(streams, out))
    only_zeros = entropy.encode(coder, streams[:1], alphabets[:1])
    assert np.array_equal(entropy.decode(coder, *only_zeros, [100], [16])[0], streams[0])


def test_range_beats_huffman_on_skewed_data():
    rng = np.random.default_rng(4)
    s = [np.minimum(rng.geometric(0.7, 20000) - 1, 255)]
    h = sum(map(len, entropy.encode("huffman", s, [256])))
    r = sum(map(len, entropy.encode("range", s, [256])))
    assert r < h * 0.97


def test_huffman_lengths_are_limited_and_canonical():
    counts = np.array([2**i for i in range(30)])  # a Fibonacci-like skew needs long codes
    lengths = entropy.huffman_lengths(counts)
    assert lengths.max() <= entropy.MAX_CODE_LENGTH
    assert sum(2.0 ** -int(x) for x in lengths if x) <= 1.0


def test_file_round_trip_is_bit_exact_and_never_unpickles(monkeypatch):
    dec, config = small_decoder()
    data = encode_decoder(dec, "hnerv", HNeRVMethod.version, config, bits=8, coder="range")
    assert data.startswith(MAGIC)

    def no_load(*a, **k):
        raise AssertionError("decoding must not call torch.load")

    monkeypatch.setattr(torch, "load", no_load)
    loaded, header = load_decoder(data)
    assert header["method"] == "hnerv" and header["coder"] == "range"
    # the stored tensors are the dequantised ones, within half a step of the originals
    for k, v in dec.state_dict().items():
        assert torch.allclose(loaded.state_dict()[k], v, atol=float(v.abs().max()) / 200 + 1e-6)
    a = decode_frames(data)
    b = decode_uint8(loaded, range(config["frames"]))
    assert a.shape == (6, 40, 80, 3) and np.array_equal(a, b)
    h = encode_decoder(dec, "hnerv", HNeRVMethod.version, config, bits=8, coder="huffman")
    assert np.array_equal(decode_frames(h), a)  # the coder is lossless: same frames


def test_pruning_ratio_is_fraction_removed():
    dec, _ = small_decoder()
    masks = global_masks(dec, 0.3)
    total = sum(m.numel() for m in masks)
    removed = sum(int((~m).sum()) for m in masks)
    assert removed == round(0.3 * total)
    with torch.no_grad():
        for (mod, name), m in zip(prunable(dec), masks):
            getattr(mod, name).mul_(m)
    assert sparsity(dec) == pytest.approx(0.3, abs=1e-3)


def _file():
    dec, config = small_decoder(frames=3)
    return encode_decoder(dec, "hnerv", HNeRVMethod.version, config, bits=6, coder="range")


def test_bad_input_errors_name_the_problem():
    data = _file()
    with pytest.raises(BadMagicError, match="magic"):
        read_state(b"PK\x03\x04" + data[4:], "x.nvb")
    with pytest.raises(TruncatedFileError, match="truncated"):
        read_state(data[: len(data) // 2], "x.nvb")
    with pytest.raises(TruncatedFileError):
        read_state(data[:10], "x.nvb")
    newer = data[:8] + struct.pack("<H", FORMAT_VERSION + 1) + data[10:]
    with pytest.raises(UnsupportedVersionError, match="newer"):
        read_state(newer, "x.nvb")
    flipped = bytearray(data)
    flipped[-10] ^= 0x40
    with pytest.raises(ChecksumError, match="symbols|raw|checksum"):
        read_state(bytes(flipped), "x.nvb")
    with pytest.raises(FormatError, match="unexpected bytes"):
        read_state(data + b"\x00", "x.nvb")


def test_header_that_does_not_match_sections_or_decoder():
    header, sections = read_container(_file())
    body = [(s["name"], sections[s["name"]]) for s in header["sections"]]
    del header["sections"]
    # a tensor shape that disagrees with the coded data
    h2 = {**header, "tensors": [dict(t) for t in header["tensors"]]}
    h2["tensors"][0]["shape"] = [h2["tensors"][0]["shape"][0] + 1] + h2["tensors"][0]["shape"][1:]
    with pytest.raises(HeaderMismatchError):
        read_state(write_container(h2, body), "x.nvb")
    # a config that builds a different decoder than the stored tensors
    h3 = {**header, "config": {**header["config"], "c2": header["config"]["c2"] + 4}}
    with pytest.raises(HeaderMismatchError, match="do not match"):
        load_decoder(write_container(h3, body))
    # an unknown coder
    with pytest.raises(HeaderMismatchError, match="coder"):
        read_state(write_container({**header, "coder": "zip"}, body), "x.nvb")


def _fuzz(cases: int, seed: int) -> dict[str, int]:
    data = _file()
    reference = decode_frames(data)
    rng = np.random.default_rng(seed)
    outcome = {"rejected": 0, "exact": 0}
    for i in range(cases):
        buf = bytearray(data)
        kind = i % 3
        if kind == 0:
            buf = buf[: int(rng.integers(0, len(buf)))]
        else:
            for _ in range(int(rng.integers(1, 4 if kind == 1 else 40))):
                pos = int(rng.integers(0, len(buf)))
                buf[pos] ^= 1 << int(rng.integers(0, 8))
        try:
            frames = decode_frames(bytes(buf))
        except FormatError:
            outcome["rejected"] += 1
            continue
        assert np.array_equal(frames, reference), f"case {i} decoded to a different video"
        outcome["exact"] += 1
    return outcome


def test_fuzz_quick():
    out = _fuzz(60, seed=0)
    assert out["rejected"] >= 55


@pytest.mark.slow
def test_fuzz_thousands_of_flips_and_truncations():
    out = _fuzz(3000, seed=1)
    assert out["rejected"] + out["exact"] == 3000


def test_pruning_keeps_non_persistent_buffers_out_of_the_stored_state():
    """E-NeRV's fixed token-grid encoding is a non-persistent buffer: pruning must not turn it
    into a stored tensor (the rebuilt decoder would refuse the state)."""
    import torch

    from nvbench.compress.prune import prune_and_finetune
    from nvbench.recipe import NERV_RECIPE
    from representations.enerv import ENeRVMethod

    config = ENeRVMethod.plan(8, 40, 80, 60_000, {})
    decoder = ENeRVMethod.build_decoder(config).eval()
    pruned, info = prune_and_finetune(decoder, 0.2, None, NERV_RECIPE, 0, build_decoder=ENeRVMethod.build_decoder)
    assert set(pruned.state_dict()) == set(decoder.state_dict())
    assert 0.15 < info["sparsity"] < 0.25
    with torch.inference_mode():
        assert pruned(torch.arange(2)).shape == (2, 3, 40, 80)


def test_nothing_to_prune_is_no_mask():
    """A decoder whose stored tensors are all grids/biases (no layer weight) prunes nothing."""
    class Grid(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.latent = torch.nn.Parameter(torch.ones(2, 3, 4))

    assert prunable(Grid()) == [] and global_masks(Grid(), 0.2) == []


def test_shared_layout_files_bypass_a_methods_own_reader():
    """A method with its own file layout (c3, hinerv) can also be scored through the shared
    pipeline (`--set pipeline=shared`): a file in the shared layout is read by the shared path."""
    from nvbench.compress.nvb import SECTIONS, _own_reader
    from representations.c3 import C3Method

    shared = {"method": "c3", "method_version": C3Method.version, "sections": [{"name": n} for n in SECTIONS]}
    own = {**shared, "sections": [{"name": "side"}, {"name": "weights"}, {"name": "latents"}]}
    assert _own_reader(shared, "f") is None
    assert callable(_own_reader(own, "f"))
