"""Readers: raw YUV 4:2:0 with our BT.709 conversion (checked against ffmpeg), image folders,
video files, and the errors bad files give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _data_fixtures import ffmpeg_rgb, jpeg_bytes, make_yuv

from nvbench.data import readers
from nvbench.data.ffmpeg import decode_rgb
from nvbench.errors import FormatError, MissingDataError

H, W = 720, 1280


@pytest.fixture(scope="module")
def bunny_yuv(tmp_path_factory) -> Path:
    return make_yuv(tmp_path_factory.mktemp("yuv") / "bunny_1280x720_25fps_420_8bit_YUV.yuv", frames=4)


def ours(path: Path) -> np.ndarray:
    raw = readers.open_yuv420(path)
    return np.concatenate(list(readers.iter_yuv420_rgb(raw, H, W)))


def test_yuv_size_from_name():
    assert readers.yuv_size_from_name(Path("Beauty_1920x1080_120fps_420_8bit_YUV.yuv")) == (1080, 1920)
    assert readers.yuv_size_from_name(Path("clip.yuv")) is None


def test_bt709_matches_ffmpeg_with_the_matrix_named(bunny_yuv):
    """The issue's check: ffmpeg with the BT.709 matrix named explicitly (accurate rounding, full
    chroma interpolation), median difference 0 and mean below one level."""
    mine = ours(bunny_yuv).astype(np.int16)
    ref = ffmpeg_rgb(bunny_yuv, H, W, "scale=in_color_matrix=bt709:in_range=tv:flags=accurate_rnd+full_chroma_int")
    d = np.abs(mine - ref)
    assert mine.shape == ref.shape == (4, H, W, 3)
    assert np.median(d) == 0
    assert d.mean() < 1.0, d.mean()
    # our chroma filter is ffmpeg's bilinear one: then the two agree everywhere within rounding
    ref_bil = ffmpeg_rgb(bunny_yuv, H, W,
                         "scale=in_color_matrix=bt709:in_range=tv:flags=bilinear+accurate_rnd+full_chroma_int")
    d_bil = np.abs(mine - ref_bil)
    assert d_bil.max() <= 1 and d_bil.mean() < 0.02, (d_bil.max(), d_bil.mean())


def test_bt709_is_not_ffmpegs_bt601_default(bunny_yuv):
    """ffmpeg's default for untagged raw YUV (BT.601) gives visibly different colours."""
    mine = ours(bunny_yuv).astype(np.int16)
    bt601 = ffmpeg_rgb(bunny_yuv, H, W, "scale=flags=bilinear+accurate_rnd+full_chroma_int")
    bt709 = ffmpeg_rgb(bunny_yuv, H, W,
                       "scale=in_color_matrix=bt709:in_range=tv:flags=bilinear+accurate_rnd+full_chroma_int")
    assert np.abs(mine - bt709).mean() < 0.02
    assert np.abs(mine - bt601).mean() > 1.0
    # the plain swscale fast path (no accurate_rnd) rounds down by about one level: median 1
    plain = ffmpeg_rgb(bunny_yuv, H, W, "scale=in_color_matrix=bt709:in_range=tv")
    signed = mine - plain
    assert 0.0 < signed.mean() < 2.0 and np.median(np.abs(signed)) <= 1


