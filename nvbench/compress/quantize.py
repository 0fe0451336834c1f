"""Uniform b-bit quantisation of stored tensors (HNeRV's rule; docs/methods/hnerv.md).

scale = (max - min) / (2^b - 1), code = round((x - min) / scale) clamped to [0, 2^b - 1],
x' = code * scale + min, all in float32. Candidates: one (min, scale) for the whole tensor, or
one per index of an axis, or one per position across axis 0 (HNeRV's embedding case); a
candidate is allowed when its side information is at most 2% of the tensor, and the one with
the lowest mean absolute error wins (as HNeRV's `quant_tensor`). For pruned tensors the
minimum is shifted by less than one step so that 0 is a code and pruned weights decode to
exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: side information (mins + scales) allowed, as a fraction of the tensor's elements
SIDE_INFO_FRACTION = 0.02


@dataclass
class QuantTensor:
    """Codes plus what it takes to dequantise them."""

    codes: np.ndarray  # int64, same shape as the tensor
    bits: int
    keep: tuple[int, ...]  # axes that index the (min, scale) pairs; () = one pair per tensor
    mins: np.ndarray  # float32, shape = the kept dims
    scales: np.ndarray  # float32, same shape

    def dequantise(self) -> np.ndarray:
        return dequantise(self.codes, self.keep, self.mins, self.scales)


def _stat_shape(shape: tuple[int, ...], keep: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[a] for a in keep)


def _expand(values: np.ndarray, shape: tuple[int, ...], keep: tuple[int, ...]) -> np.ndarray:
    """Reshape per-slice values (kept dims) so they broadcast against the tensor."""
    view = [1] * len(shape)
    for a in keep:
        view[a] = shape[a]
    return values.reshape(view)


def dequantise(codes: np.ndarray, keep: tuple[int, ...], mins: np.ndarray, scales: np.ndarray) -> np.ndarray:
    shape = codes.shape
    s = _expand(np.asarray(scales, np.float32), shape, keep)
    m = _expand(np.asarray(mins, np.float32), shape, keep)
    return (codes.astype(np.float32) * s + m).astype(np.float32)


def zero_codes(mins: np.ndarray, scales: np.ndarray, bits: int) -> np.ndarray:
    """The code nearest to 0.0 for each (min, scale) pair: clamp(rint(-min / scale), 0, 2^b - 1)
    in float32 (IEEE division and ties-to-even rounding, so every reader gets the same)."""
    z = np.rint(-np.asarray(mins, np.float32) / np.asarray(scales, np.float32))
    return np.clip(z, 0, (1 << bits) - 1).astype(np.int64)


def centre(codes: np.ndarray, keep: tuple[int, ...], mins: np.ndarray, scales: np.ndarray, bits: int) -> np.ndarray:
    """Symbols to entropy-code: (code - zero code) mod 2^b. A bijection per (min, scale) pair
    that puts 0.0 (and pruned weights) on symbol 0 in every channel, so per-channel
    quantisation does not smear the zero peak over many symbols."""
    z = _expand(zero_codes(mins, scales, bits), codes.shape, keep)
    return (codes - z) & ((1 << bits) - 1)


def uncentre(symbols: np.ndarray, keep: tuple[int, ...], mins: np.ndarray, scales: np.ndarray, bits: int) -> np.ndarray:
    z = _expand(zero_codes(mins, scales, bits), symbols.shape, keep)
    return (symbols + z) & ((1 << bits) - 1)


def candidates(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Kept-axis sets whose side information is small enough (always includes per tensor)."""
    numel = int(np.prod(shape)) if shape else 1
    out: list[tuple[int, ...]] = [()]
    if len(shape) >= 2:
        options = [(a,) for a in range(len(shape))] + [tuple(range(1, len(shape)))]
        for keep in options:
            if keep not in out and int(np.prod(_stat_shape(shape, keep))) <= SIDE_INFO_FRACTION * numel:
                out.append(keep)
    return out


def quantise_with(x: np.ndarray, bits: int, keep: tuple[int, ...], exact_zero: bool = False) -> QuantTensor:
    x = np.asarray(x, np.float32)
    levels = (1 << bits) - 1
    reduce = tuple(a for a in range(x.ndim) if a not in keep)
    mn = x.min(axis=reduce, keepdims=True) if x.size else np.zeros([1] * x.ndim, np.float32)
    mx = x.max(axis=reduce, keepdims=True) if x.size else np.zeros([1] * x.ndim, np.float32)
    scale = ((mx - mn) / np.float32(levels)).astype(np.float32)
    scale = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    mn = mn.astype(np.float32)
    if exact_zero:
        # shift min by < 1 step so that 0 = code z exactly: z*s + (-(z*s)) == 0 in float32
        z = np.clip(np.rint(-mn / scale), 0, levels).astype(np.float32)
        mn = np.where((mn < 0) & (mx > 0), -(z * scale), mn).astype(np.float32)
        mn = np.where(mx <= 0, -(np.float32(levels) * scale), mn).astype(np.float32)
    codes = np.clip(np.rint((x - mn) / scale), 0, levels).astype(np.int64)
    stat = _stat_shape(x.shape, keep)
    return QuantTensor(codes, bits, keep, mn.reshape(stat).astype(np.float32), scale.reshape(stat).astype(np.float32))


def quantise(x: np.ndarray, bits: int, exact_zero: bool = False) -> QuantTensor:
    """The candidate with the lowest mean absolute error (HNeRV's choice)."""
    if not 1 <= bits <= 16:
        raise ValueError(f"quantisation bits must be 1..16, got {bits}")
    x = np.asarray(x, np.float32)
    best, best_err = None, np.inf
    for keep in candidates(x.shape):
        q = quantise_with(x, bits, keep, exact_zero)
        err = float(np.abs(q.dequantise() - x).mean()) if x.size else 0.0
        if err < best_err:
            best, best_err = q, err
    assert best is not None
    return best
