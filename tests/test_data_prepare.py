"""Preparing UVG (folder of .yuv, .7z archives), DAVIS (zip or folder, with masks), downloads
from a local HTTP server, the user's own clip, and the one-line errors of bad inputs."""

from __future__ import annotations

import http.server
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from _data_fixtures import make_7z, make_davis_zip, make_yuv

from nvbench.cli import main
from nvbench.data import readers, store
from nvbench.data.davis import DavisDataset
from nvbench.data.fetch import download
from nvbench.data.uvg import CARD, UVGDataset, archive_name, yuv_name
from nvbench.errors import FormatError, MissingDataError
from nvbench.expand import RunRequest, expand
from nvbench.jobrun import load_video
from nvbench.video import Video

H, W = 360, 640  # small real frames; UVG's card is patched to this size where it matters


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("NVBENCH_DATA", str(root))
    return root


@pytest.fixture(scope="module")
def src_yuv(tmp_path_factory) -> Path:
    """4 Bunny frames as raw yuv420p 640x360 (UVG's format, real content)."""
    return make_yuv(tmp_path_factory.mktemp("src") / "bunny.yuv", frames=4, size=(H, W))


@pytest.fixture
def small_uvg(monkeypatch):
    """UVG's card with two 4-frame 720p sequences, so real files stay small."""
    seqs = (replace(CARD.sequences[0], frames=4, height=H, width=W),
            replace(CARD.sequences[3], frames=4, height=H, width=W))
    monkeypatch.setattr(UVGDataset, "card", replace(CARD, sequences=seqs))
    return UVGDataset()


def uvg_file(folder: Path, seq: str, src: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / yuv_name(seq, H, W)
    p.write_bytes(src.read_bytes())
    return p


def leftovers(root: Path) -> list[str]:
    """Hidden temporary files or folders anywhere under the data root."""
    return [str(p) for p in root.rglob(".*")] if root.exists() else []


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_uvg_from_yuv_folder(tmp_path, src_yuv, small_uvg, data_root, capsys):
    uvg_file(tmp_path / "dl", "Beauty", src_yuv)
    uvg_file(tmp_path / "dl", "Jockey", src_yuv)
    rc, out, err = run_cli(capsys, "data", "prepare", "uvg", "--from", str(tmp_path / "dl"))
    assert rc == 0, err
    assert "2 sequence(s) of uvg prepared" in out and "conversion" in out
    video = small_uvg.load("Beauty")
    assert isinstance(video.frames, np.memmap) and video.frames.shape == (4, H, W, 3)
    raw = readers.open_yuv420(src_yuv, H, W)
    expected = np.concatenate(list(readers.iter_yuv420_rgb(raw, H, W)))
    assert np.array_equal(np.asarray(video.frames), expected)
    # the cheap checksum (sidecar) is the frames' checksum as Video computes it
    assert small_uvg.checksum("Beauty") == video.checksum() == Video(expected, "x").checksum()
    assert "BT.709" in video.colour
    meta = store.read_meta(small_uvg.folder("Beauty"))
    assert 0 < meta["convert_seconds"] <= meta["prepare_seconds"]
    assert leftovers(data_root) == []
    rc, out, _ = run_cli(capsys, "data", "list")
    assert rc == 0 and any(line.startswith("uvg") and " 2/2 " in line for line in out.splitlines())


def test_uvg_from_7z_and_archive_without_the_file(tmp_path, src_yuv, small_uvg, data_root, capsys):
    arch = make_7z(tmp_path / archive_name("Jockey", H, W), {yuv_name("Jockey", H, W): src_yuv})
    rc, out, err = run_cli(capsys, "data", "prepare", "uvg", "--from", str(arch))
    assert rc == 0, err
    assert small_uvg.is_prepared("Jockey") and not small_uvg.is_prepared("Beauty")
    assert small_uvg.load("Jockey").num_frames == 4
    (tmp_path / "other").mkdir()
    (tmp_path / "readme.txt").write_text("not a sequence")
    bad = make_7z(tmp_path / "other" / archive_name("Beauty", H, W), {"readme.txt": tmp_path / "readme.txt"})
    rc, out, err = run_cli(capsys, "data", "prepare", "uvg", "--from", str(bad))
    assert rc == 2
    assert err.count("\n") == 1 and f"{bad}: does not contain Beauty_" in err
    assert not small_uvg.is_prepared("Beauty") and leftovers(data_root) == []


def test_uvg_bad_inputs_one_line_nothing_written(tmp_path, src_yuv, small_uvg, data_root, capsys):
    # truncated: a byte short of 4 frames
    cut = uvg_file(tmp_path / "cut", "Beauty", src_yuv)
    cut.write_bytes(src_yuv.read_bytes()[:-1])
    rc, _, err = run_cli(capsys, "data", "prepare", "uvg", "--from", str(tmp_path / "cut"))
    assert rc == 2 and err.count("\n") == 1
    assert f"{cut}: 1382399 bytes, expected 1382400" in err
    # a folder with nothing of UVG's
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "movie.mp4").write_bytes(b"x")
    rc, _, err = run_cli(capsys, "data", "prepare", "uvg", "--from", str(tmp_path / "none"))
    assert rc == 2 and "no UVG .yuv or .7z files" in err
    assert not small_uvg.is_prepared("Beauty") and leftovers(data_root) == []


