"""A conventional per-video convolutional autoencoder: the baseline HNeRV contrasts itself with
(HNeRV paper §1/§3; HNeRV issue #1: "AE embeddings are huge").

Encoder (strided convs, not stored) -> a large spatial latent per frame (c x h x w, hundreds
to thousands of values where HNeRV keeps 128) -> a small decoder (3x3 conv, up-sampling blocks
conv3x3 -> PixelShuffle -> GELU of one width, 3x3 head, sigmoid). The budget is split: the
stored latents take about `latent_share` (half) of it, the decoder the rest.

Latent grid: the finest down-sampling P (a common divisor of H and W with prime factors <= 5)
at which `min_latent_channels` channels still fit the latent share; the channel count is then
as many as fit. Decoder width: the largest uniform width that fits the rest.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from nvbench.errors import NvbenchError
from nvbench.methods import HYBRID, REPRESENTATION, MethodPlugin
from nvbench.recipe import HNERV_RECIPE
from representations.sizing import gap_error, highest_budget, within
from representations.strides import prime_factors, split_strides


def ae_decoder_params(c_lat: int, width: int, strides) -> int:
    n = c_lat * width * 9 + width
    for s in strides:
        n += width * width * s * s * 9 + width * s * s
    return n + width * 3 * 9 + 3


def ae_grid_candidates(height: int, width: int, min_product: int) -> list[int]:
    """Down-sampling products P that divide both sides, have prime factors <= 5, finest first."""
    g = math.gcd(height, width)
    return [p for p in range(max(2, min_product), g + 1)
            if g % p == 0 and max(prime_factors(p)) <= 5]


def _top(lo: int, hi: int, n: int = 48) -> range:
    """The n largest channel counts in lo..hi (fewer channels leave more to the decoder; far fewer
    than the grid holds would no longer be 'about half the budget')."""
    return range(max(lo, hi - n + 1), hi + 1)


class AutoencoderMethod(MethodPlugin):
    name = "autoencoder"
    model_class = "representations.autoencoder_net:Autoencoder"
    decoder_class = "representations.autoencoder_net:AutoencoderDecoder"
    version = "1"
    description = ("per-video conv autoencoder: large spatial latent per frame (about half the budget), small "
                   "decoder; hybrid (the encoder is not stored)")
    capabilities = frozenset({REPRESENTATION, HYBRID})
    # HNeRV's recipe (L2, Adam(0.9, 0.999), lr 1e-3, batch 2, 10% warm-up + cosine): the autoencoder has
    # no paper of its own; it is HNeRV's foil, an encoder-decoder trained per video exactly like HNeRV.
    recipe = HNERV_RECIPE
    size_tolerance: ClassVar[tuple[float, float]] = (0.10, 0.0)  # the largest that fits, >= 90 % of the budget
    index_normalisation = "none (stored latents)"
    options: ClassVar[dict[str, Any]] = {
        "latent_share": 0.5,
        "min_latent_channels": 4,
        "min_product": 4,  # the latent grid is at least 4x coarser than the frame
        "max_stages": 5,
        "enc_dim": 64,
        "min_width": 4,
    }
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {
        "latent_share": (0.01, 0.99), "min_latent_channels": (1, None), "min_product": (1, None),
        "max_stages": (1, None), "enc_dim": (1, None), "min_width": (1, None),
    }

    @classmethod
    def plan(cls, frames: int, height: int, width: int, size: int | str, options: dict[str, Any]) -> dict:
        o = cls.resolve_options(options)
        shape = f"{frames} frames of {height}x{width}"
        cands = ae_grid_candidates(height, width, o["min_product"])
        if not cands:
            raise NvbenchError(f"autoencoder: {height}x{width} has no common down-sampling factor >= "
                               f"{o['min_product']} made of 2, 3 and 5")

        def strides_of(p: int) -> tuple[int, ...]:
            return split_strides(p, max(1, min(o["max_stages"], len(prime_factors(p)))))

        def floor_for(p: int) -> int:
            lat = frames * o["min_latent_channels"] * (height // p) * (width // p)
            dec = ae_decoder_params(o["min_latent_channels"], o["min_width"], strides_of(p))
            return max(math.ceil(lat / o["latent_share"]), lat + dec)

        floor = min(floor_for(p) for p in cands)  # the smallest model: min channels and width
        if isinstance(size, str):
            raise NvbenchError(f"{cls.name} has no named sizes; give a number of parameters (e.g. 94k)")
        if size < floor:
            raise cls.size_error(size, floor, shape)
        per_frame = int(o["latent_share"] * size) // frames
        tol = cls.size_tolerance

        def fill(p: int, c_lat: int) -> tuple[int, int]:
            """(decoder width, total) with the widest decoder that fits beside c_lat channels at grid p
            (width min_width even if it does not fit: the caller checks the total)."""
            hw, st = (height // p) * (width // p), strides_of(p)
            rest, lo, hi = size - frames * c_lat * hw, o["min_width"], o["min_width"] + 1
            while ae_decoder_params(c_lat, hi, st) <= rest:
                lo, hi = hi, hi * 2
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if ae_decoder_params(c_lat, mid, st) <= rest else (lo, mid)
            return lo, frames * c_lat * hw + ae_decoder_params(c_lat, lo, st)

        for p in cands:
            h, w = height // p, width // p
            if o["min_latent_channels"] * h * w <= per_frame and size >= floor_for(p):
                break
        else:  # only reachable through the latent share rounding; the floor covers it
            raise cls.size_error(size, floor, shape)
        c_lat = per_frame // (h * w)
        dec_w, total = fill(p, c_lat)
        if not within(total, size, tol):
            # the decoder width steps by more than the tolerance at small sizes: fewer latent channels
            # (or a coarser grid) with a wider decoder, the largest total that fits
            options_ = [(fill(q, c), -i, q, c) for i, q in enumerate(cands)
                        for c in _top(o["min_latent_channels"], per_frame // ((height // q) * (width // q)))]
            fits = [(t, -i, q, c, dw) for (dw, t), i, q, c in options_ if t <= size]
            if not fits or not within(max(fits)[0], size, tol):  # between two small models
                raise gap_error(cls, size, shape, highest_budget(max(fits)[0], tol) if fits else floor, None)
            total, _, p, c_lat, dec_w = max(fits)
            h, w = height // p, width // p
        strides = strides_of(p)
        latents = frames * c_lat * h * w
        decoder = ae_decoder_params(c_lat, dec_w, strides)
        return {
            "frames": frames, "height": height, "width": width,
            "latent_channels": c_lat, "latent_hw": [h, w], "latent_per_frame": c_lat * h * w,
            "strides": list(strides), "enc_dim": o["enc_dim"], "dec_width": dec_w,
            "params_latents": latents, "params_decoder": decoder,
            "latent_fraction": round(latents / (latents + decoder), 4),
            "params": latents + decoder,
        }
