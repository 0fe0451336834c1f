"""Video reading cannot hang or scramble: ffmpeg's stderr is drained, a stream that stops or ends
early is one FormatError naming the file and the frame, rotation tags give the rotated size,
16-bit PNG frames are scaled to 8 bits, and nothing temporary is left behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nvbench.data import readers
from nvbench.data.ffmpeg import decode_rgb, ffmpeg_exe, probe
from nvbench.errors import FormatError

H, W = 4, 6
FB = H * W * 3


def _fake_ffmpeg(tmp_path: Path, body: str) -> str:
    """An executable standing in for ffmpeg: `body` is Python run with `out`/`err` = the binary streams."""
    script = tmp_path / "fake-ffmpeg"
    head = f"#!{sys.executable}\nimport sys, time\nout, err = sys.stdout.buffer, sys.stderr.buffer\n"
    script.write_text(head + body + "\n")
    script.chmod(0o755)
    return str(script)


def _collect(path, frames=None, stall=5.0, timeout=30.0):
    """iter_video_rgb in a thread, so a hang fails the test instead of blocking it."""
    box: dict = {}

    def run():
        try:
            box["frames"] = np.concatenate(list(readers.iter_video_rgb(path, H, W, frames=frames, stall=stall)))
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "video reading hung"
    return box


def test_a_flood_of_warnings_on_stderr_does_not_deadlock(tmp_path, monkeypatch):
    exe = _fake_ffmpeg(tmp_path, f"err.write(b'warning: corrupt macroblock\\n' * 20000); err.flush()\n"
                                 f"out.write(bytes(range(256)) * ({3 * FB} // 256) + bytes({3 * FB} % 256))")
    monkeypatch.setattr(readers, "ffmpeg_exe", lambda: exe)
    box = _collect(tmp_path / "clip.mp4", frames=3)
    assert "error" not in box, box.get("error")
    assert box["frames"].shape == (3, H, W, 3)


def test_a_stream_that_stops_delivering_names_the_file_and_frame(tmp_path, monkeypatch):
    exe = _fake_ffmpeg(tmp_path, f"out.write(bytes({2 * FB})); out.flush(); time.sleep(60)")
    monkeypatch.setattr(readers, "ffmpeg_exe", lambda: exe)
    t0 = time.monotonic()
    box = _collect(tmp_path / "clip.mp4", frames=5, stall=1.0)
    assert time.monotonic() - t0 < 20
    err = box["error"]
    assert isinstance(err, FormatError) and "clip.mp4" in str(err) and "after frame 2" in str(err)
    assert "\n" not in str(err)


def test_fewer_frames_than_announced(tmp_path, monkeypatch):
    exe = _fake_ffmpeg(tmp_path, f"out.write(bytes({2 * FB}))")
    monkeypatch.setattr(readers, "ffmpeg_exe", lambda: exe)
    err = _collect(tmp_path / "clip.mp4", frames=5)["error"]
    assert isinstance(err, FormatError) and "clip.mp4" in str(err) and "after frame 2 of the 5" in str(err)


def test_a_stream_that_breaks_off_inside_a_frame(tmp_path, monkeypatch):
    exe = _fake_ffmpeg(tmp_path, f"out.write(bytes({FB + FB // 2}))")
    monkeypatch.setattr(readers, "ffmpeg_exe", lambda: exe)
    err = _collect(tmp_path / "clip.mp4")["error"]
    assert isinstance(err, FormatError) and "inside frame 2" in str(err)


def test_ffmpeg_failure_keeps_the_last_stderr_lines(tmp_path, monkeypatch):
    exe = _fake_ffmpeg(tmp_path, "err.write(b'noise\\n' * 5000 + b'Invalid data found\\n'); sys.exit(1)")
    monkeypatch.setattr(readers, "ffmpeg_exe", lambda: exe)
    err = _collect(tmp_path / "clip.mp4")["error"]
    assert isinstance(err, FormatError) and "Invalid data found" in str(err) and "after frame 0" in str(err)


def _make_clip(path: Path, rotation: int | None = None) -> Path:
    plain = path.with_name("plain.mp4")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25",
                    "-frames:v", "4", "-pix_fmt", "yuv420p", str(plain)], check=True)
    if rotation is None:
        return plain
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", str(rotation), "-i", str(plain),
                    "-c", "copy", str(path)], check=True)
    return path


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_tags_give_the_rotated_size_and_unscrambled_frames(tmp_path, rotation):
    clip = _make_clip(tmp_path / "rot.mp4", rotation)
    n, h, w, _ = readers.video_info(clip)
    assert (h, w) == ((96, 64) if rotation % 180 else (64, 96))
    frames = np.concatenate(list(readers.iter_video_rgb(clip, h, w, frames=n)))
    np.testing.assert_array_equal(frames, decode_rgb(clip))  # ffmpeg's own rotated output
    plain = decode_rgb(tmp_path / "plain.mp4")
    turned = np.rot90(plain, k=(rotation // 90) % 4, axes=(1, 2))
    # the content is the plain clip turned (lossless copy; compare loosely for chroma siting)
    assert np.abs(frames.astype(int) - turned.astype(int)).mean() < 2 or \
        np.abs(frames.astype(int) - np.rot90(plain, k=(-rotation // 90) % 4, axes=(1, 2)).astype(int)).mean() < 2


def test_probe_of_a_plain_clip(tmp_path):
    clip = _make_clip(tmp_path / "x.mp4")
    assert probe(clip) == {"width": 96, "height": 64, "fps": 25.0}


def test_sixteen_bit_png_frames_are_scaled_not_white(tmp_path):
    from PIL import Image

    grey = np.linspace(0, 65535, H * W).astype(np.uint16).reshape(H, W)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    got = readers.read_image(tmp_path / "g16.png", "g16.png")
    want = np.rint(grey / 257.0).astype(np.uint8)
    assert got.shape == (H, W, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[..., 0], want)
    assert (got == 255).mean() < 0.1
    rgb48 = np.linspace(0, 65535, H * W * 3).astype("<u2").reshape(H, W, 3)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", f"{W}x{H}",
                    "-i", "-", str(tmp_path / "rgb48.png")], input=rgb48.tobytes(), check=True)
    got = readers.read_image(tmp_path / "rgb48.png", "rgb48.png")
    assert np.abs(got.astype(int) - rgb48.astype(int) / 257.0).max() <= 1.0


def test_a_bad_clip_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """A local clip whose stream ends early: one FormatError, nothing left in the data root."""
    from nvbench.data.local import LocalClip

    clip = _make_clip(tmp_path / "c.mp4")
    monkeypatch.setenv("NVBENCH_DATA", str(tmp_path / "data"))
    exe = _fake_ffmpeg(tmp_path, f"out.write(bytes({96 * 64 * 3 * 2}))")  # 2 of the 4 frames
    monkeypatch.setattr(readers, "ffmpeg_exe", lambda: exe)
    monkeypatch.setattr(readers, "video_info", lambda p: (4, 64, 96, 25.0))
    with pytest.raises(FormatError, match="plain.mp4: 2 frames decoded, 4 expected"):
        LocalClip(clip)
    leftovers = list((tmp_path / "data").rglob("*")) if (tmp_path / "data").exists() else []
    assert not [p for p in leftovers if p.is_file()] and not [p for p in leftovers if p.name.endswith(".tmp")]
