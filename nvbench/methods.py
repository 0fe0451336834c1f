"""The method protocol: what a task may ask of a method, declared as capabilities.

A method plugin is a light class (no torch at import) that the registry loads from the
`nvbench.methods` entry points. Tasks never ask for a method by name; they check
`capabilities` and record "not applicable" with the reason when one is missing.
"""

from __future__ import annotations

from typing import Any, ClassVar

from nvbench.errors import SizeError, UnknownNameError
from nvbench.presets import format_size
from nvbench.recipe import Recipe
from nvbench.records.catalogue import Metric

# Capabilities a method can declare.
REPRESENTATION = "representation"  # trainable: build for a shape and size, map indices (+frames) to frames
HYBRID = "hybrid"  # needs the frames at encode time (an encoder that is not stored); see build_model
CODEC = "codec"  # encode frames at a quality to bytes, decode bytes to frames
ANCHOR = "anchor"  # a non-learned reference method
INTERPOLATE = "interpolate"  # produces a held-out frame from its neighbours (interpolation anchors)
INPAINT = "inpaint"  # fills masked pixels of a frame without training (inpainting anchors)



def build_model(method: Any, config: dict) -> Any:
    """`method.build(config)` with the declared capabilities applied: the module's `hybrid` (the
    training loop and the benches pass the frames to forward when it is true) is whether the method
    declares HYBRID — the capability is the one place that says so, whatever the module's class says."""
    model = method.build(config)
    model.hybrid = method.has(HYBRID)
    return model

