"""HNeRV (Chen et al., CVPR 2023): ConvNeXt encoder -> 16x2x4 embedding per frame -> NeRV-like
decoder with kernels 1,3,5,5,5 and channel reduction r = 1.2 (docs/methods/hnerv.md).

The stored representation is the decoder (head included) plus the embeddings; the encoder
only serves encoding and is not counted.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import HYBRID, REPRESENTATION, MethodPlugin
from nvbench.recipe import HNERV_RECIPE
from representations.strides import split_strides


def hnerv_kernels(stages: int, kmin: int, kmax: int) -> list[int]:
    return [min(kmin + 2 * i, kmax) for i in range(stages)]


def hnerv_widths(c2: int, stages: int, reduce: float, lower_width: int) -> list[int]:
    widths, c = [], c2
    for _ in range(stages):
        c = int(max(round(c / reduce), lower_width))
        widths.append(c)
    return widths


def hnerv_decoder_params(d: int, c2: int, strides, kernels, widths, head: bool) -> int:
    """Exact parameter count: 1x1 conv d->c2, the blocks, optionally the 3x3 head."""
    n = d * c2 + c2
    cin = c2
    for s, k, cout in zip(strides, kernels, widths):
        n += cin * cout * s * s * k * k + cout * s * s
        cin = cout
    if head:
        n += cin * 3 * 9 + 3
    return n


def hnerv_fc_dim(budget: int, embed_param: int, d: int, strides, kernels, reduce: float) -> int:
    """c2 from HNeRV's quadratic a*x^2 + b*x - D = 0 (first layer budgeted as 3x3; docs/methods/hnerv.md)."""
    rho = 1.0 / reduce
    a = rho * sum(rho ** (2 * i) * s * s * k * k for i, (s, k) in enumerate(zip(strides, kernels)))
    b = d * 9
    D = budget - embed_param
    root = (-b + math.sqrt(b * b + 4 * a * D)) / (2 * a) if D > 0 else 0.0
    return int(math.floor(root))


class HNeRVMethod(MethodPlugin):
    name = "hnerv"
    model_class = "representations.hnerv_net:HNeRV"
    decoder_class = "representations.hnerv_net:HNeRVDecoder"
    version = "1"
    description = "HNeRV: hybrid neural representation (ConvNeXt encoder, 16x2x4 embeddings, r=1.2 decoder)"
    capabilities = frozenset({REPRESENTATION, HYBRID})
    recipe = HNERV_RECIPE
    index_normalisation = "i/N (only used for bookkeeping: HNeRV decodes from embeddings)"
    options: ClassVar[dict[str, Any]] = {
        "embed_dim": 16,  # d
        "embed_hw": [2, 4],  # embedding grid (h, w)
        "enc_dim": 64,  # c1
        "kmin": 1,
        "kmax": 5,
        "reduce": 1.2,
        "lower_width": 12,
        "strides": [],  # empty: chosen from the frame size so that the grid is embed_hw
    }
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {
        "embed_dim": (1, None), "embed_hw": (1, None), "enc_dim": (1, None), "kmin": (1, None), "kmax": (1, None),
        "reduce": (1.0, None), "lower_width": (1, None), "strides": (1, None),
    }
    option_types: ClassVar[dict[str, type]] = {"strides": int}

    @classmethod
    def plan(cls, frames: int, height: int, width: int, size: int | str, options: dict[str, Any]) -> dict:
        o = cls.resolve_options(options)
        d, (gh, gw) = o["embed_dim"], o["embed_hw"]
        if height % gh or width % gw or height // gh != width // gw:
            raise NvbenchError(
                f"hnerv needs a frame size that is its {gh}x{gw} embedding grid times one factor; "
                f"{height}x{width} is not (try e.g. {gh * 80}x{gw * 80})"
            )
        product = height // gh
        strides = tuple(o["strides"]) or split_strides(product)
        if math.prod(strides) != product:
            raise ValueError(f"strides {strides} do not multiply to {product} for {height}x{width}")
        kernels = hnerv_kernels(len(strides), o["kmin"], o["kmax"])
        embed_param = d * gh * gw * frames
        floor_c2 = o["lower_width"]
        rho = 1.0 / o["reduce"]
        a = rho * sum(rho ** (2 * i) * s * s * k * k for i, (s, k) in enumerate(zip(strides, kernels)))
        floor = int(math.ceil(embed_param + a * floor_c2**2 + d * 9 * floor_c2))
        shape = f"{frames} frames of {height}x{width}"
        if not isinstance(size, int):
            raise cls.size_error(size, floor, shape)
        c2 = hnerv_fc_dim(size, embed_param, d, strides, kernels, o["reduce"])
        if c2 < floor_c2:
            raise cls.size_error(size, floor, shape)
        widths = hnerv_widths(c2, len(strides), o["reduce"], o["lower_width"])
        decoder = hnerv_decoder_params(d, c2, strides, kernels, widths, head=True)
        return {
            "frames": frames,
            "height": height,
            "width": width,
            "embed_dim": d,
            "embed_hw": [gh, gw],
            "enc_dim": o["enc_dim"],
            "strides": list(strides),
            "kernels": kernels,
            "c2": c2,
            "widths": widths,
            "params_embed": embed_param,
            "params_decoder": decoder,
            "params_paper": hnerv_decoder_params(d, c2, strides, kernels, widths, head=False) + embed_param,
            "params": decoder + embed_param,
        }