def test_uvg_wrong_resolution_in_name(tmp_path, src_yuv, data_root, capsys):
    f = uvg_file(tmp_path / "dl", "Beauty", src_yuv)  # a 640x360 name, the real card says 1920x1080
    rc, _, err = run_cli(capsys, "data", "prepare", "uvg", "--from", str(f))
    assert rc == 2 and err.count("\n") == 1
    assert f"{f}: the name says 640x360, but UVG Beauty is 1920x1080" in err
    assert leftovers(data_root) == []


def test_missing_data_says_how_to_prepare(capsys):
    with pytest.raises(MissingDataError, match=r"nvbench data prepare uvg --from PATH"):
        UVGDataset().checksum("Jockey")
    rc, _, err = run_cli(capsys, "run", "-m", "hnerv", "-d", "davis", "--sequence", "camel", "--dry-run")
    assert rc == 2 and "nvbench data download davis --sequence camel" in err
    assert "nvbench data prepare davis --from PATH" in err


def test_write_is_atomic_on_failure(tmp_path, data_root):
    dest = data_root / "uvg" / "Beauty"
    with pytest.raises(RuntimeError):
        with store.SequenceWriter(dest, 3, 4, 6) as w:
            w.write(np.zeros((2, 4, 6, 3), np.uint8))
            raise RuntimeError("crash mid-way")
    assert not dest.exists() and leftovers(data_root) == []
    with store.SequenceWriter(dest, 1, 4, 6) as w:
        w.write(np.full((1, 4, 6, 3), 7, np.uint8))
        w.finish({"colour": "test"})
    with store.SequenceWriter(dest, 1, 4, 6) as w:  # prepared again: replaces the old one
        w.write(np.full((1, 4, 6, 3), 9, np.uint8))
        w.finish({"colour": "test"})
    assert int(store.open_frames(dest)[0, 0, 0, 0]) == 9 and leftovers(data_root) == []


# ---------------------------------------------------------------- DAVIS


def test_davis_zip_with_masks(tmp_path, data_root, capsys):
    zpath = tmp_path / "DAVIS-2017-trainval-Full-Resolution.zip"
    ids = make_davis_zip(zpath, {"blackswan": 5, "camel": 4, "not-in-card": 2})
    rc, out, err = run_cli(capsys, "data", "prepare", "davis", "--from", str(zpath))
    assert rc == 0, err
    assert "lacks bike-packing" in out and "2 sequence(s) of davis prepared" in out
    ds = DavisDataset()
    assert ds.card.sequence("blackswan").frames == 5 and ds.card.sequence("camel").frames == 4  # counted
    assert (ds.card.sequence("camel").height, ds.card.sequence("camel").width) == (48, 96)
    v = ds.load("blackswan")
    assert v.frames.shape == (5, 48, 96, 3) and "JPEG" in v.colour
    assert np.array_equal(np.asarray(ds.load_annotations("camel")), ids["camel"])
    m = ds.load_masks("camel")
    assert m.dtype == bool and np.array_equal(m, ids["camel"] > 0)
    assert np.array_equal(ds.load_masks("camel", objects=[2]), ids["camel"] == 2)
    small = ds.load_masks("camel", crop=(40, 80), size=(20, 40))
    assert small.shape == (4, 20, 40)
    # frame 0: object 1 rows 4..19, cols 8..39 and object 2 rows 30..43, cols 60..89 of the 48x96 frame;
    # the centre crop 40x80 starts at (4, 8), then halving: object 1 -> rows 0..7, cols 0..15,
    # object 2 -> rows 13..19, cols 26..39 (clipped at the crop's edge)
    expected = np.zeros((20, 40), bool)
    expected[0:8, 0:16] = True
    expected[13:20, 26:40] = True
    assert np.array_equal(small[0], expected)
    # a DAVIS-sized request at the cpu preset: centre crop 960x1920 area-resized to 240x480
    jobs = expand(RunRequest(methods=["hnerv"], datasets=["davis"], sequences=["camel"], preset="cpu"))
    assert jobs[0].crop == (960, 1920) and jobs[0].resolution == (240, 480) and jobs[0].frames == 4
    assert jobs[0].source_checksum == ds.checksum("camel") == ds.load("camel").checksum()