class MethodPlugin:
    """Base class of every method plugin (representations, codecs, anchors)."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    requires: ClassVar[tuple[str, ...]] = ()  # import names of optional dependencies
    install_hint: ClassVar[str] = ""
    recipe: ClassVar[Recipe | None] = None  # the method's own (paper) training recipe
    options: ClassVar[dict[str, Any]] = {}  # defaults of the options `--set KEY=VALUE` may change
    #: declarations beside the defaults (nvbench/options.py): allowed values, inclusive (lo, hi)
    #: ranges (None = open; list options: each item) and the item type of list options
    option_choices: ClassVar[dict[str, tuple[Any, ...]]] = {}
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {}
    option_types: ClassVar[dict[str, type]] = {}
    index_normalisation: ClassVar[str] = ""  # how frame indices map to t, e.g. "i/N"
    #: metrics the method writes beyond the catalogue's built-ins (nvbench.records.catalogue.Metric);
    #: registered when the registry loads the class, so tables, compare and the report show them
    metrics: ClassVar[tuple[Metric, ...]] = ()
    #: REPRESENTATION with a size: (below, above) fractions; plan()'s `params` lie within
    #: budget*(1-below) .. budget*(1+above), or plan() raises a SizeError naming the method's true floor
    #: (below it) or the reachable sizes around the budget (representations/sizing.py; swept for every
    #: method by tests/test_size_sweep.py). A method without a size declares `takes_size = False`.
    size_tolerance: ClassVar[tuple[float, float]] = (0.10, 0.10)

    @classmethod
    def has(cls, capability: str) -> bool:
        return capability in cls.capabilities

    @classmethod
    def resolve_options(cls, overrides: dict[str, Any] | None) -> dict[str, Any]:
        """Defaults updated by user overrides, each checked against the known option names and
        its declaration (type, range, choices) and converted to the default's type."""
        opts = dict(cls.options)
        for key, value in (overrides or {}).items():
            opts[key] = cls.coerce_option(key, value)
        return opts

    @classmethod
    def coerce_option(cls, key: str, value: Any) -> Any:
        """One option value, parsed and checked; OptionError names what is allowed."""
        from nvbench.options import check_option

        if key not in cls.options:
            raise UnknownNameError(f"option of {cls.name}", key, cls.options)
        return check_option(cls.name, key, value, cls.options[key], cls.option_choices.get(key),
                            cls.option_ranges.get(key), cls.option_types)

    # Representations -------------------------------------------------------------------
    @classmethod
    def plan(cls, frames: int, height: int, width: int, size: int | str, options: dict[str, Any]) -> dict:
        """The architecture for a video shape and a stored-parameter budget, in pure Python:
        a JSON-able config with at least `params` (stored parameters actually used). Raises
        SizeError naming the smallest size when the budget is too small."""
        raise NotImplementedError

    #: "module:Class" of the trainable torch module and of the decoder-only module; imported only
    #: when built, so the plugin class itself stays free of torch
    model_class: ClassVar[str] = ""
    decoder_class: ClassVar[str] = ""
    #: "module:function" of the method's own compression pipeline (takes a
    #: nvbench.compress.pipeline.PipelineRun, returns records); "" = the shared pipeline
    compression_pipeline: ClassVar[str] = ""
    #: what the method's RD points sweep: "bits" (NeRV family) or "lambda" (overfitted codecs)
    rd_knob: ClassVar[str] = "bits"

    @classmethod
    def build(cls, config: dict) -> Any:
        """The trainable torch module for a planned config (imports torch)."""
        if not cls.model_class:
            raise NotImplementedError(f"{cls.name} names no model_class")
        from nvbench.registry import import_object

        return import_object(cls.model_class)(config)

    @classmethod
    def build_decoder(cls, config: dict) -> Any:
        """An empty decoder-only module for a config, to load stored tensors into."""
        if not cls.decoder_class:
            raise NotImplementedError(f"{cls.name} names no decoder_class")
        from nvbench.registry import import_object

        return import_object(cls.decoder_class)(config)

    # Anchors (non-learned; numpy only) -------------------------------------------------------
    @classmethod
    def interpolate_frames(cls, before: Any, after: Any, weight_after: Any, options: dict[str, Any]) -> Any:
        """INTERPOLATE: frames between two trained neighbours. before/after: uint8 (B,H,W,3);
        weight_after: (B,) position of the held-out frame between them in [0,1] (0.5 for
        every-other-frame). Returns float32 (B,H,W,3) in [0,1]."""
        raise NotImplementedError

    @classmethod
    def inpaint_frames(cls, masked: Any, masks: Any, options: dict[str, Any]) -> Any:
        """INPAINT: fill the masked pixels. masked: uint8 (B,H,W,3) with masked pixels 0;
        masks: bool (B,H,W), True where a pixel is missing. Returns float32 (B,H,W,3) in [0,1]."""
        raise NotImplementedError

    # Codecs (CODEC): frames -> real bitstream -> frames ---------------------------------------
    #: what a quality value means, e.g. "CRF (lower = better)" or "CompressAI quality 1..8"
    quality_name: ClassVar[str] = "quality"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why the method cannot run here (e.g. missing weights), with the fix; None = fine."""
        return None

    @classmethod
    def qualities(cls, preset: str, options: dict[str, Any]) -> list[Any]:
        """CODEC: the quality ladder a compression run sweeps at this preset (from low to high
        rate is not required; every value gives one RD point)."""
        raise NotImplementedError

    @classmethod
    def encode(cls, frames: Any, quality: Any, workdir: Any, options: dict[str, Any], fps: float = 25.0) -> Any:
        """CODEC: uint8 RGB frames (T,H,W,3) -> the path of the real bitstream file written in
        `workdir` (its size is the rate)."""
        raise NotImplementedError

    @classmethod
    def decode(cls, bitstream: Any, shape: tuple[int, int, int], workdir: Any, options: dict[str, Any]) -> Any:
        """CODEC: the bitstream file -> `CodecOutput`-like object with `.rgb` uint8 (T,H,W,3)
        and optionally `.yuv` (Y, U, V) uint8 planes when the codec works in YUV 4:2:0."""
        raise NotImplementedError

    @classmethod
    def size_error(cls, size: int | str, floor: int, shape: str) -> SizeError:
        return SizeError(
            f"{cls.name} cannot reach a size of {format_size(size)} at {shape}: "
            f"its smallest size there is {format_size(floor)} ({floor} parameters)"
        )


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Kept for callers of the old helper: the value checked against its default's type only."""
    from nvbench.options import check_option

    return check_option("option", key, value, default)
