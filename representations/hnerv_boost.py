"""HNeRV-Boost (Zhang et al., "Boosting Neural Representations for Videos with a Conditional
Decoder", CVPR 2024): HNeRV's ConvNeXt encoder and embeddings, and a conditional decoder.

The frame index t = (i+1)/N goes through a positional encoding (b = 1.25, l = 80, all sin then
all cos) and a sin MLP 160 -> 64 -> 32; that 32-d code drives a temporal affine transform
(x * (1 + scale(t)) + shift(t), "res_sft") twice inside a residual block after every decoder
block. Decoder blocks are conv -> PixelShuffle -> sin, 1, 1, 2, 2, 2 blocks per stage (the second
block of a stage keeps the resolution), kernels 1, 3, 3, 3, 3 (3x3 at most), channel reduction
1.2, lower width 12, a 3x3 head and 0.5*tanh+0.5 (the official scripts/regression/*/hnerv_boost.sh).

The stored representation is the decoder (time MLP, blocks, head) plus the embeddings; the
encoder only serves encoding and is not counted. `plan()` picks the largest first-stage width
c2 whose exact count fits the budget; `repo_fc_dim` is the official code's own --modelsize
formula (which ignores the affine blocks, so a repo run at --modelsize 1.275 has 1.51M).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import HYBRID, REPRESENTATION, MethodPlugin
from nvbench.recipe import BOOST_RECIPE
from representations.hnerv import hnerv_kernels, hnerv_widths
from representations.sizing import around, gap_error, highest_budget, lowest_budget, within
from representations.strides import split_strides

#: the official scripts' strides: product 80 (Bunny 720x1280 -> 9x16 grid) and 120 (UVG 1080x1920)
REPO_STRIDES = (5, 2, 2, 2, 2)


def boost_grid(height: int, width: int, strides: list[int] | tuple[int, ...] = ()) -> tuple[int, int, tuple[int, ...]]:
    """(gh, gw, strides). Given strides must divide the frame. Otherwise the repo's 5,2,2,2,2 where
    the frame is a whole number of 80-px cells (640x1280 -> 8x16, 160x320 -> 2x4, as the repo's
    720x1280 -> 9x16), else HNeRV's 2x4 grid with strides from its factorisation (40x80: 5,2,2,1,1)."""
    if strides:
        product = math.prod(strides)
        if height % product or width % product:
            raise NvbenchError(f"hnerv-boost: strides {list(strides)} do not divide {height}x{width}")
        return height // product, width // product, tuple(int(s) for s in strides)
    product = math.prod(REPO_STRIDES)
    if height % product == 0 and width % product == 0:
        return height // product, width // product, REPO_STRIDES
    if height % 2 or width % 4 or height // 2 != width // 4:
        raise NvbenchError(f"hnerv-boost needs a frame that is a whole number of 80-px cells or a 2x4 grid "
                           f"times one factor; {height}x{width} is neither (e.g. 160x320, 640x1280), "
                           f"or pass --set strides=...")
    return 2, 4, split_strides(height // 2)


def sft_res_params(c: int, t_dim: int) -> int:
    """One residual affine block on c channels: two affine layers (each two 1x1 MLPs t->t->c for
    scale and shift) and two 3x3 convs c->c."""
    sft = 2 * (t_dim * t_dim + t_dim) + 2 * (t_dim * c + c)
    return 2 * sft + 2 * (9 * c * c + c)


def boost_decoder_params(d: int, c2: int, strides, kernels, widths, blocks, t_dim: int, pe_levels: int,
                         head: bool = True) -> int:
    """Exact parameter count of the decoder: time MLP, 1x1 stem d->c2 with its affine block, the
    stages (first block up-samples, the others keep the size), optionally the 3x3 head."""
    n = (2 * pe_levels * 2 * t_dim + 2 * t_dim) + (2 * t_dim * t_dim + t_dim)  # MLP 2l -> 2t -> t
    n += d * c2 + c2 + sft_res_params(c2, t_dim)
    cin = c2
    for s, k, cout, nb in zip(strides, kernels, widths, blocks):
        for j in range(nb):
            up = s if j == 0 else 1
            n += cin * cout * up * up * k * k + cout * up * up + sft_res_params(cout, t_dim)
            cin = cout
    if head:
        n += cin * 3 * 9 + 3
    return n


def repo_fc_dim(modelsize_m: float, frames: int, height: int, width: int, strides, embed_dim: int = 16,
                kmin: int = 1, kmax: int = 5, reduce: float = 1.2) -> int:
    """The official train_nerv_all.py's fc_dim for --modelsize (millions): the largest root of
    a*x^2 + b*x - (size - embeddings), kernels min(1+2i, 5) and the stem budgeted as 3x3."""
    prod = math.prod(strides)
    embed_param = embed_dim * (height * width / prod**2) * frames
    rho = 1.0 / reduce
    a = rho * sum(rho ** (2 * i) * s * s * min(2 * i + kmin, kmax) ** 2 for i, s in enumerate(strides))
    b = embed_dim * 9
    D = modelsize_m * 1e6 - embed_param
    return int((-b + math.sqrt(b * b + 4 * a * D)) / (2 * a))


#: the repo's time-code width (--ch_t 32) and the first-stage width of its smallest config (Bunny
#: --modelsize 0.64: fc_dim 50)
REPO_T_DIM, REPO_SMALLEST_C2 = 32, 50


def auto_t_dim(c2: int) -> int:
    """32 (the repo's, at every repo size) from c2 = 50 up; below, the time code shrinks with c2 so
    that it is never wider relative to c2 than in the repo's smallest config (32/50). Without this,
    the 18 affine layers' fixed cost (~4*32^2 each) alone is over the cpu preset's 94k budget."""
    return max(1, min(REPO_T_DIM, round(c2 * REPO_T_DIM / REPO_SMALLEST_C2)))


class HNeRVBoostMethod(MethodPlugin):
    name = "hnerv-boost"
    model_class = "representations.hnerv_boost_net:HNeRVBoost"
    decoder_class = "representations.hnerv_boost_net:HNeRVBoostDecoder"
    version = "1"
    description = ("HNeRV-Boost: HNeRV with a frame-index-conditioned decoder (temporal affine blocks, sin, "
                   "1,1,2,2,2 blocks), its loss and Adan")
    capabilities = frozenset({REPRESENTATION, HYBRID})
    recipe = BOOST_RECIPE
    index_normalisation = "(i+1)/N (the time code; frames decode from their embeddings and t)"
    compression_pipeline = "representations.hnerv_boost_compress:compress"  # QAT + rate penalty (its own)
    rd_knob = "bits"
    options: ClassVar[dict[str, Any]] = {
        "embed_dim": 16,  # d (enc_dim 64_16)
        "enc_dim": 64,  # c1
        "strides": [],  # empty: the repo's 5,2,2,2,2 where it divides the frame (see boost_grid)
        "blocks": [1, 1, 2, 2, 2],  # decoder blocks per stage
        "kmin": 1,  # ks 0_1_5: kernel min(kmin + 2i, kmax) in the size formula ...
        "kmax": 5,
        "kcap": 3,  # ... and at most 3x3 in the built blocks (pshuffel_3x3)
        "reduce": 1.2,
        "lower_width": 12,
        "t_dim": 0,  # ch_t: the time code (MLP 2l -> 2*t_dim -> t_dim); 0 = auto (auto_t_dim)
        "pe_base": 1.25,  # embed pe_1.25_80
        "pe_levels": 80,
        "fc_dim": 0,  # c2; 0 = the largest that fits the size budget
        # its own compression pipeline (scripts/compression/hnerv_boost.sh); the bit depth is the
        # compression task's `bits` (default there: the repo's 8)
        "qat_epochs": -1,  # -1 = 100/300 of the training epochs (the repo's 100 after 300)
        "qat_lr": 5e-4,
        "qat_lambda": 0.05,  # lambda_rate
        "qat_target_bits": 4.0,  # target_bit: the penalty applies while the estimate exceeds this per parameter
    }
    option_ranges: ClassVar[dict[str, tuple]] = {
        "embed_dim": (1, None), "enc_dim": (1, None), "strides": (1, None), "blocks": (1, None),
        "kmin": (1, None), "kmax": (1, None), "kcap": (1, None), "reduce": (1.0, None),
        "lower_width": (1, None), "t_dim": (0, None), "pe_base": (1.0, None), "pe_levels": (1, None),
        "fc_dim": (0, None), "qat_epochs": (-1, None), "qat_lr": (0.0, None), "qat_lambda": (0.0, None),
        "qat_target_bits": (0.0, None),
    }
    option_types: ClassVar[dict[str, type]] = {"strides": int}

    @classmethod
    def plan(cls, frames: int, height: int, width: int, size: int | str, options: dict[str, Any]) -> dict:
        o = cls.resolve_options(options)
        gh, gw, strides = boost_grid(height, width, o["strides"])
        if len(o["blocks"]) != len(strides):
            raise NvbenchError(f"hnerv-boost: blocks={o['blocks']} needs one entry per stride {list(strides)}")
        d = o["embed_dim"]
        kernels = [min(k, o["kcap"]) for k in hnerv_kernels(len(strides), o["kmin"], o["kmax"])]
        embed_param = d * gh * gw * frames

        def t_of(c2: int) -> int:
            return int(o["t_dim"]) or auto_t_dim(c2)

        def widths_of(c2: int) -> list[int]:
            # below c2 = lower width (12) the lower width follows c2: small budgets (the smoke
            # preset) get a decoder c2 wide throughout; the repo never goes there
            return hnerv_widths(c2, len(strides), o["reduce"], min(o["lower_width"], c2))

        def count(c2: int) -> int:
            widths = widths_of(c2)
            return embed_param + boost_decoder_params(d, c2, strides, kernels, widths, o["blocks"], t_of(c2),
                                                      o["pe_levels"])

        shape = f"{frames} frames of {height}x{width}"
        tol = cls.size_tolerance
        if o["fc_dim"]:
            c2 = int(o["fc_dim"])
        else:
            floor = lowest_budget(count(1), tol)
            if not isinstance(size, int) or size < floor:
                raise cls.size_error(size, floor, shape)
            # the largest network within budget when it is within tolerance, else the next one up
            lo, hi = around(count, 1, size) if count(1) <= size else (None, 1)
            if lo is not None and within(count(lo), size, tol):
                c2 = lo
            elif within(count(hi), size, tol):
                c2 = hi
            else:  # small networks step coarsely (c2 12 -> 13 at 160x320 adds 15 %)
                raise gap_error(cls, size, shape, highest_budget(count(lo), tol), lowest_budget(count(hi), tol))
        widths = widths_of(c2)
        t_dim = t_of(c2)
        decoder = boost_decoder_params(d, c2, strides, kernels, widths, o["blocks"], t_dim, o["pe_levels"])
        return {
            "frames": frames,
            "height": height,
            "width": width,
            "embed_dim": d,
            "embed_hw": [gh, gw],
            "enc_dim": o["enc_dim"],
            "strides": list(strides),
            "kernels": kernels,
            "blocks": list(o["blocks"]),
            "c2": c2,
            "widths": widths,
            "t_dim": t_dim,
            "pe_base": float(o["pe_base"]),
            "pe_levels": int(o["pe_levels"]),
            "params_embed": embed_param,
            "params_decoder": decoder,
            "params": decoder + embed_param,
        }
