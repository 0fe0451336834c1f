"""C3 (Kim et al., CVPR 2024): an overfitted neural codec per patch of frames: latent grids, a tiny
synthesis network and an autoregressive entropy model, trained on MSE + lambda * rate.

The plugin is light (no torch at import). The network is representations.c3_net, the real file
(range-coded latents and weights in one .nvb) representations.c3_codec and the compression
pipeline (a lambda sweep, one training run per point) representations.c3_compress. C3 takes no
`--size`: lambda sets its rate. Protocol and deviations: docs/methods/c3.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from nvbench.methods import REPRESENTATION, MethodPlugin
from nvbench.recipe import Recipe

#: the repository's patch (configs/uvg.py: 30 frames of 180x240 at 1080x1920)
REPO_PATCH = (30, 180, 240)
#: the repository's schedule: 100k noise steps then up to 10k straight-through steps
REPO_STEPS = 110_000
NOISE_FRACTION = 100_000 / REPO_STEPS


@dataclass(frozen=True)
class C3Recipe(Recipe):
    """Adam, lr cosine from 1e-2 to 0 over the noise phase, then a constant 1e-4 in the
    straight-through phase; global gradient norm clipped at 1e-2 (configs/uvg.py)."""

    noise_fraction: float = NOISE_FRACTION
    ste_lr: float = 1e-4
    grad_clip: float = 1e-2

    def lr_at(self, progress: float) -> float:
        p = min(max(progress, 0.0), 1.0)
        if p >= self.noise_fraction:
            return self.ste_lr
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * p / self.noise_fraction))


#: one step is one pass over every frame (the batch is the whole video: each patch is fitted whole)
C3_RECIPE = C3Recipe("c3", loss="l2", lr=1e-2, betas=(0.9, 0.999), warmup=0.0, batch_size=1 << 20)


def nearest_divisor(n: int, target: int) -> int:
    """The divisor of n closest to target (the larger on a tie), so patches tile n exactly."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), -d))


def choose_patch(frames: int, height: int, width: int, target: tuple[int, int, int] = REPO_PATCH) -> list[int]:
    return [nearest_divisor(n, t) for n, t in zip((frames, height, width), target)]


