"""HiNeRV (Kwan et al., NeurIPS 2023): hierarchical encoding-based neural representation.

Light plugin (no torch at import): the size formula and `plan()` in pure Python. The network is
in representations/hinerv_net.py, its compression pipeline in representations/hinerv_compress.py.

What is stored (`encoding.*` and `decoder.*` of the official code, no encoder):
- a base feature grid of `base_levels` (2) levels at 1/S of the frame (S = product of the
  strides): level i holds int(T_g / 2^i) frames x h0 x w0 x C_g*2^i values, linearly
  interpolated along time to the frame index;
- a 3x3 conv stem (sum of the base channels -> C);
- four stages, each LayerNorm (no affine) -> trilinear x s up-sampling -> + a temporal-local
  grid encoding (`enc_levels` (3) grids of int(T/2^j) frames holding s*s*C_e,i*2^j values,
  C_e,i = max(int(C_e * 0.5^i), 1), through a Linear to the stage's input width) -> d_i ConvNeXt
  blocks (depthwise k x k without bias -> LayerNorm no affine -> Linear C -> e*C -> GELU ->
  Linear -> C_out, no biases; residual when the widths match); widths halve per stage;
- a Linear head to RGB with a sigmoid.

`hinerv_params` counts exactly what the official `HiNeRV.get_num_parameters()['All']` counts
(tests/test_hinerv_size.py checks the repository's UVG S..XXL and Bunny XXS..S cfgs against the
official code's own counts). `plan()` scales the three knobs the repository's size ladder scales
(channels C, base-grid channels C_g, local-grid channels C_e = 2*C_g): the grids take at most the
share they have in the repository's cfgs (18 %), C is the largest width that fits the budget.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import REPRESENTATION, MethodPlugin
from nvbench.recipe import HINERV_RECIPE

#: the repository's stride sets: its 720p (Bunny) and 1080p (UVG, MCL-JCV) cfgs; both give an
#: 18x32 base grid there (choose_strides). cpu 160x320 and smoke 40x80: 5,2,2,2 (base 4x8, 1x2);
#: paper 640x1280: 5,2,2,2 (base 16x32, as the repo's 720p cfgs).
REPO_STRIDES: tuple[tuple[int, ...], ...] = ((5, 2, 2, 2), (5, 3, 2, 2))
#: the grids' share of the stored parameters in the repository's cfgs (UVG-S 17.9 %, Bunny-XXS 18.0 %)
GRID_SHARE = 0.18
#: plan(): stored parameters are within this fraction below the budget (never above)
SIZE_TOLERANCE = 0.07  # one channel step at C < 32 costs up to ~7 %; at the presets' sizes ~1 %
MIN_CHANNELS = 16  # the last stage keeps at least C/8 = 2 channels


def divide_to_multiple(a: int, b: float, factor: int) -> int:
    """The official width rule of the next stage: ceil((a // b) / factor) * factor."""
    return int(math.ceil((a // b) / factor) * factor)


def stage_widths(channels: int, stages: int, reduce: float = 2.0, base: int = 1) -> list[tuple[int, int]]:
    """(C_in, C_out) of each stage: the first keeps C, then the width is divided by `reduce`."""
    out, c2 = [], channels
    for i in range(stages):
        c1 = c2
        if i > 0:
            c2 = max(divide_to_multiple(c2, reduce, base), 1)
        out.append((c1, c2))
    return out


def base_grid_shapes(base_t: int, h0: int, w0: int, grid_channels: int, levels: int) -> list[tuple[int, int, int, int]]:
    """(T_i, h0, w0, C_i) of each base-grid level (level scale 2 in time, 0.5 in channels)."""
    return [(max(int(base_t / 2**i), 1), h0, w0, int(grid_channels / 0.5**i)) for i in range(levels)]


def local_grid_shapes(frames: int, stage: int, scale: int, enc_channels: int, levels: int) -> list[tuple[int, int]]:
    """(T_j, s*s*C_j) of each temporal-local grid level of a stage (the official cfg
    `--enc-grid-size -1 C_e --enc-grid-level-scale 2 0.5 --enc-grid-depth-scale 1 0.5`). The
    official code gives 0 frames to a level when the clip has fewer than 2^j frames; here at least 1."""
    c_stage = max(int(enc_channels * 0.5**stage), 1)
    return [(max(int(frames / 2**j), 1), scale * scale * int(c_stage / 0.5**j)) for j in range(levels)]


def hinerv_params(cfg: dict[str, Any]) -> dict[str, int]:
    """Exact stored-parameter count of a planned config, by part."""
    strides, depths, exps, kernels = cfg["strides"], cfg["depths"], cfg["exps"], cfg["kernels"]
    s_total = math.prod(strides)
    h0, w0 = cfg["height"] // s_total, cfg["width"] // s_total
    base = base_grid_shapes(cfg["base_t"], h0, w0, cfg["grid_channels"], cfg["base_levels"])
    base_params = sum(t * h * w * c for t, h, w, c in base)
    base_channels = sum(c for *_, c in base)
    k0 = cfg["stem_kernel"]
    stem = base_channels * cfg["channels"] * k0 * k0 + cfg["channels"]
    local = linear = blocks = 0
    widths = stage_widths(cfg["channels"], len(strides), cfg["reduce"])
    for i, ((c1, c2), s, d, e, k) in enumerate(zip(widths, strides, depths, exps, kernels)):
        grids = local_grid_shapes(cfg["frames"], i, s, cfg["enc_channels"], cfg["enc_levels"])
        local += sum(t * n for t, n in grids)
        linear += sum(n // (s * s) for _, n in grids) * c1 + c1
        hidden = int(c2 * e)
        for j in range(d):
            cin = c1 if j == 0 else c2
            blocks += cin * k * k + cin * hidden + hidden * c2
    head = widths[-1][1] * 3 + 3
    total = base_params + stem + local + linear + blocks + head
    return {"base_grid": base_params, "stem": stem, "local_grids": local, "local_linear": linear, "blocks": blocks,
            "head": head, "grids": base_params + local, "params": total}


def choose_strides(height: int, width: int) -> tuple[int, ...]:
    """Of the repository's stride sets whose product divides the frame, the one whose base grid
    is closest (in log-area) to the 18x32 that all its cfgs have."""
    fits = [s for s in REPO_STRIDES if height % math.prod(s) == 0 and width % math.prod(s) == 0]
    if not fits:
        raise NvbenchError(f"hinerv needs a frame size divisible by one of its stride products "
                           f"({', '.join(str(math.prod(s)) for s in REPO_STRIDES)}); {height}x{width} is not "
                           f"(e.g. --resolution {max(40, height // 40 * 40)}x{max(40, width // 40 * 40)}, "
                           f"or --set strides=...)")
    return min(fits, key=lambda s: abs(math.log(height * width / math.prod(s) ** 2 / (18 * 32))))


def patch_side(height: int, width: int, strides: tuple[int, ...]) -> int:
    """The training patch side the repository's cfgs use, 2S (UVG 120 for S = 60, Bunny 80 for
    S = 40), or S where 2S does not divide the frame."""
    s = math.prod(strides)
    return 2 * s if height % (2 * s) == 0 and width % (2 * s) == 0 else s


class HiNeRVMethod(MethodPlugin):
    name = "hinerv"
    model_class = "representations.hinerv_net:HiNeRV"
    decoder_class = "representations.hinerv_net:HiNeRVDecoder"
    compression_pipeline = "representations.hinerv_compress:hinerv_pipeline"
    file_decoder = "representations.hinerv_compress:load_file"  # its own .nvb layout (nvbench.compress.nvb)
    rd_knob = "bits"
    recipe = HINERV_RECIPE
    size_tolerance = (SIZE_TOLERANCE, 0.0)  # (below, above): never above the budget
    version = "1"
    description = ("HiNeRV: base feature grid + hierarchical temporal-local grids, ConvNeXt stages, "
                   "its own prune/Quant-Noise/per-channel quantisation pipeline")
    capabilities = frozenset({REPRESENTATION})
    index_normalisation = "t: linear interpolation of the time grids at (i + 0.5) * T_g / N - 0.5 (align_corners=False)"
    options: ClassVar[dict[str, Any]] = {
        "channels": 0,  # C; 0 = the largest width that fits the budget
        "grid_channels": 0,  # base-grid C_g; 0 = from the budget (the repository's 18 % grid share)
        "enc_channels": 0,  # local-grid C_e; 0 = 2 * C_g (as every repository cfg)
        "base_t": 0,  # base-grid frames T_g; 0 = frames / 4 (UVG cfgs: 150 of 600)
        "strides": [],  # empty: the repository's strides for the frame size
        "depths": [3, 3, 3, 1],
        "exps": [4.0, 4.0, 4.0, 1.0],
        "kernels": [3, 3, 3, 3],
        "stem_kernel": 3,
        "reduce": 2.0,
        "base_levels": 2,
        "enc_levels": 3,
        "patch": 0,  # training patch side; 0 = the repository's rule (2S, or S)
    }
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {
        "channels": (0, None), "grid_channels": (0, None), "enc_channels": (0, None), "base_t": (0, None),
        "strides": (1, None), "depths": (1, None), "exps": (0.25, None), "kernels": (1, None),
        "stem_kernel": (1, None), "reduce": (1.0, None), "base_levels": (1, 8), "enc_levels": (1, 8),
        "patch": (0, None),
    }
    option_types: ClassVar[dict[str, type]] = {"strides": int}

    @classmethod
    def plan(cls, frames: int, height: int, width: int, size: int | str, options: dict[str, Any]) -> dict:
        o = cls.resolve_options(options)
        strides = tuple(int(s) for s in o["strides"]) or choose_strides(height, width)
        n = len(strides)
        if not (len(o["depths"]) == len(o["exps"]) == len(o["kernels"]) == n):
            raise NvbenchError(f"hinerv: strides, depths, exps and kernels need one value per stage ({n} strides)")
        s_total = math.prod(strides)
        if height % s_total or width % s_total:
            raise NvbenchError(f"hinerv: strides {list(strides)} (product {s_total}) do not divide {height}x{width}")
        if any(k % 2 == 0 for k in o["kernels"]) or o["stem_kernel"] % 2 == 0:
            raise NvbenchError("hinerv: kernels must be odd")
        patch = int(o["patch"]) or patch_side(height, width, strides)
        if patch % s_total or height % patch or width % patch:
            raise NvbenchError(f"hinerv: patch {patch} must be a multiple of {s_total} that divides {height}x{width}")
        base = {
            "frames": frames, "height": height, "width": width, "strides": list(strides),
            "depths": [int(d) for d in o["depths"]], "exps": [float(e) for e in o["exps"]],
            "kernels": [int(k) for k in o["kernels"]], "stem_kernel": int(o["stem_kernel"]),
            "reduce": float(o["reduce"]), "base_levels": int(o["base_levels"]), "enc_levels": int(o["enc_levels"]),
            "base_t": int(o["base_t"]) or max(1, frames // 4), "patch": [patch, patch],
        }
        shape = f"{frames} frames of {height}x{width}"

        def config(channels: int, cg: int, ce: int) -> dict[str, Any]:
            cfg = {**base, "channels": channels, "grid_channels": cg, "enc_channels": ce}
            parts = hinerv_params(cfg)
            cfg["params_parts"] = parts
            cfg["params"] = parts["params"]
            return cfg

        cg_fixed, ce_fixed, c_fixed = int(o["grid_channels"]), int(o["enc_channels"]), int(o["channels"])
        if c_fixed and cg_fixed:  # a repository cfg given knob by knob: the budget does not choose
            return config(c_fixed, cg_fixed, ce_fixed or 2 * cg_fixed)
        floor_cfg = config(c_fixed or MIN_CHANNELS, cg_fixed or 1, ce_fixed or (2 * cg_fixed if cg_fixed else 1))
        if not isinstance(size, int) or size < floor_cfg["params"]:
            raise cls.size_error(size, floor_cfg["params"], shape)
        # the grid knobs: the largest C_g (powers of two, C_e = 2 C_g) whose grids keep the repo's share
        if cg_fixed:
            ladder = [(cg_fixed, ce_fixed or 2 * cg_fixed)]
        else:
            ladder = [(1, ce_fixed or 1)] + [(2**i, ce_fixed or 2 ** (i + 1)) for i in range(0, 12)]
        allowed = [(cg, ce) for cg, ce in ladder
                   if config(MIN_CHANNELS, cg, ce)["params_parts"]["grids"] <= GRID_SHARE * size] or ladder[:1]
        if c_fixed:
            cfg = config(c_fixed, *allowed[-1])
            if cfg["params"] > size:
                raise cls.size_error(size, cfg["params"], shape)
            return cfg
        # the two largest grid settings the share allows, each with the widest C that fits; the
        # closer to the budget wins (a width step is up to ~7 % of the parameters at C < 32)
        best = None
        for cg, ce in allowed[-2:]:
            cfg = cls._widest(config, cg, ce, size)
            if cfg is not None and (best is None or cfg["params"] > best["params"]):
                best = cfg
        if best is None:
            raise cls.size_error(size, floor_cfg["params"], shape)
        return best

    @staticmethod
    def _widest(config: Any, cg: int, ce: int, size: int) -> dict[str, Any] | None:
        """The config with the largest channels C whose parameters fit `size` (None: none fits)."""
        lo = MIN_CHANNELS
        if config(lo, cg, ce)["params"] > size:
            return None
        hi = lo * 2
        while config(hi, cg, ce)["params"] <= size:
            hi *= 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if config(mid, cg, ce)["params"] <= size:
                lo = mid
            else:
                hi = mid
        return config(lo, cg, ce)
