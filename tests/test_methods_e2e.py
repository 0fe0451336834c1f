"""Every new method trains through the one loop under its own recipe and under `--recipe shared`,
and the recipe lands in every record (smoke scale, 4 frames, 1 epoch)."""

from __future__ import annotations

import pytest

from nvbench.expand import RunRequest, expand
from nvbench.matrix import run_matrix
from nvbench.results import Store
from representations.autoencoder import AutoencoderMethod
from representations.enerv import ENeRVMethod
from representations.nerv import NeRVMethod
from representations.nerv_hnerv import NeRVHNeRVMethod

METHODS = {m.name: m for m in (NeRVMethod, NeRVHNeRVMethod, ENeRVMethod, AutoencoderMethod)}


@pytest.mark.parametrize("recipe", ["paper", "shared"])
def test_methods_run_with_both_recipes(tmp_path, recipe, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    req = RunRequest(methods=list(METHODS), preset="smoke", frames=4, epochs=1, recipe=recipe)
    jobs = expand(req)
    payloads = run_matrix(jobs, Store(tmp_path))
    assert len(payloads) == 4
    for p in payloads:
        (rec,) = p["records"]
        method = METHODS[rec["method"]]
        assert rec["status"] == "ok", rec
        assert rec["recipe"] == ("shared" if recipe == "shared" else method.recipe.name)
        cfg = method.plan(4, rec["height"], rec["width"], rec["size_target"], {})
        assert rec["params"] == cfg["params"] and rec.get("params_paper") == cfg.get("params_paper")
        assert 5 < rec["psnr"] < 60 and rec["decode_fps"] > 0
