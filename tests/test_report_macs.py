"""macs_per_pixel in records: counted on the decoder's own computation for every built-in
representation (a hand-checkable toy, agreement with `nvbench speed`'s FLOP count), empty with a
reason for codecs and anchors, present in the records a real smoke job writes, and the RNG untouched."""

from __future__ import annotations

import pytest
import torch

from nvbench import registry
from nvbench.complexity import complexity_fields, decoder_macs_per_pixel
from nvbench.methods import REPRESENTATION
from nvbench.nn import Decoder, NeuralRepresentation

T, H, W, SIZE = 8, 40, 80, 24_000


def _representations() -> list[str]:
    out = []
    for name in registry.methods.names():
        try:
            m = registry.methods.get(name)
        except Exception:
            continue
        if REPRESENTATION in m.capabilities and getattr(m, "available", lambda: True)() is not False:
            out.append(name)
    return out


class _GridDecoder(Decoder):
    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.grid = torch.nn.Parameter(torch.zeros(1, 4, H, W))
        self.conv = torch.nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.conv(self.grid.expand(len(idx), -1, -1, -1)).sigmoid()


class _Grid(NeuralRepresentation):
    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self.dec = _GridDecoder(config)

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        return self.dec(idx)

    def export(self, frames_of: object = None) -> Decoder:
        return self.dec


class _ToyMethod:
    name = "toy-grid"
    capabilities = frozenset({REPRESENTATION})

    @staticmethod
    def build(config: dict) -> NeuralRepresentation:
        return _Grid(config)


def test_known_answer_one_conv() -> None:
    # a 3x3 conv 4 -> 3 channels with padding: 4 * 3 * 9 = 108 MACs per output pixel
    assert decoder_macs_per_pixel(_ToyMethod, {}, T, H, W) == pytest.approx(108.0)


@pytest.mark.parametrize("name", _representations())
def test_every_builtin_representation_counts(name: str) -> None:
    from nvbench.speed import MethodBench, flops_per_frame

    method = registry.methods.get(name)
    fields = complexity_fields(method, lambda: method.plan(T, H, W, SIZE, {}), T, H, W)
    macs = fields["macs_per_pixel"]
    assert isinstance(macs, float) and macs > 10, fields
    if callable(getattr(method, "macs_per_pixel", None)):  # a method that counts its own decoding (c3)
        assert macs == float(method.macs_per_pixel(method.plan(T, H, W, SIZE, {})))
        assert fields["macs_reason"] == str(getattr(method, "macs_reason", "") or "the method's own count")
        return
    # the same count `nvbench speed` makes (decode_as_trained) for a batch of one frame, per pixel
    bench = MethodBench.build(method, T, H, W, SIZE, batch_decode=1)
    assert macs == pytest.approx(flops_per_frame(bench.decode_as_trained, 1) / 2 / (H * W), rel=1e-9)


def test_codecs_and_anchors_empty_with_reason() -> None:
    for name in ("x265", "neighbour-average"):
        f = complexity_fields(registry.methods.get(name), lambda: pytest.fail("not planned"), T, H, W)
        assert f["macs_per_pixel"] is None and "not counted" in f["macs_reason"]


def test_rng_untouched_and_in_job_records(tmp_path) -> None:
    from nvbench.cli import main
    from nvbench.results import load

    torch.manual_seed(3)
    before = torch.rand(3)
    torch.manual_seed(3)
    method = registry.methods.get("nerv")
    complexity_fields(method, lambda: method.plan(T, H, W, 23_000, {}), T, H, W)
    assert torch.equal(torch.rand(3), before)
    assert main(["run", "-m", "nerv", "--task", "reconstruction", "--preset", "smoke", "--threads", "1",
                 "--results", str(tmp_path), "--quiet"]) == 0
    df = load(tmp_path)
    assert (df["macs_per_pixel"] > 10).all() and df["macs_reason"].str.contains("FlopCounterMode").all()