class C3Method(MethodPlugin):
    name = "c3"
    model_class = "representations.c3_net:C3"
    decoder_class = "representations.c3_net:C3Decoder"
    version = "1"
    description = ("C3: per-patch latent grids + 1x1 synthesis with residual 3x3x3 convs + causal 5x5x5 "
                   "autoregressive Laplace entropy model; MSE + lambda*rate; range-coded .nvb")
    capabilities = frozenset({REPRESENTATION})
    recipe = C3_RECIPE
    index_normalisation = "none (frames are decoded from their patch's latents)"
    #: the runner gives C3 no size: lambda sets its rate (as a codec's quality does)
    takes_size: ClassVar[bool] = False
    #: what its RD points sweep (recorded in every point)
    rd_knob: ClassVar[str] = "lambda"
    #: its own compression pipeline and its own .nvb reader ("module:function", imported lazily)
    compression_pipeline: ClassVar[str] = "representations.c3_compress:compress"
    file_decoder: ClassVar[str] = "representations.c3_codec:decoder_from_file"
    options: ClassVar[dict[str, Any]] = {
        "lambda": 1e-3,  # rd_weight of the single-model tasks (configs/uvg.py)
        "lambdas": [],  # the compression task's sweep; empty: 1e-2, 3e-3, 1e-3, 3e-4
        "patch": list(REPO_PATCH),  # target (frames, height, width); the divisors nearest to it are used
        "num_grids": 5,
        "synthesis_widths": [12, 12],
        "entropy_widths": [12, 12],
        "qstep_search": "grid",  # weight/bias q-steps: C3's 7x7 grid, or coordinate-wise (13 of the 49 pairs)
    }
    option_choices: ClassVar[dict[str, tuple[str, ...]]] = {"qstep_search": ("grid", "coordinate")}
    option_types: ClassVar[dict[str, type]] = {"lambdas": float}
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {
        "lambda": (0.0, None), "lambdas": (0.0, None), "patch": (1, None), "num_grids": (1, 8),
        "synthesis_widths": (1, 256), "entropy_widths": (1, 256),
    }
    default_lambdas: ClassVar[tuple[float, ...]] = (1e-2, 3e-3, 1e-3, 3e-4)

    @classmethod
    def lambdas(cls, options: dict[str, Any]) -> list[float]:
        o = cls.resolve_options(options)
        return [float(x) for x in (o["lambdas"] or cls.default_lambdas)]

    @classmethod
    def plan(cls, frames: int, height: int, width: int, size: int | str | None, options: dict[str, Any]) -> dict:
        o = cls.resolve_options(options)
        target = tuple(int(x) for x in o["patch"])
        if len(target) != 3:
            from nvbench.errors import NvbenchError

            raise NvbenchError(f"c3: patch={list(target)} must be three numbers: frames, height, width")
        patch = choose_patch(frames, height, width, target)  # type: ignore[arg-type]
        count = (frames // patch[0]) * (height // patch[1]) * (width // patch[2])
        config = {
            "frames": frames, "height": height, "width": width, "patch": patch, "patches": count,
            "patching": (f"{count} patch(es) of {patch[0]} frames x {patch[1]}x{patch[2]} (the divisors nearest "
                         f"the target {target[0]}x{target[1]}x{target[2]}), covering the whole video"),
            "num_grids": int(o["num_grids"]), "synthesis_widths": [int(x) for x in o["synthesis_widths"]],
            "entropy_widths": [int(x) for x in o["entropy_widths"]], "lambda": float(o["lambda"]),
            "noise_fraction": C3_RECIPE.noise_fraction,
        }
        config.update(parameter_counts(config))
        return config

    macs_reason: ClassVar[str] = ("C3's count (its utils/macs.py): synthesis incl. the residual Conv3D, the entropy "
                                  "model once per latent with only the 62 causal taps of its masked 5x5x5 Conv3D, "
                                  "trilinear up-sampling 16 per grid after the first")

    @classmethod
    def macs_per_pixel(cls, config: dict[str, Any]) -> float:
        return macs_per_pixel(config)["total"]


def _grid_shapes(config: dict[str, Any]) -> list[tuple[int, ...]]:
    return [tuple(int(math.ceil(s / 2**i)) for s in config["patch"]) for i in range(config["num_grids"])]


def network_parameters(config: dict[str, Any]) -> dict[str, int]:
    """Stored weights of one patch's synthesis and entropy networks (the entropy model's first
    layer stores only its 62 causal taps)."""
    g, sw, ew = config["num_grids"], config["synthesis_widths"], config["entropy_widths"]
    dims = [g, *sw, 3]
    synthesis = sum(i * o + o for i, o in zip(dims[:-1], dims[1:])) + 2 * (3 * 81 + 3)
    edims = [*ew, 2]
    entropy = ew[0] * 62 + ew[0] + sum(i * o + o for i, o in zip(edims[:-1], edims[1:]))
    return {"synthesis": synthesis, "entropy": entropy}


def parameter_counts(config: dict[str, Any]) -> dict[str, int]:
    latents = sum(math.prod(s) for s in _grid_shapes(config))
    nets = network_parameters(config)
    n = config["patches"]
    return {"params_latents": n * latents, "params_synthesis": n * nets["synthesis"],
            "params_entropy": n * nets["entropy"], "params": n * (latents + nets["synthesis"] + nets["entropy"])}


def macs_per_pixel(config: dict[str, Any]) -> dict[str, float]:
    """Decoding MACs per pixel as C3's utils/macs.py counts them: the synthesis (1x1 layers and
    the residual 3x3x3 Conv3D), the entropy model run once per latent (only the causal taps of its
    masked 5x5x5 Conv3D: 62 per output channel) and the trilinear up-sampling (16 per grid
    after the first)."""
    g, sw, ew = config["num_grids"], config["synthesis_widths"], config["entropy_widths"]
    dims = [g, *sw, 3]
    synthesis = sum(i * o for i, o in zip(dims[:-1], dims[1:])) + 2 * 27 * 3 * 3
    edims = [62, *ew, 2]
    per_latent = sum(i * o for i, o in zip(edims[:-1], edims[1:]))
    pixels = math.prod(config["patch"])
    latents_per_pixel = sum(math.prod(s) for s in _grid_shapes(config)) / pixels
    entropy = per_latent * latents_per_pixel
    interpolation = 16 * (g - 1)
    return {"synthesis": float(synthesis), "entropy_model": entropy, "interpolation": float(interpolation),
            "total_no_interpolation": synthesis + entropy, "total": synthesis + entropy + interpolation}
