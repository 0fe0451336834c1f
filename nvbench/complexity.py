"""MACs per decoded pixel: the complexity axis of the report, in every record.

Counted on the model's own computation as `nvbench speed` counts FLOPs (torch's FlopCounterMode
over the exported decoder with autograd on, so decoding shortcuts such as
nvbench.nn.head_over_subpixel do not lower the count): multiply-accumulates of convolutions and
matrix products for one decoded frame, divided by its pixels (FlopCounterMode counts 2 FLOPs
per MAC; element-wise work is not counted). Codecs and anchors get no number and a reason. A
method may count its own (`macs_per_pixel(config)` classmethod, with `macs_reason`) where decoding
one frame alone does not show its cost (c3 decodes its latents with an entropy model).
"""

from __future__ import annotations

import json
from typing import Any

from nvbench.methods import ANCHOR, CODEC, REPRESENTATION

HOW = "decoder MACs of one frame decoded alone (conv + matmul, torch FlopCounterMode) / (H*W)"
_CACHE: dict[str, tuple[float | None, str]] = {}


def decoder_macs_per_pixel(method: Any, config: dict[str, Any], frames: int, height: int, width: int) -> float:
    """MACs per output pixel of decoding one frame with the method's exported decoder (random
    weights: the count depends only on the architecture). The global RNG state is left as it was."""
    import torch

    from nvbench.speed import flops_per_frame

    with torch.random.fork_rng(devices=[]):
        model = method.build(config).eval()
        with torch.no_grad():
            decoder = model.export(lambda i: torch.rand(len(i), 3, height, width)).eval()
        idx = torch.arange(min(1, frames))

        def run() -> None:
            with torch.enable_grad():
                decoder(idx)

        return flops_per_frame(run, len(idx)) / 2 / (height * width)


def complexity_fields(method: Any, config_of: Any, frames: int, height: int, width: int) -> dict[str, Any]:
    """{"macs_per_pixel": number or None, "macs_reason": why empty / how counted} for a record.
    `config_of()` gives the method's planned config (only called for representations)."""
    caps = getattr(method, "capabilities", frozenset())
    if REPRESENTATION not in caps:
        kind = "codec" if CODEC in caps else "anchor" if ANCHOR in caps else "method"
        return {"macs_per_pixel": None, "macs_reason": f"{kind} without a neural decoder nvbench runs: not counted"}
    try:
        config = config_of()
    except Exception as exc:  # an unplannable size: the record says why elsewhere
        return {"macs_per_pixel": None, "macs_reason": f"not counted: {exc}"}
    own = getattr(method, "macs_per_pixel", None)
    if callable(own):  # a method whose decoding the one-frame count misses (e.g. c3: an entropy model per latent)
        return {"macs_per_pixel": float(own(config)), "macs_reason": str(getattr(method, "macs_reason", "") or
                                                                          "the method's own count")}
    key = json.dumps([getattr(method, "name", str(method)), config, frames, height, width], sort_keys=True,
                     default=str)
    if key not in _CACHE:
        try:
            _CACHE[key] = (decoder_macs_per_pixel(method, config, frames, height, width), HOW)
        except Exception as exc:  # counting must never fail a job
            _CACHE[key] = (None, f"not counted: {type(exc).__name__}: {exc}")
    value, how = _CACHE[key]
    return {"macs_per_pixel": value, "macs_reason": how}