def test_neutral_grey_and_limited_range_extremes():
    """Y=16 -> 0, Y=235 -> 255, Cb=Cr=128 -> grey: the range and matrix, by construction."""
    h, w = 4, 6
    for y, expect in ((16, 0), (235, 255), (126, 128)):
        frame = np.concatenate([np.full(h * w, y, np.uint8), np.full(h * w // 2, 128, np.uint8)])
        assert (readers.yuv420_to_rgb(frame, h, w) == expect).all()
    # pure BT.709 red (R'=1, G'=B'=0): Y=63, Cb=102, Cr=240 in limited range
    frame = np.concatenate([np.full(h * w, 63, np.uint8), np.full(h * w // 4, 102, np.uint8),
                            np.full(h * w // 4, 240, np.uint8)])
    r, g, b = readers.yuv420_to_rgb(frame, h, w)[0, 0].astype(int)
    assert r >= 253 and g <= 2 and b <= 2


def test_truncated_yuv_names_file_and_expected_size(tmp_path, bunny_yuv):
    bad = tmp_path / "cut_1280x720.yuv"
    bad.write_bytes(bunny_yuv.read_bytes()[:-1000])
    with pytest.raises(FormatError, match=r"cut_1280x720\.yuv: .*whole number of 1280x720"):
        readers.open_yuv420(bad)
    with pytest.raises(FormatError, match=r"cut_1280x720\.yuv: \d+ bytes, expected 5529600 .*truncated"):
        readers.open_yuv420(bad, 720, 1280, frames=4)


def test_yuv_without_size_odd_size_and_wrong_size(tmp_path, bunny_yuv):
    noname = tmp_path / "clip.yuv"
    noname.write_bytes(b"\0" * 100)
    with pytest.raises(FormatError, match=r"clip\.yuv: cannot tell the frame size"):
        readers.open_yuv420(noname)
    odd = tmp_path / "odd_1281x721.yuv"
    odd.write_bytes(b"\0" * 100)
    with pytest.raises(FormatError, match=r"odd_1281x721\.yuv: frame size 1281x721 is odd"):
        readers.open_yuv420(odd)
    wrong = tmp_path / "bunny_1920x1080.yuv"
    wrong.write_bytes(bunny_yuv.read_bytes())  # 720p content, 1080p name
    with pytest.raises(FormatError, match=r"bunny_1920x1080\.yuv: .*not a whole number of 1920x1080"):
        readers.open_yuv420(wrong)
    with pytest.raises(MissingDataError, match="nothing_1280x720.yuv"):
        readers.open_yuv420(tmp_path / "nothing_1280x720.yuv")


def _write_frames(folder: Path, frames: np.ndarray, names: list[str]) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for img, name in zip(frames, names):
        Image.fromarray(img).save(folder / name)


def test_image_folder_natural_order_and_content(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (11, 8, 12, 3), dtype=np.uint8)
    names = [f"f{i}.png" for i in range(11)]  # f10 sorts after f9 only naturally
    _write_frames(tmp_path / "seq", frames, names)
    (tmp_path / "seq" / "notes.txt").write_text("not a frame")
    files = readers.list_images(tmp_path / "seq")
    assert [p.name for p in files] == names
    assert readers.check_one_size(files) == (8, 12)
    got = np.concatenate(list(readers.iter_images(files, 8, 12, chunk=4)))
    assert np.array_equal(got, frames)  # PNG is lossless


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match=r"empty: no image files"):
        readers.list_images(tmp_path / "empty")
    rng = np.random.default_rng(1)
    _write_frames(tmp_path / "mixed", rng.integers(0, 256, (2, 8, 12, 3), dtype=np.uint8), ["a1.png", "a2.png"])
    _write_frames(tmp_path / "mixed", rng.integers(0, 256, (1, 10, 12, 3), dtype=np.uint8), ["a3.png"])
    with pytest.raises(FormatError, match=r"a3\.png: 12x10 differs from a1\.png \(12x8\)"):
        readers.check_one_size(readers.list_images(tmp_path / "mixed"))
    bad = tmp_path / "corrupt"
    bad.mkdir()
    data = jpeg_bytes(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    (bad / "00000.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match=r"00000\.jpg: corrupted or unreadable image"):
        readers.read_image(bad / "00000.jpg", str(bad / "00000.jpg"))
    (bad / "00001.jpg").write_bytes(b"this is no jpeg")
    with pytest.raises(FormatError, match=r"00001\.jpg: corrupted"):
        readers.image_size(bad / "00001.jpg")


def test_video_stream_equals_whole_decode_and_counts(tmp_path):
    from nvbench.data.bunny import clip_path

    n, h, w, fps = readers.video_info(clip_path())
    assert (n, h, w, fps) == (132, 720, 1280, 25.0)
    streamed = np.concatenate(list(readers.iter_video_rgb(clip_path(), h, w, chunk=50)))
    assert streamed.shape == (132, h, w, 3)
    assert np.array_equal(streamed[::33], decode_rgb(clip_path())[::33])
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\0" * 4096)
    with pytest.raises(FormatError, match=r"broken\.mp4"):
        readers.video_info(bad)


@pytest.mark.parametrize("ext", [".y4m", ".mkv"])
def test_own_video_file_formats(tmp_path, monkeypatch, ext):
    """Y4M and MKV clips (made here by ffmpeg) become one-sequence datasets, streamed into the store."""
    import subprocess

    from nvbench.data.bunny import clip_path
    from nvbench.data.ffmpeg import ffmpeg_exe
    from nvbench.data.local import LocalClip

    monkeypatch.setenv("NVBENCH_DATA", str(tmp_path / "data"))
    clip = tmp_path / f"mine{ext}"
    codec = ["-pix_fmt", "yuv420p"] if ext == ".y4m" else ["-c:v", "ffv1"]
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(clip_path()), "-frames:v", "5",
                    "-vf", "scale=160:80", *codec, str(clip)], check=True)
    ds = LocalClip(clip)
    info = ds.card.sequences[0]
    assert (info.name, info.frames, info.height, info.width) == ("mine", 5, 80, 160)
    v = ds.load()
    assert np.array_equal(np.asarray(v.frames), decode_rgb(clip))
    assert ds.checksum() == v.checksum() and "ffmpeg default" in v.colour
