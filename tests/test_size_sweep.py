"""Every representation's plan() either reaches a budget within its declared `size_tolerance` or
raises a SizeError: below its true floor (the smallest budget it reaches) naming that floor, above it
(a budget between two small models whose step exceeds the tolerance) naming the reachable sizes
around it, which plan() then reaches.

Swept for every registered method with the REPRESENTATION capability (methods added later are
included automatically) at Bunny's shape at the smoke, cpu and paper presets; a method whose rate is
set otherwise declares `takes_size = False` and is skipped. Pure-Python plan() calls only."""

from __future__ import annotations

import re

import pytest

from nvbench import registry
from nvbench.errors import SizeError
from nvbench.methods import REPRESENTATION
from nvbench.presets import PRESETS

BUNNY_FRAMES = 132


def sized_representations() -> list[str]:
    out = []
    for name in registry.methods.names():
        method = registry.methods.plugin(name).load()  # the class only: unavailable codecs load too
        if method.has(REPRESENTATION) and getattr(method, "takes_size", True):
            out.append(name)
    return out


def shape(preset: str) -> tuple[int, int, int]:
    p = PRESETS[preset]
    geo = p.geometry_for("bunny")
    h, w = geo.resolution or geo.crop
    return p.frames or BUNNY_FRAMES, h, w


def budgets(floor: int) -> list[int]:
    """A geometric sweep over 1k .. 20M (3 % steps) plus a dense one just above the floor, where the
    steps of a size rule are largest."""
    sweep = {int(1000 * 1.03 ** k) for k in range(340)}
    sweep |= {int(floor * (1 + 0.002 * k)) for k in range(150)}
    return sorted(b for b in sweep if b <= 20_000_000)


def named_floor(err: SizeError) -> int:
    m = re.search(r"smallest size there is \S+ \((\d+) parameters\)", str(err))
    assert m, f"a SizeError below the floor must name it: {err}"
    return int(m.group(1))


def named_neighbours(err: SizeError) -> list[int]:
    m = re.search(r"the nearest sizes it reaches are .*\((\d+)(?: and (\d+))? parameters\)", str(err))
    assert m, f"a SizeError above the floor must name the reachable sizes around the budget: {err}"
    return [int(g) for g in m.groups() if g]


def reaches(method, frames: int, h: int, w: int, size: int) -> bool:
    below, above = method.size_tolerance
    params = method.plan(frames, h, w, size, {})["params"]
    return size * (1 - below) - 1e-9 <= params <= size * (1 + above) + 1e-9


def test_the_sweep_covers_the_representations():
    names = sized_representations()
    assert {"hnerv", "nerv", "nerv-hnerv", "enerv", "autoencoder"} <= set(names)
    for name in names:
        below, above = registry.methods.plugin(name).load().size_tolerance
        assert 0 <= below < 1 and 0 <= above < 1


@pytest.mark.parametrize("preset", ["smoke", "cpu", "paper"])
@pytest.mark.parametrize("name", sized_representations())
def test_plan_reaches_the_budget_or_names_its_true_floor(name, preset):
    method = registry.methods.plugin(name).load()
    frames, h, w = shape(preset)
    below, above = method.size_tolerance
    with pytest.raises(SizeError) as err:
        method.plan(frames, h, w, 10, {})
    floor = named_floor(err.value)
    assert 10 < floor <= min(PRESETS[preset].sizes), "the preset's own sizes must be reachable"
    misses, gaps = [], []
    for size in budgets(floor) + [floor]:
        try:
            params = method.plan(frames, h, w, size, {})["params"]
        except SizeError as exc:
            if size < floor:
                assert named_floor(exc) == floor, (size, str(exc))  # one floor, whatever the budget
            else:
                gaps.append((size, named_neighbours(exc)))
            continue
        assert size >= floor, f"{name} at {preset}: {size} accepted below its named floor {floor}"
        if not size * (1 - below) - 1e-9 <= params <= size * (1 + above) + 1e-9:
            misses.append((size, params, round(params / size - 1, 4)))
    assert not misses, f"{name} at {preset} misses its tolerance (-{below}, +{above}): {misses[:5]}"
    assert reaches(method, frames, h, w, floor)
    with pytest.raises(SizeError):
        method.plan(frames, h, w, floor - 1, {})
    for size, around in gaps:  # genuine gaps: the sizes named around the budget are reached
        assert around[0] < size and (len(around) == 1 or size < around[1]), (size, around)
        assert all(reaches(method, frames, h, w, n) for n in around), (name, preset, size, around)
    for size in PRESETS[preset].sizes:  # and the preset's own ladder is never in a gap
        assert reaches(method, frames, h, w, size), (name, preset, size)
