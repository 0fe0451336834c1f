"""NeRV (Chen et al., NeurIPS 2021) as its paper and official code define it (docs/methods/nerv.md).

Frame index t = i/N -> positional encoding (b = 1.25, l = 80, interleaved sin/cos, in float32 as
NeRV's code computes it: `pe_precision`) -> MLP stem 2l -> 512 -> gh*gw*fc_dim -> NeRV blocks
(conv 3x3 -> PixelShuffle -> GELU) -> 1x1 head -> (tanh+1)/2. The whole network is the stored representation.

Sizes: at and above NeRV-S (fc_dim 26) the paper's family applies (stem 512, lower width 96,
fc_dim grows: NeRV-S/M/L = 26/58/112). Below NeRV-S every width (stem, fc_dim, every stage width) is
NeRV-S's scaled by one factor, recorded as `width_scaled` (with lower width 96 the unscaled
family has a floor near 1.1M at 640x1280 and cannot reach the small ladders at all). Where one
fc_dim step of the scaled family is more than 10 % of the budget (small models), the stem width
takes what the scaled widths leave (`size_rule`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import REPRESENTATION, MethodPlugin
from nvbench.recipe import NERV_RECIPE
from representations.sizing import gap_error, highest_budget
from representations.strides import prime_factors, split_strides

NAMED_FC_DIM = {"nerv-s": 26, "nerv-m": 58, "nerv-l": 112}  # README Bunny commands (9_16_C)

#: how a NeRV-family positional encoding is computed (representations/nerv_net.py implements them).
#: At the high levels (b^79 pi ~ 1e8 rad) float32 and float64 angles are unrelated numbers, so
#: each method uses its official code's arithmetic, in training and decoding alike.
PE_PRECISIONS = {
    "float32": "index, angles (t * b^i) * pi and sin/cos in float32 (NeRV's and E-NeRV's code)",
    "float32-freq": "float64 index times float32 frequencies b^i * pi, sin/cos in float64 (HNeRV's code)",
    "float64": "everything in float64 (nvbench's nerv, nerv-hnerv and enerv before version 2)",
}


def checked_pe_precision(method: str, value: object) -> str:
    """The `pe_precision` option, validated (one line naming the allowed values)."""
    if value not in PE_PRECISIONS:
        raise NvbenchError(f"{method}: pe_precision={value!r} is not one of {', '.join(PE_PRECISIONS)}")
    return str(value)


def nerv_grid(height: int, width: int, grid_w: int, strides: list[int] | tuple[int, ...] = (),
              max_stages: int = 5, method: str = "nerv") -> tuple[int, int, tuple[int, ...]]:
    """(gh, gw, strides): the grid is the frame size over the product of the strides, with gw
    fixed (16, as NeRV's 9x16 at 720p/1080p): 720x1280 -> 9x16 (5,2,2,2,2), 1080x1920 -> 9x16
    (5,3,2,2,2), 640x1280 -> 8x16 (5,2,2,2,2), 160x320 -> 8x16 (5,2,2). Stages are the prime
    factors of the product (merged down to `max_stages`), never stride-1 padding: a smaller
    frame drops the finest up-sampling stages and keeps the grid."""
    if strides:
        product = math.prod(strides)
        if height % product or width % product:
            raise NvbenchError(f"{method}: strides {list(strides)} do not divide {height}x{width}")
        return height // product, width // product, tuple(int(s) for s in strides)
    if width % grid_w or height % (width // grid_w):
        raise NvbenchError(
            f"{method} needs a frame width divisible by its grid width {grid_w} and a height divisible "
            f"by width/{grid_w}; {height}x{width} is not (e.g. 160x320, 640x1280, 720x1280), "
            f"or pass --set strides=..."
        )
    product = width // grid_w
    stages = max(1, min(max_stages, len(prime_factors(product)))) if product > 1 else 1
    return height // product, grid_w, split_strides(product, stages) if product > 1 else (1,)


def nerv_widths(fc_dim: int, n_stages: int, expansion: float, reduction: int, lower_width: int) -> list[int]:
    """Stage 0: int(fc_dim*expansion); later stages max(C_in // reduction, lower_width)."""
    widths, c = [], fc_dim
    for i in range(n_stages):
        c = int(c * expansion) if i == 0 else max(c // reduction, lower_width)
        widths.append(c)
    return widths


def nerv_params(pe_l: int, stem: int, fc_dim: int, grid: tuple[int, int], strides, widths) -> int:
    """Exact count: two Linear layers, the conv blocks, the 1x1 head (all with bias)."""
    cells = grid[0] * grid[1]
    n = 2 * pe_l * stem + stem + stem * cells * fc_dim + cells * fc_dim
    cin = fc_dim
    for s, cout in zip(strides, widths):
        n += cin * cout * s * s * 9 + cout * s * s
        cin = cout
    return n + cin * 3 + 3


def _scaled(base: int, f: float) -> int:
    return max(1, int(math.floor(base * f + 0.5)))


class NeRVMethod(MethodPlugin):
    name = "nerv"
    model_class = "representations.nerv_net:NeRV"
    decoder_class = "representations.nerv_net:NeRVDecoder"
    version = "2"  # 2: the positional encoding in float32 as NeRV's code (1: float64)
    description = ("NeRV: index -> PE(1.25, 80) -> MLP -> NeRV blocks (conv3x3, PixelShuffle, GELU) -> 1x1 head "
                   "(the NeRV paper's model; HNeRV-paper comparisons use nerv-hnerv)")
    capabilities = frozenset({REPRESENTATION})
    recipe = NERV_RECIPE
    #: the largest model that fits: at most the budget, at least 90 % of it
    size_tolerance: ClassVar[tuple[float, float]] = (0.10, 0.0)
    index_normalisation = "i/N"
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = {"pe_precision": tuple(PE_PRECISIONS)}
    options: ClassVar[dict[str, Any]] = {
        "pe_b": 1.25,
        "pe_l": 80,  # paper default; the README Bunny commands use 40
        "pe_precision": "float32",  # NeRV's code (PE_PRECISIONS)
        "stem_dim": 512,
        "base_fc_dim": 26,  # NeRV-S: the family below it is NeRV-S with every width scaled
        "expansion": 1.0,
        "reduction": 2,
        "lower_width": 96,
        "grid_w": 16,
        "strides": [],  # empty: chosen from the frame size (see nerv_grid)
    }
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {
        "pe_b": (1.0, None), "pe_l": (1, None), "stem_dim": (1, None), "base_fc_dim": (1, None),
        "expansion": (0.01, None), "reduction": (1, None), "lower_width": (1, None), "grid_w": (1, None),
        "strides": (1, None),
    }
    option_types: ClassVar[dict[str, type]] = {"strides": int}

    @classmethod
    def plan(cls, frames: int, height: int, width: int, size: int | str, options: dict[str, Any]) -> dict:
        o = cls.resolve_options(options)
        gh, gw, strides = nerv_grid(height, width, o["grid_w"], o["strides"], method=cls.name)
        n = len(strides)

        def family(fc: int) -> tuple[int, int, list[int]]:  # the paper's family: fc_dim grows
            return o["stem_dim"], fc, nerv_widths(fc, n, o["expansion"], o["reduction"], o["lower_width"])

        base_widths = nerv_widths(o["base_fc_dim"], n, o["expansion"], o["reduction"], o["lower_width"])

        def scaled(f: float) -> tuple[int, int, list[int]]:  # every width of NeRV-S times f
            return (_scaled(o["stem_dim"], f), _scaled(o["base_fc_dim"], f), [_scaled(b, f) for b in base_widths])

        def count(arch: tuple[int, int, list[int]]) -> int:
            return nerv_params(o["pe_l"], arch[0], arch[1], (gh, gw), strides, arch[2])

        shape = f"{frames} frames of {height}x{width}"
        below = cls.size_tolerance[0]

        def per_stem(fc: int) -> int:  # parameters one more stem channel costs
            return 2 * o["pe_l"] + 1 + gh * gw * fc

        def filled(arch: tuple[int, int, list[int]]) -> tuple[int, int, list[int]]:
            """The stem takes what the scaled widths leave (exact, <= the budget)."""
            rest = size - count((0, arch[1], arch[2]))
            return max(arch[0], rest // per_stem(arch[1])), arch[1], arch[2]

        floor = count(scaled(0.0))  # every width 1
        scale, named, rule = 1.0, None, "width factor"
        if isinstance(size, str):
            if size.lower() not in NAMED_FC_DIM:
                raise NvbenchError(f"nerv: unknown named size {size!r} (known: {', '.join(NAMED_FC_DIM)})")
            named = size.lower()
            arch = family(NAMED_FC_DIM[named])
        elif size < floor:
            raise cls.size_error(size, floor, shape)
        elif size >= count(family(o["base_fc_dim"])):
            fc = o["base_fc_dim"]
            while count(family(fc + 1)) <= size:
                fc += 1
            arch = family(fc)
        else:  # every width scaled by one factor: the largest f whose count fits the budget
            lo, hi = 0.0, 1.0
            for _ in range(60):
                mid = (lo + hi) / 2
                if count(scaled(mid)) <= size:
                    lo = mid
                else:
                    hi = mid
            scale = lo
            arch = scaled(lo)
            if count(arch) < size * (1 - below):  # fc_dim steps are large at small widths
                arch, rule = filled(arch), "width factor, stem fills"
                if count(arch) < size * (1 - below):  # one stem channel is more than the tolerance
                    got = count(arch)
                    raise gap_error(cls, size, shape, highest_budget(got, cls.size_tolerance), got + per_stem(arch[1]))
        stem, fc, widths = arch
        lower = _scaled(o["lower_width"], scale)
        params = count(arch)
        return {
            "frames": frames, "height": height, "width": width,
            "pe_b": o["pe_b"], "pe_l": o["pe_l"], "index_norm": "i/N",
            "pe_precision": checked_pe_precision(cls.name, o["pe_precision"]),
            "stem_dim": stem, "fc_dim": fc, "fc_hw": [gh, gw], "strides": list(strides),
            "expansion": o["expansion"], "reduction": o["reduction"], "lower_width": lower, "widths": widths,
            "width_scaled": scale < 1.0, "width_scale": round(scale, 6),
            "named_size": named, **({"size_rule": rule} if rule != "width factor" else {}),
            "params": params,
        }
