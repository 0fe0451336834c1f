"""HiNeRV's size formula against the official code's own counts, and plan() against budgets.

The integers are `HiNeRV.get_num_parameters()['All']` of the official code (github hmkx/HiNeRV,
models/hinerv.py, built on the CPU from the repository's cfgs/models/*.txt at the cfgs' video
sizes), counted once with that code; Bunny XXS also part by part from its state_dict.
"""

from __future__ import annotations

import pytest

from nvbench.errors import SizeError
from representations.hinerv import SIZE_TOLERANCE, HiNeRVMethod, choose_strides, hinerv_params

# cfg: (channels, base-grid channels, local-grid channels, depths)
UVG = {  # 600 frames of 1080x1920, strides 5,3,2,2, base grid 150 frames
    "S": ((280, 2, 4, [3, 3, 3, 1]), 3_188_933),
    "M": ((400, 4, 8, [3, 3, 3, 1]), 6_489_553),
    "L": ((560, 8, 16, [3, 3, 3, 1]), 12_818_953),
    "XL": ((688, 16, 32, [4, 4, 4, 1]), 25_649_557),
    "XXL": ((864, 32, 64, [5, 5, 5, 1]), 50_726_919),
}
BUNNY = {  # 132 frames of 720x1280, strides 5,2,2,2, base grid 40 frames
    "XXS": ((136, 2, 4, [3, 3, 3, 1]), 766_691),
    "XS": ((196, 4, 8, [3, 3, 3, 1]), 1_585_666),
    "S": ((280, 8, 16, [3, 3, 3, 1]), 3_249_819),
}


def _opts(cfg, base_t, strides):
    c, cg, ce, depths = cfg
    return {"channels": c, "grid_channels": cg, "enc_channels": ce, "base_t": base_t, "strides": strides,
            "depths": depths}


@pytest.mark.parametrize("name", list(UVG))
def test_uvg_cfgs_match_the_official_count(name):
    cfg, official = UVG[name]
    assert HiNeRVMethod.plan(600, 1080, 1920, None, _opts(cfg, 150, [5, 3, 2, 2]))["params"] == official


@pytest.mark.parametrize("name", list(BUNNY))
def test_bunny_cfgs_match_the_official_count(name):
    cfg, official = BUNNY[name]
    assert HiNeRVMethod.plan(132, 720, 1280, None, _opts(cfg, 40, [5, 2, 2, 2]))["params"] == official


def test_bunny_xxs_part_by_part():
    """encoding.* / decoder.stem / decoder.blocks.*.1.enc.grids / .enc.linear / the ConvNeXt
    blocks / decoder.head of the official state_dict."""
    parts = HiNeRVMethod.plan(132, 720, 1280, None, _opts(BUNNY["XXS"][0], 40, [5, 2, 2, 2]))["params_parts"]
    assert {k: parts[k] for k in ("base_grid", "stem", "local_grids", "local_linear", "blocks", "head")} == {
        "base_grid": 92_160, "stem": 7_480, "local_grids": 45_936, "local_linear": 6_800, "blocks": 614_261,
        "head": 54}


def test_the_torch_model_stores_what_the_formula_counts():
    from representations.hinerv_net import HiNeRV

    for frames, h, w, size in ((8, 40, 80, 24_000), (12, 160, 320, 60_000)):
        cfg = HiNeRVMethod.plan(frames, h, w, size, {})
        dec = HiNeRV(cfg).export()
        assert dec.stored_parameters() == cfg["params"] == hinerv_params(cfg)["params"]


def test_strides_and_patches_the_repository_way():
    assert choose_strides(720, 1280) == (5, 2, 2, 2) and choose_strides(1080, 1920) == (5, 3, 2, 2)
    for (h, w), patch in (((40, 80), 40), ((160, 320), 80), ((640, 1280), 80)):
        cfg = HiNeRVMethod.plan(8, h, w, 10**6 if h > 100 else 24_000, {})
        assert cfg["strides"] == [5, 2, 2, 2] and cfg["patch"] == [patch, patch]


@pytest.mark.parametrize("shape", [(8, 40, 80), (132, 160, 320), (132, 640, 1280)])
def test_plan_meets_budgets_within_its_tolerance_or_names_its_floor(shape):
    frames, h, w = shape
    floor = None
    for i in range(0, 330, 3):
        size = int(5_000 * 1.03**i)
        try:
            cfg = HiNeRVMethod.plan(frames, h, w, size, {})
        except SizeError as exc:
            floor = int(str(exc).rsplit("(", 1)[1].split()[0])
            assert size < floor
            continue
        assert (1 - SIZE_TOLERANCE) * size <= cfg["params"] <= size, (size, cfg["params"])
        if floor is not None:  # the floor it named is reachable
            assert HiNeRVMethod.plan(frames, h, w, floor, {})["params"] == floor
            floor = None


def test_cpu_preset_plan_is_recorded():
    cfg = HiNeRVMethod.plan(132, 160, 320, 94_000, {})
    assert (cfg["params"], cfg["channels"], cfg["grid_channels"], cfg["enc_channels"], cfg["base_t"]) == (
        93_132, 47, 1, 1, 33)