def test_davis_from_extracted_folder(tmp_path, data_root):
    zpath = tmp_path / "d.zip"
    make_davis_zip(zpath, {"dog": 3}, annotations=False)
    with zipfile.ZipFile(zpath) as z:
        z.extractall(tmp_path / "extracted")
    metas = DavisDataset().prepare(tmp_path / "extracted", echo=lambda s: None)
    assert len(metas) == 1 and metas[0]["shape"] == [3, 48, 96, 3] and not metas[0]["has_masks"]
    with pytest.raises(MissingDataError, match="without annotations"):
        DavisDataset().load_masks("dog")


@pytest.mark.parametrize("case", ["corrupt", "odd_size", "480p", "empty"])
def test_davis_bad_inputs(tmp_path, data_root, capsys, case):
    zpath = tmp_path / f"{case}.zip"
    member = "DAVIS/JPEGImages/Full-Resolution/cows/00002.jpg"
    if case == "corrupt":
        make_davis_zip(zpath, {"cows": 4}, corrupt=member)
        expect = f"{zpath}:{member}: corrupted or unreadable image"
    elif case == "odd_size":
        make_davis_zip(zpath, {"cows": 4}, odd_size=member)
        expect = f"{zpath}:{member}: 96x46 differs from 00000.jpg (96x48)"
    elif case == "480p":
        make_davis_zip(zpath, {"cows": 2}, res="480p")
        expect = "it holds the 480p release"
    else:
        with zipfile.ZipFile(zpath, "w") as z:
            z.writestr("DAVIS/README.md", "nothing")
        expect = f"{zpath}: no DAVIS frames found"
    rc, _, err = run_cli(capsys, "data", "prepare", "davis", "--from", str(zpath))
    assert rc == 2 and err.count("\n") == 1 and expect in err, err
    assert not DavisDataset().is_prepared("cows") and leftovers(data_root) == []


