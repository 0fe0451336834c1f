"""No file nvbench reads from a store or a dataset can run code: a planted pickle in each file kind
(training checkpoint, trained model, sample artefact, prepared frames) is refused with one line and
never executed (its payload would create a marker file); corrupted cache files are trained again;
a job JSON of the wrong shape is skipped with a line naming it."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nvbench.cli import main  # noqa: E402
from nvbench.errors import FormatError  # noqa: E402
from nvbench.safeload import UnsafeFileError, load_checkpoint, load_tensors  # noqa: E402


class _Payload:
    """Unpickling this calls Path.touch(marker): it must never happen."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _plant(path: Path, marker: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {"model": {"w": torch.zeros(2)}, "evil": _Payload(marker)}
    if kind == "torch-zip":
        torch.save(obj, path)
    else:  # a plain pickle stream with the torch suffix
        with open(path, "wb") as fh:
            pickle.dump(obj, fh)


@pytest.mark.parametrize("kind", ["torch-zip", "raw-pickle"])
def test_load_tensors_refuses_a_planted_pickle(tmp_path, kind):
    marker = tmp_path / "marker"
    path = tmp_path / "model.pt"
    _plant(path, marker, kind)
    with pytest.raises(UnsafeFileError) as exc:
        load_tensors(path)
    assert "refused" in str(exc.value) and "\n" not in str(exc.value)
    assert not marker.exists()


def test_corrupted_file_is_a_format_error(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(3)}, path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(FormatError):
        load_tensors(path)
    assert load_checkpoint(path) is None and not path.exists()  # removed: training restarts


def test_a_real_checkpoint_loads_with_weights_only(tmp_path):
    """What train() writes (model, Adam state, generator and RNG states, history) is plain data."""
    from nvbench.recipe import HNERV_RECIPE
    from nvbench.train import FrameSource, TrainSettings, train
    from representations.hnerv import HNeRVMethod
    from tests.conftest import smooth_video

    video = smooth_video(frames=8, height=40, width=80)
    model = HNeRVMethod.build(HNeRVMethod.plan(8, 40, 80, 24_000, {}))
    ckpt = tmp_path / "checkpoint.pt"
    settings = TrainSettings(epochs=2, recipe=HNERV_RECIPE, seed=1, checkpoint=ckpt, checkpoint_every=1)
    crash = RuntimeError("stop after the last checkpoint")

    def stop(log):
        if log["epoch"] == 2:
            raise crash

    with pytest.raises(RuntimeError):
        train(model, FrameSource(video.frames, torch.device("cpu")), settings, callbacks=[stop])
    state = load_checkpoint(ckpt)
    assert state is not None and state["epoch"] == 1 and len(state["history"]) == 1


# ------------------------------------------------------------------ through `nvbench run`

