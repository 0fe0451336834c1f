"""Declared capabilities are the ones read: HYBRID (not a module attribute) decides whether the
training loop passes the frames to forward; ANCHOR decides the report's family."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nvbench import registry
from nvbench.methods import ANCHOR, CODEC, HYBRID, REPRESENTATION, MethodPlugin, build_model
from nvbench.nn import Decoder, NeuralRepresentation
from nvbench.recipe import HNERV_RECIPE


class _Stored(Decoder):
    def __init__(self, config: dict[str, Any], frames: torch.Tensor):
        super().__init__(config)
        self.frames = nn.Parameter(frames.clone())

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.frames[idx]


class _NeedsFrames(NeuralRepresentation):
    """A hybrid module that does not say so itself (no `hybrid` attribute of its own)."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.conv = nn.Conv2d(3, 3, 1)
        self.calls_with_frames = 0

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        if frames is None:
            raise ValueError("forward got no frames: the HYBRID capability was not read")
        self.calls_with_frames += 1
        return torch.sigmoid(self.conv(frames))

    @torch.no_grad()
    def export(self, frames_of: Any = None) -> Decoder:
        idx = torch.arange(self.config["frames"])
        return _Stored(self.config, self.forward(idx, frames_of(idx)))


class _SaysHybridItself(_NeedsFrames):
    hybrid = True


class ToyHybrid(MethodPlugin):
    name = "toy-hybrid"
    description = "a 1x1 conv of the frames (hybrid: the frames are the encoder's input)"
    capabilities = frozenset({REPRESENTATION, HYBRID})
    recipe = HNERV_RECIPE

    @classmethod
    def plan(cls, frames: int, height: int, width: int, size: Any, options: dict[str, Any]) -> dict:
        return {"frames": frames, "height": height, "width": width, "params": frames * 3 * height * width}

    @classmethod
    def build(cls, config: dict) -> Any:
        return _NeedsFrames(config)


class ToyNotDeclared(ToyHybrid):
    name = "toy-not-declared"
    capabilities = frozenset({REPRESENTATION})

    @classmethod
    def build(cls, config: dict) -> Any:
        return _SaysHybridItself(config)


def test_build_model_takes_hybrid_from_the_capability():
    cfg = ToyHybrid.plan(2, 8, 16, None, {})
    assert build_model(ToyHybrid, cfg).hybrid is True  # the module's class default is False
    assert build_model(ToyNotDeclared, cfg).hybrid is False  # the module's own True does not count


def test_the_training_loop_passes_frames_to_a_declared_hybrid(tmp_path):
    from nvbench.cli import main
    from nvbench.results import Store

    registry.methods.register("toy-hybrid", "tests.test_capabilities:ToyHybrid")
    try:
        rc = main(["run", "-m", "toy-hybrid", "--preset", "smoke", "--epochs", "1", "--threads", "1",
                   "--results", str(tmp_path / "r"), "--quiet"])
    finally:
        del registry.methods._scan()["toy-hybrid"]
    assert rc == 0
    recs = Store(tmp_path / "r").records()
    assert [r["status"] for r in recs] == ["ok"] and recs[0]["psnr"] > 5


def test_anchor_capability_names_the_family():
    from nvbench.report.build import method_families

    fam = method_families({"x265", "neighbour-average", "hnerv"})
    assert fam == {"x265": "codec", "neighbour-average": "anchor", "hnerv": "neural"}
    caps = {n: registry.methods.get(n).capabilities for n in fam}
    assert CODEC in caps["x265"] and ANCHOR in caps["neighbour-average"] and HYBRID in caps["hnerv"]
