"""A third-party method: a tiny package with one class and one entry point, pip-installed into a
temporary target folder (so its entry point is real installed metadata), runs through
`nvbench run` in a subprocess without any change to nvbench."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "nvbench-toy-method"
version = "0.1"

[project.entry-points."nvbench.methods"]
toy = "nvbench_toy:ToyMethod"
"""

# The README's "Adding a method" example, verbatim.
MODULE = '''\
"""A toy index-based representation: a learned 8x16 grid per frame, up-sampled by one conv."""
from nvbench.methods import REPRESENTATION, MethodPlugin
from nvbench.recipe import HNERV_RECIPE


class ToyMethod(MethodPlugin):
    name = "toy"
    description = "toy: a learned low-resolution grid per frame + one up-sampling conv"
    capabilities = frozenset({REPRESENTATION})
    recipe = HNERV_RECIPE

    @classmethod
    def plan(cls, frames, height, width, size, options):
        grid = frames * 4 * 8 * 16          # stored: 4 x 8 x 16 values per frame
        params = grid + 4 * 3 * 9 + 3       # + a 3x3 conv 4 -> 3
        if not isinstance(size, int) or size < params:
            raise cls.size_error(size, params, f"{frames} frames")
        return {"frames": frames, "height": height, "width": width, "params": params}

    @classmethod
    def build(cls, config):
        import torch
        from torch import nn
        from nvbench.nn import Decoder, NeuralRepresentation

        class ToyDecoder(Decoder):
            def __init__(self, config):
                super().__init__(config)
                self.grid = nn.Parameter(torch.zeros(config["frames"], 4, 8, 16))
                self.conv = nn.Conv2d(4, 3, 3, padding=1)

            def forward(self, idx):
                x = nn.functional.interpolate(self.grid[idx], size=(self.config["height"], self.config["width"]),
                                              mode="bilinear", align_corners=False)
                return torch.sigmoid(self.conv(x))

        class Toy(NeuralRepresentation):
            interpolation_variants = ("index",)

            def __init__(self, config):
                super().__init__(config)
                self.dec = ToyDecoder(config)

            def forward(self, idx, frames=None):
                return self.dec(idx)

            def export(self, frames_of=None):
                return self.dec

        return Toy(config)

    @classmethod
    def build_decoder(cls, config):
        return cls.build(config).dec
'''


def test_third_party_method_runs_through_the_cli(tmp_path: Path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "nvbench_toy.py").write_text(MODULE)
    site = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "--target", str(site), str(pkg)],
        capture_output=True, text=True,
    )
    assert pip.returncode == 0, pip.stderr
    assert list(site.glob("nvbench_toy_method-0.1.dist-info/entry_points.txt"))  # real installed metadata

    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    script = Path(sys.executable).with_name("nvbench")
    nvbench = [str(script)] if script.is_file() else [sys.executable, "-m", "nvbench.cli"]
    listed = subprocess.run(nvbench + ["list"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "toy" in listed.stdout and "learned low-resolution grid" in listed.stdout

    results = tmp_path / "results"
    run = subprocess.run(nvbench + ["run", "--method", "toy", "--preset", "smoke", "--results", str(results)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    (job,) = list((results / "jobs").glob("*.json"))
    (rec,) = json.loads(job.read_text())["records"]
    assert rec["method"] == "toy" and rec["status"] == "ok", rec
    assert rec["params"] == 8 * 4 * 8 * 16 + 4 * 3 * 9 + 3
    assert rec["recipe"] == "hnerv" and rec["psnr"] > 5
    # the plugin module was never part of nvbench: it is importable only through PYTHONPATH
    assert not (Path(__file__).resolve().parents[1] / "nvbench_toy.py").exists()
