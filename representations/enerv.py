"""E-NeRV (Li et al., ECCV 2022) as its official code defines it (docs/methods/enerv.md).

Temporal code PE(t) -> MLP(512 -> 256); spatial tokens from the PE of a fixed gh x gw grid ->
Linear(256), attention block 1 (1 head), x temporal code, attention block 2 (8 heads), no
LayerNorm, Linear -> fc_dim map; before every stage InstanceNorm + a temporal affine
modulation from a second PE branch; stage 0 is the up-block (conv -> PixelShuffle -> conv);
1x1 head with sigmoid. t = i/(N-1). The three positional encodings (t, the token grid, the
modulation's t) are computed in float32 as E-NeRV's code does (`pe_precision`).

Sizes: `--size released` is cfgs/E-NeRV-bunny.yaml (12,490,314 trainable parameters at
720x1280; E-NeRV's main.py also counts the 288 values of the fixed token grid: 12,490,602).
E-NeRV publishes no size formula and its width-independent parts alone hold ~1.05M, so any
other budget scales every width (MLP, token, FFN, head dim, modulation, fc_dim, lower width) by
one factor f, solved on the exact count (monotone in f) and recorded as `width_scaled`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import REPRESENTATION, MethodPlugin
from nvbench.recipe import NERV_RECIPE
from representations.nerv import PE_PRECISIONS, checked_pe_precision, nerv_grid
from representations.sizing import gap_error, highest_budget, lowest_budget, within

#: the widths that scale together (released values)
WIDTHS = ("stem_dim", "block_dim", "mlp_dim", "dim_head", "t_dim", "fc_dim", "lower_width")


def enerv_stage_widths(fc_dim: int, expansion: float, reduction: int, lower: int, strides) -> list[int]:
    """[E]'s schedule: stage 0 int(fc_dim*expansion), then max(C // reduction, lower_width)."""
    widths, c = [], fc_dim
    for i, s in enumerate(strides):
        c = int(c * expansion) if i == 0 else max(c // (1 if s == 1 else reduction), lower)
        widths.append(c)
    return widths


def _r(x: float) -> int:
    return max(1, int(math.floor(x + 0.5)))


def scaled_widths(o: dict[str, Any], f: float, strides) -> dict[str, Any]:
    """Every width of the released model times f, each rounded: the token/MLP widths, fc_dim, the
    up-block's inner width (fc_dim // 4) and every stage's output width (the released schedule
    588, 294, 147, 96, 96 at 5 stages). Scaling the stage widths themselves, not re-deriving them
    from a rounded fc_dim, keeps the count's steps small (budgets are hit within 3%)."""
    w: dict[str, Any] = {k: _r(o[k] * f) for k in WIDTHS}
    w["fc_dim"] = max(4, w["fc_dim"])
    w["up_inner"] = _r((o["fc_dim"] // 4) * f)
    base = enerv_stage_widths(o["fc_dim"], o["expansion"], o["reduction"], o["lower_width"], strides)
    w["widths"] = [_r(b * f) for b in base]
    return w


def enerv_params(o: dict[str, Any], w: dict[str, Any], strides) -> dict[str, int]:
    """Exact trainable parameter count, per part (mirrors [E] model/E_NeRV.py)."""
    L, Lxy, Ltm = 2 * o["pe_l"], 2 * o["xy_l"], 2 * o["tm_l"]
    stem, blk, mlp, dh, td, fc = (w[k] for k in ("stem_dim", "block_dim", "mlp_dim", "dim_head", "t_dim", "fc_dim"))

    def transformer(heads: int) -> int:
        inner = heads * dh
        out = 0 if (heads == 1 and dh == blk) else inner * blk + blk
        return blk * 3 * inner + out + (blk * mlp + mlp) + (mlp * blk + blk)

    parts = {
        "t_mlp": L * stem + stem + stem * blk + blk,
        "xy_mlp": 2 * Lxy * blk + blk,
        "trans1": transformer(o["heads"][0]),
        "trans2": transformer(o["heads"][1]),
        "toconv": 0 if blk == fc else blk * fc + fc,
        "t_branch": Ltm * td + td + td * td + td,
    }
    mod = conv = 0
    cin = fc
    for i, (s, cout) in enumerate(zip(strides, w["widths"])):
        mod += td * 2 * cin + 2 * cin
        if i == 0 and cin <= cout:  # Conv_Up_Block, expanding branch: conv -> shuffle -> conv
            q = w["up_inner"]
            conv += cin * q * s * s * 9 + q * s * s + q * cout * 9 + cout
        elif i == 0:
            conv += cin * cout * 9 + cout + cout * cout * s * s * 9 + cout * s * s
        else:
            conv += cin * cout * s * s * 9 + cout * s * s
        cin = cout
    parts.update(modulation=mod, convs=conv, head=cin * 3 + 3)
    parts["total"] = sum(parts.values())
    return parts


class ENeRVMethod(MethodPlugin):
    name = "enerv"
    model_class = "representations.enerv_net:ENeRV"
    decoder_class = "representations.enerv_net:ENeRVDecoder"
    version = "2"  # 2: the positional encodings in float32 as E-NeRV's code (1: float64)
    description = ("E-NeRV: temporal + spatial (token grid 9x16 at 720x1280, 8x16 at 640x1280; 2 attention blocks) "
                   "codes, temporal modulation per stage, up-block stage 0, sigmoid head; sizes by one width factor "
                   "(`released` = 12.49M)")
    capabilities = frozenset({REPRESENTATION})
    size_tolerance: ClassVar[tuple[float, float]] = (0.03, 0.03)  # one width factor, the nearer step
    recipe = NERV_RECIPE  # E-NeRV's recipe is NeRV's: Fusion6, Adam(0.5, 0.999), lr 5e-4, 20% warm-up, batch 1
    index_normalisation = "i/(N-1)"
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = {"pe_precision": tuple(PE_PRECISIONS)}
    options: ClassVar[dict[str, Any]] = {
        "pe_precision": "float32",  # E-NeRV's code: index, token grid, angles and sin/cos in float32
        "pe_b": 1.25,
        "pe_l": 80,
        "xy_l": 80,
        "tm_l": 80,
        "stem_dim": 512,
        "block_dim": 256,
        "mlp_dim": 128,
        "dim_head": 64,
        "t_dim": 128,  # the temporal-modulation branch (hard-coded 128 in [E])
        "fc_dim": 196,
        "lower_width": 96,
        "heads": [1, 8],
        "expansion": 3.0,
        "reduction": 2,
        "grid_w": 16,
        "strides": [],
    }
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {
        "pe_b": (1.0, None), "pe_l": (1, None), "xy_l": (1, None), "tm_l": (1, None), "stem_dim": (1, None),
        "block_dim": (1, None), "mlp_dim": (1, None), "dim_head": (1, None), "t_dim": (1, None),
        "fc_dim": (1, None), "lower_width": (1, None), "heads": (1, None), "expansion": (0.01, None),
        "reduction": (1, None), "grid_w": (1, None), "strides": (1, None),
    }
    option_types: ClassVar[dict[str, type]] = {"strides": int}

    @classmethod
    def plan(cls, frames: int, height: int, width: int, size: int | str, options: dict[str, Any]) -> dict:
        o = cls.resolve_options(options)
        gh, gw, strides = nerv_grid(height, width, o["grid_w"], o["strides"], method=cls.name)

        def count(f: float) -> int:
            return enerv_params(o, scaled_widths(o, f, strides), strides)["total"]

        f_min = 1.0 / o["dim_head"]  # every width >= 1
        tol = cls.size_tolerance
        floor = lowest_budget(count(f_min), tol)  # the stem fill below reaches every budget above
        shape = f"{frames} frames of {height}x{width}"
        if isinstance(size, str):
            if size.lower() != "released":
                raise NvbenchError(f"enerv: unknown named size {size!r} (known: released)")
            f = 1.0
        else:
            if size < floor:
                raise cls.size_error(size, floor, shape)
            lo, hi = f_min, 1.0
            while count(hi) <= size:
                hi *= 2
            for _ in range(60):  # the largest f whose count fits the budget
                mid = (lo + hi) / 2
                if count(mid) <= size:
                    lo = mid
                else:
                    hi = mid
            f = lo
            if count(hi) - size < size - count(lo):  # the nearer of the two sides of the step
                f = hi
        w, rule = scaled_widths(o, f, strides), "width factor"
        if not isinstance(size, str) and not within(count(f), size, tol) and count(lo) <= size:
            # a rounded width (at small sizes the up-block's inner one) steps by more than the
            # tolerance: keep the lower side's widths and let the temporal MLP's hidden width
            # (stem_dim, 2 pe_l + 1 + block_dim parameters each) take the rest
            f, w = lo, scaled_widths(o, lo, strides)
            per = 2 * o["pe_l"] + 1 + w["block_dim"]
            w["stem_dim"] += round((size - count(lo)) / per)
            rule = "width factor, stem fills"
            if not within(enerv_params(o, w, strides)["total"], size, tol):
                raise gap_error(cls, size, shape, highest_budget(count(lo), tol), lowest_budget(count(hi), tol))
        parts = enerv_params(o, w, strides)
        return {
            "frames": frames, "height": height, "width": width,
            "pe_b": o["pe_b"], "pe_l": o["pe_l"], "xy_l": o["xy_l"], "tm_l": o["tm_l"], "index_norm": "i/(N-1)",
            "pe_precision": checked_pe_precision(cls.name, o["pe_precision"]),
            **w, "heads": list(o["heads"]), "expansion": o["expansion"], "reduction": o["reduction"],
            "fc_hw": [gh, gw], "strides": list(strides),
            "width_scaled": f != 1.0, "width_scale": round(f, 6), "named_size": size if isinstance(size, str) else None,
            **({"size_rule": rule} if rule != "width factor" else {}),  # plans of the one factor: as before
            "params_parts": {k: v for k, v in parts.items() if k != "total"},
            "params": parts["total"],
            "params_paper": parts["total"] + 2 * gh * gw,  # [E] main.py also counts the fixed token grid
        }