# ---------------------------------------------------------------- downloads


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support (what mirrors do), recording the requests."""

    seen: list[str | None] = []
    ignore_range = False

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        type(self).seen.append(rng)
        if rng and not self.ignore_range:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    _RangeHandler.seen = []
    _RangeHandler.ignore_range = False

    def handler(*args, **kw):
        return _RangeHandler(*args, directory=str(root), **kw)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_resumes_verifies_and_prepares(tmp_path, src_yuv, small_uvg, data_root, server, capsys):
    www, url = server
    arch = make_7z(www / archive_name("Beauty", H, W), {yuv_name("Beauty", H, W): src_yuv})
    part = data_root / "downloads" / (archive_name("Beauty", H, W) + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(arch.read_bytes()[: arch.stat().st_size // 2])  # an interrupted download
    rc, out, err = run_cli(capsys, "data", "download", "uvg", "--sequence", "Beauty", "--mirror", url)
    assert rc == 0, err
    assert _RangeHandler.seen == [f"bytes={arch.stat().st_size // 2}-"]
    assert "sha256 " in out and small_uvg.load("Beauty").num_frames == 4
    assert not (data_root / "downloads" / archive_name("Beauty", H, W)).exists() and not part.exists()
    assert leftovers(data_root) == []


def test_download_checksum_and_server_without_range(tmp_path, server):
    www, url = server
    payload = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    (www / "blob.bin").write_bytes(payload)
    import hashlib

    good = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "dl" / "blob.bin"
    with pytest.raises(FormatError, match="does not match the expected"):
        download(url + "blob.bin", dest, sha256="0" * 64)
    assert not dest.exists() and not dest.with_name("blob.bin.part").exists()
    _RangeHandler.ignore_range = True  # a server answering 200 to a Range request: start again
    dest.with_name("blob.bin.part").write_bytes(b"garbage")
    download(url + "blob.bin", dest, sha256=good)
    assert dest.read_bytes() == payload
    with pytest.raises(Exception, match="HTTP 404"):
        download(url + "missing.bin", tmp_path / "dl" / "missing.bin")


# ---------------------------------------------------------------- the user's own clip


def test_own_clip_as_dataset(tmp_path, src_yuv, data_root, capsys):
    clip = tmp_path / "my clip_640x360_25fps.yuv"
    clip.write_bytes(src_yuv.read_bytes())
    jobs = expand(RunRequest(methods=["hnerv"], datasets=[str(clip)], preset="smoke", resolution=(40, 80)))
    assert len(jobs) == 1 and jobs[0].dataset == str(clip.resolve()) and jobs[0].sequence == "my_clip_640x360_25fps"
    assert jobs[0].frames == 4 and jobs[0].crop == (320, 640)  # the clip's paper crop: the largest centre 1:2
    video = load_video(jobs[0])
    assert video.frames.shape == (4, 40, 80, 3) and "BT.709" in video.colour
    from nvbench.data.local import LocalClip

    full = LocalClip(clip).load()
    assert full.frames.shape == (4, H, W, 3) and isinstance(full.frames, np.memmap)
    assert jobs[0].source_checksum == Video(np.asarray(full.frames), "x").checksum()
    jobs = expand(RunRequest(methods=["hnerv"], datasets=[str(clip)], preset="smoke", crop="paper",
                             resolution=(40, 80)))
    assert jobs[0].crop == (320, 640) and jobs[0].resolution == (40, 80)
    assert load_video(jobs[0]).geometry["resize"] == "40x80 (area)"
    rc, _, err = run_cli(capsys, "run", "-m", "hnerv", "-d", str(tmp_path / "nope.mp4"), "--dry-run")
    assert rc == 2 and "nope.mp4: no such file or folder" in err
    (tmp_path / "frames").mkdir()
    rc, _, err = run_cli(capsys, "run", "-m", "hnerv", "-d", str(tmp_path / "frames"), "--dry-run")
    assert rc == 2 and "frames: no image files" in err
    assert leftovers(data_root) == []


def test_own_image_folder_runs_end_to_end(tmp_path, data_root, capsys):
    from _data_fixtures import bunny_frames
    from PIL import Image

    folder = tmp_path / "shots"
    folder.mkdir()
    for i, img in enumerate(bunny_frames(4, 80, 160)):
        Image.fromarray(img).save(folder / f"shot{i + 1}.png")
    rc, out, err = run_cli(capsys, "run", "-m", "hnerv", "--preset", "smoke", "-d", str(folder),
                           "--resolution", "40x80", "--results", str(tmp_path / "res"), "-q")
    assert rc == 0, err
    from nvbench.results import load

    df = load(tmp_path / "res")
    rec = df.iloc[0]
    assert rec["dataset"] == str(folder.resolve()) and rec["sequence"] == "shots"
    assert rec["resolution"] == "40x80" and rec["frames"] == 4 and rec["status"] == "ok"
    assert "Pillow" in rec["colour"]


def test_memory_mapped_frames_feed_training_in_the_requested_order(tmp_path, data_root):
    """FrameSource gathers batches from a prepared memmap in the sampler's order (the path a
    >1 GiB video takes), identical to the resident copy small videos get."""
    import torch

    from nvbench.train import FrameSource

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (10, 4, 6, 3), dtype=np.uint8)
    with store.SequenceWriter(data_root / "t" / "s", 10, 4, 6) as w:
        w.write(frames)
        w.finish({})
    mm = store.open_frames(data_root / "t" / "s")
    mapped = FrameSource(mm, torch.device("cpu"), resident_limit_bytes=0)
    resident = FrameSource(mm, torch.device("cpu"))
    assert mapped._resident is None and resident._resident is not None
    idx = torch.tensor([7, 2, 9, 2])
    expected = torch.from_numpy(frames[[7, 2, 9, 2]]).permute(0, 3, 1, 2)
    assert torch.equal(mapped.uint8(idx), expected) and torch.equal(resident.uint8(idx), expected)
    assert mapped.float(idx).dtype == torch.float32


def test_davis_download_from_mirror(tmp_path, data_root, server, capsys):
    www, url = server
    from nvbench.data.davis import ARCHIVE

    ids = make_davis_zip(www / ARCHIVE, {"dog": 3})
    rc, out, err = run_cli(capsys, "data", "download", "davis", "--mirror", url, "--keep")
    assert rc == 0, err
    assert _RangeHandler.seen == [None] and (data_root / "downloads" / ARCHIVE).is_file()
    assert np.array_equal(DavisDataset().load_masks("dog"), ids["dog"] > 0)
    rc, out, _ = run_cli(capsys, "data", "info", "davis")
    assert rc == 0 and any(line.split()[:4] == ["dog", "3", "48x96", "24"] and "prepared" in line
                           for line in out.splitlines())
