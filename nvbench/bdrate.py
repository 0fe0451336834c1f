"""Bjøntegaard deltas (BD-rate, BD-PSNR) with PCHIP interpolation, in pure numpy.

Why PCHIP: the original Bjøntegaard cubic fit can oscillate between RD points; current
practice (JVET CTC, the `bjontegaard` package's "pchip" method) interpolates with the
monotone piecewise-cubic Hermite interpolant (Fritsch–Carlson slopes, as scipy's
PchipInterpolator) and integrates it exactly over the quality (or rate) range both curves
cover. No torch and no scipy: the report and `compare` use it on stored numbers only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class NoOverlapError(ValueError):
    """The two curves share no quality (or rate) interval, so no delta is defined."""


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Derivatives at the knots, the same rule as scipy.interpolate.PchipInterpolator."""
    h = np.diff(x)
    delta = np.diff(y) / h
    n = len(x)
    d = np.zeros(n)
    if n == 2:
        d[:] = delta[0]
        return d
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] > 0:
            w1 = 2 * h[k] + h[k - 1]
            w2 = h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
        else:
            d[k] = 0.0

    def edge(h0: float, h1: float, m0: float, m1: float) -> float:
        dd = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(dd) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(dd) > abs(3 * m0):
            return 3 * m0
        return dd

    d[0] = edge(h[0], h[1], delta[0], delta[1])
    d[-1] = edge(h[-1], h[-2], delta[-1], delta[-2])
    return d


def pchip_integral(x: Sequence[float], y: Sequence[float], lo: float, hi: float) -> float:
    """Exact integral over [lo, hi] (inside [x0, xn]) of the PCHIP interpolant through (x, y);
    x strictly increasing."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    d = _pchip_slopes(x, y)
    total = 0.0
    for k in range(len(x) - 1):
        a, b = max(lo, x[k]), min(hi, x[k + 1])
        if b <= a:
            continue
        h = x[k + 1] - x[k]
        # Hermite cubic in t = (s - x_k)/h: p(t) = y0 h00 + h d0 h10 + y1 h01 + h d1 h11
        c0 = y[k]
        c1 = h * d[k]
        c2 = 3 * (y[k + 1] - y[k]) - h * (2 * d[k] + d[k + 1])
        c3 = 2 * (y[k] - y[k + 1]) + h * (d[k] + d[k + 1])
        ta, tb = (a - x[k]) / h, (b - x[k]) / h
        prim = [c0 * t + c1 * t**2 / 2 + c2 * t**3 / 3 + c3 * t**4 / 4 for t in (ta, tb)]
        total += h * (prim[1] - prim[0])
    return total


def _curve(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r, q = np.asarray(rate, float), np.asarray(quality, float)
    keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[keep], q[keep]
    if len(r) < 2:
        raise ValueError("a rate-distortion curve needs at least two finite points with rate > 0")
    return r, q


def _sorted_unique(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    ux, inv = np.unique(x, return_inverse=True)
    uy = np.array([y[inv == i].mean() for i in range(len(ux))])
    if len(ux) < 2:
        raise ValueError("a rate-distortion curve needs at least two distinct values")
    return ux, uy


def bd_rate(rate_anchor: Sequence[float], quality_anchor: Sequence[float],
            rate_test: Sequence[float], quality_test: Sequence[float]) -> float:
    """Average bitrate difference (%) of the test curve against the anchor at equal quality:
    negative = the test needs fewer bits. log10(rate) is interpolated over quality."""
    ra, qa = _curve(rate_anchor, quality_anchor)
    rt, qt = _curve(rate_test, quality_test)
    xa, ya = _sorted_unique(qa, np.log10(ra))
    xt, yt = _sorted_unique(qt, np.log10(rt))
    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if hi <= lo:
        raise NoOverlapError(f"quality ranges do not overlap: anchor {xa[0]:.3f}..{xa[-1]:.3f}, "
                             f"test {xt[0]:.3f}..{xt[-1]:.3f}")
    avg = (pchip_integral(xt, yt, lo, hi) - pchip_integral(xa, ya, lo, hi)) / (hi - lo)
    return (10.0**avg - 1.0) * 100.0


def bd_psnr(rate_anchor: Sequence[float], quality_anchor: Sequence[float],
            rate_test: Sequence[float], quality_test: Sequence[float]) -> float:
    """Average quality difference (dB for PSNR) of the test curve over the anchor at equal
    rate: positive = the test is better. Quality is interpolated over log10(rate)."""
    ra, qa = _curve(rate_anchor, quality_anchor)
    rt, qt = _curve(rate_test, quality_test)
    xa, ya = _sorted_unique(np.log10(ra), qa)
    xt, yt = _sorted_unique(np.log10(rt), qt)
    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if hi <= lo:
        raise NoOverlapError(f"rate ranges do not overlap: anchor {10**xa[0]:.4g}..{10**xa[-1]:.4g}, "
                             f"test {10**xt[0]:.4g}..{10**xt[-1]:.4g} bpp")
    return (pchip_integral(xt, yt, lo, hi) - pchip_integral(xa, ya, lo, hi)) / (hi - lo)

