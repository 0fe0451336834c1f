"""Choosing up-sampling strides for a frame size (pure Python, shared by the NeRV family)."""

from __future__ import annotations


def prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def split_strides(product: int, stages: int = 5) -> tuple[int, ...]:
    """Factor `product` into `stages` strides, largest first, merging the smallest factors:
    80 -> (5,2,2,2,2), 240 -> (5,4,3,2,2), 320 -> (5,4,4,2,2), 480 -> (5,4,4,3,2) (the papers'
    lists); padded with 1 when there are too few factors."""
    factors = sorted(prime_factors(product), reverse=True) if product > 1 else []
    while len(factors) > stages:
        factors.sort(reverse=True)
        a, b = factors.pop(), factors.pop()
        factors.append(a * b)
    factors.sort(reverse=True)
    return tuple(factors + [1] * (stages - len(factors)))


def grid_product(height: int, width: int, grid: tuple[int, int]) -> int:
    """The common up-sampling product for a frame size and a target grid (h, w)."""
    gh, gw = grid
    if height % gh or width % gw or height // gh != width // gw:
        raise ValueError(f"{height}x{width} is not a {gh}x{gw} grid times one common factor")
    return height // gh
