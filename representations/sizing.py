"""Hitting a stored-parameter budget within a method's stated tolerance (pure Python).

A method's size rule (a paper's formula, one width factor, ...) gives a monotone family of
parameter counts. A budget is reachable when some count of the family lies within the method's
`size_tolerance` of it. Below the smallest reachable budget (the method's true floor) plan() raises
a SizeError naming the floor; a budget between two counts whose step exceeds the tolerance (small
models only) raises a SizeError naming the nearest reachable sizes on both sides.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence

from nvbench.errors import SizeError
from nvbench.presets import format_size


def within(params: int, budget: int, tolerance: tuple[float, float]) -> bool:
    """budget * (1 - below) <= params <= budget * (1 + above)."""
    below, above = tolerance
    return budget * (1 - below) - 1e-9 <= params <= budget * (1 + above) + 1e-9


def lowest_budget(count: int, tolerance: tuple[float, float]) -> int:
    """The smallest budget that a model of `count` parameters is within tolerance of."""
    return math.ceil(count / (1 + tolerance[1]) - 1e-9)


def highest_budget(count: int, tolerance: tuple[float, float]) -> int:
    """The largest budget that a model of `count` parameters is within tolerance of."""
    return math.floor(count / (1 - tolerance[0]) + 1e-9)


def gap_error(method: type, size: int, shape: str, lower: int, upper: int | None) -> SizeError:
    """A budget above the floor that falls between two models: name the reachable sizes around it."""
    below, above = method.size_tolerance
    near = format_size(lower) + (f" and {format_size(upper)}" if upper else "")
    counts = f"{lower}" + (f" and {upper}" if upper else "")
    return SizeError(f"{method.name} cannot reach a size of {format_size(size)} at {shape} within its tolerance "
                     f"(-{below:.0%}, +{above:.0%}): the nearest sizes it reaches are {near} ({counts} parameters)")


def family_gap(counts: Sequence[int], size: int, tolerance: tuple[float, float]) -> tuple[int, int | None]:
    """The reachable budgets around `size` for the ascending counts of a family."""
    i = bisect_right(counts, size)
    lower = highest_budget(counts[i - 1], tolerance) if i > 0 else None
    upper = lowest_budget(counts[i], tolerance) if i < len(counts) else None
    return lower, upper


def best_within(counts: Sequence[int], budget: int, tolerance: tuple[float, float]) -> int | None:
    """Index of the count nearest the budget among the two around it that lie within tolerance
    (ascending counts); None when neither does."""
    i = bisect_right(counts, budget)
    cands = [j for j in (i - 1, i) if 0 <= j < len(counts) and within(counts[j], budget, tolerance)]
    return min(cands, key=lambda j: abs(counts[j] - budget)) if cands else None


def around(count: Callable[[int], int], lo: int, budget: int) -> tuple[int, int]:
    """For a nondecreasing integer family count(k), k >= lo, with count(lo) <= budget: the k with
    count(k) <= budget < count(k + 1)."""
    hi = lo + 1
    while count(hi) <= budget:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) <= budget else (lo, mid)
    return lo, hi


def nearest_int(count: Callable[[int], int], lo: int, budget: int, tolerance: tuple[float, float]) -> int | None:
    """For a nondecreasing integer family count(k), k >= lo: the k (of the two around the budget)
    whose count is within tolerance and nearest; None when neither is."""
    if count(lo) > budget:
        return lo if within(count(lo), budget, tolerance) else None
    a, b = around(count, lo, budget)
    cands = [k for k in (a, b) if within(count(k), budget, tolerance)]
    return min(cands, key=lambda k: abs(count(k) - budget)) if cands else None