RUN = ["run", "-m", "hnerv", "--preset", "smoke", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    store = tmp_path_factory.mktemp("store") / "results"
    assert main([*RUN, "--results", str(store)]) == 0
    (folder,) = (store / "models").iterdir()
    return store, folder


def _job_ok(store: Path) -> bool:
    (path,) = (store / "jobs").glob("*.json")
    return all(r["status"] == "ok" for r in json.loads(path.read_text())["records"])


@pytest.mark.parametrize("kind", ["torch-zip", "raw-pickle"])
def test_planted_trained_model_is_refused_and_trained_again(trained, tmp_path, capsys, kind):
    store, folder = trained
    marker = tmp_path / "marker"
    _plant(folder / "model.pt", marker, kind)
    assert main([*RUN, "--results", str(store), "--force"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "model.pt" in line]
    assert len(lines) == 1 and "refused" in lines[0] and "training again" in lines[0]
    assert "Traceback" not in err
    assert not marker.exists()
    assert _job_ok(store)
    load_tensors(folder / "model.pt")  # replaced by the new training's plain tensors


def test_corrupted_trained_model_is_trained_again(trained, capsys):
    store, folder = trained
    (folder / "model.pt").write_bytes(b"\x00garbage")
    assert main([*RUN, "--results", str(store), "--force"]) == 0
    err = capsys.readouterr().err
    assert "model.pt" in err and "training again" in err and "Traceback" not in err
    assert _job_ok(store)


def test_planted_checkpoint_is_refused_and_training_starts_over(trained, tmp_path, capsys):
    store, folder = trained
    for name in ("model.pt", "meta.json"):
        (folder / name).unlink()
    marker = tmp_path / "marker"
    _plant(folder / "checkpoint.pt", marker, "torch-zip")
    assert main([*RUN, "--results", str(store), "--force"]) == 0
    err = capsys.readouterr().err
    assert "checkpoint.pt" in err and "refused" in err and "Traceback" not in err
    assert not marker.exists()
    assert _job_ok(store)


def test_job_json_of_the_wrong_shape_is_skipped_with_a_line(trained, capsys):
    store, _ = trained
    (path,) = (store / "jobs").glob("*.json")
    path.write_text(json.dumps([1, 2, 3]))
    assert main([*RUN, "--results", str(store)]) == 0
    err = capsys.readouterr().err
    assert str(path) in err and "another shape" in err and "Traceback" not in err
    assert _job_ok(store)  # re-run and written again


def test_planted_sample_artefact_runs_nothing_in_the_report(trained, tmp_path, capsys):
    store, _ = trained
    marker = tmp_path / "marker"
    (path,) = (store / "jobs").glob("*.json")
    samples = store / "artifacts" / path.stem / "samples.npz"
    samples.parent.mkdir(parents=True, exist_ok=True)
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    np.savez(samples, indices=np.arange(1), decoded=evil, truth=evil)
    rc = main(["report", "--results", str(store), "-o", str(tmp_path / "rep" / "index.html"), "--no-export"])
    assert rc == 0 and not marker.exists()
    with open(samples, "wb") as fh:  # a bare pickle under the artefact's name
        pickle.dump(_Payload(marker), fh)
    rc = main(["report", "--results", str(store), "-o", str(tmp_path / "rep" / "index.html"), "--no-export"])
    assert rc == 0 and not marker.exists()


def test_planted_prepared_frames_are_refused(tmp_path):
    from nvbench.data.store import open_frames

    marker = tmp_path / "marker"
    folder = tmp_path / "seq"
    folder.mkdir()
    with open(folder / "frames.npy", "wb") as fh:
        pickle.dump(_Payload(marker), fh)
    (folder / "meta.json").write_text(json.dumps({"shape": [1, 2, 2, 3]}))
    with pytest.raises(FormatError, match="not a plain uint8 array"):
        open_frames(folder)
    assert not marker.exists()


def test_planted_bunny_cache_is_replaced_not_run(tmp_path, monkeypatch):
    from nvbench.data import bunny

    marker = tmp_path / "marker"
    monkeypatch.setenv("NVBENCH_DATA", str(tmp_path / "data"))
    cache = bunny._cache_file()
    cache.parent.mkdir(parents=True)
    with open(cache, "wb") as fh:
        pickle.dump(_Payload(marker), fh)
    monkeypatch.setattr(bunny, "decode_rgb", lambda path: np.zeros((132, 720, 1280, 3), np.uint8))  # fast
    frames = bunny.load_frames()
    assert frames.shape == (132, 720, 1280, 3) and not marker.exists()
    assert np.load(cache, mmap_mode="r").shape == (132, 720, 1280, 3)  # replaced by the decoded frames


def test_planted_compressai_weights_are_refused(tmp_path):
    pytest.importorskip("compressai")
    from representations.compressai_codecs import Bmshj2018Factorized as codec

    marker = tmp_path / "marker"
    path = tmp_path / f"{codec.file_prefix}-1-0000.pth.tar"
    _plant(path, marker, "torch-zip")
    with pytest.raises(UnsafeFileError, match="refused"):
        codec.load_model(1, {"weights": str(tmp_path)})
    assert not marker.exists()


def test_no_unrestricted_torch_load_in_the_code():
    root = Path(__file__).resolve().parents[1]
    for folder in ("nvbench", "representations"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            assert "weights_only=False" not in text, path
            assert "allow_pickle=True" not in text, path
            assert "pickle.load" not in text, path
    assert os.path.exists(root / "nvbench" / "safeload.py")
