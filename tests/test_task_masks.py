"""Mask geometry and mask files of the inpainting task (numpy only, fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from nvbench.errors import FormatError, MissingDataError, NvbenchError
from nvbench.tasks.masks import build_masks, central_mask, disperse_mask, disperse_side, object_masks


def test_disperse_side_scales_with_height():
    assert disperse_side(480) == 50
    assert disperse_side(960) == 100
    assert disperse_side(160) == 17  # 50 * 160 / 480 = 16.7
    assert disperse_side(640) == 67


def test_disperse_boxes_at_paper_positions():
    m, side = disperse_mask(480, 960)
    assert side == 50
    assert m.sum() == 5 * 50 * 50
    # the official boxes: [c - 25, c + 25) around (h/2, w/2) and the quarter points
    for cy, cx in [(240, 480), (120, 240), (120, 720), (360, 240), (360, 720)]:
        assert m[cy - 25 : cy + 25, cx - 25 : cx + 25].all()
        assert not m[cy - 26, cx] and not m[cy + 25, cx]
    # the masked input's PSNR bound (docs/tasks.md, inpainting): MSE <= masked fraction
    assert -10 * math.log10(m.mean()) == pytest.approx(15.67, abs=0.01)


def test_central_box_is_a_quarter_of_each_side():
    m = central_mask(160, 320)
    ys, xs = np.nonzero(m)
    assert (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) == (60, 100, 120, 200)


def _write(folder, masks):
    folder.mkdir(exist_ok=True)
    for i, m in enumerate(masks):
        Image.fromarray(m.astype(np.uint8) * 255).save(folder / f"{i:05d}.png")


def test_object_masks_read_per_frame(tmp_path):
    masks = np.zeros((3, 40, 80), bool)
    masks[0, 5:10, 5:20] = True
    masks[2, 20:30, 40:60] = True
    _write(tmp_path / "m", masks)
    got = object_masks(tmp_path / "m", 3, 40, 80, truncated=False, native=None, crop=None, resolution=None)
    assert np.array_equal(got.frames([0, 1, 2]), masks)
    assert got.record_fields()["mask_fraction"] == pytest.approx(masks.mean(), abs=1e-6)


def test_object_masks_at_native_size_follow_the_frames_geometry(tmp_path):
    native = np.zeros((2, 48, 96), bool)
    native[:, 4:12, 8:16] = True  # inside the 40x80 centre crop: rows 0..8, cols 0..8 after crop
    _write(tmp_path / "m", native)
    got = object_masks(tmp_path / "m", 2, 20, 40, truncated=False, native=(48, 96), crop=(40, 80),
                       resolution=(20, 40))
    assert got.per_frame.shape == (2, 20, 40)
    ys, xs = np.nonzero(got.per_frame[0])
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (0, 3, 0, 3)


def test_object_masks_wrong_count_or_size_name_the_problem(tmp_path):
    _write(tmp_path / "few", np.zeros((2, 40, 80), bool))
    with pytest.raises(FormatError, match="2 mask images for 3 frames"):
        object_masks(tmp_path / "few", 3, 40, 80, truncated=False, native=None, crop=None, resolution=None)
    # more masks than frames is fine only when the run uses the first frames of the sequence
    object_masks(tmp_path / "few", 1, 40, 80, truncated=True, native=None, crop=None, resolution=None)
    with pytest.raises(FormatError, match="2 mask images for 1 frames"):
        object_masks(tmp_path / "few", 1, 40, 80, truncated=False, native=None, crop=None, resolution=None)
    _write(tmp_path / "size", np.zeros((3, 30, 80), bool))
    with pytest.raises(FormatError, match=r"00000.png: mask is 30x80, expected 40x80"):
        object_masks(tmp_path / "size", 3, 40, 80, truncated=False, native=None, crop=None, resolution=None)
    with pytest.raises(MissingDataError, match="does not exist"):
        object_masks(tmp_path / "nothing", 3, 40, 80, truncated=False, native=None, crop=None, resolution=None)
    with pytest.raises(NvbenchError, match="needs --set mask_dir"):
        build_masks({"mask": "object", "mask_dir": ""}, 3, 40, 80)
