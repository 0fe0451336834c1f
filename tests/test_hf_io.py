"""Hugging Face `datasets` at the edges: a video dataset the test writes itself (save_to_disk and
Parquet, rows shuffled) imported by `nvbench data prepare NAME --from FOLDER` into the prepared
store, and a results store exported with `nvbench export --format hf DIR` that `nvbench report
--results DIR` reads back to the same leaderboard. Offline; skipped without the library."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from nvbench.data.base import DatasetCard, SequenceInfo
from nvbench.data.hub import available
from nvbench.data.prepared import PreparedDataset

HAVE, WHY = available()
needs_datasets = pytest.mark.skipif(not HAVE, reason=f"`datasets` not importable here: {WHY}")
T, H, W = 6, 24, 40


class TinyHub(PreparedDataset):
    name = "tiny-hub"
    source_hint = "a datasets folder"
    card = DatasetCard(name="tiny-hub", title="tiny hub clips", paper_crop=(H, W), colour="synthetic", licence="none",
                       citation="", source="generated",
                       sequences=(SequenceInfo("alpha", T, H, W, 25.0), SequenceInfo("beta", T, H, W, 25.0)))


def clips() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {s: rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8) for s in ("alpha", "beta")}


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from nvbench import registry

    monkeypatch.setenv("NVBENCH_DATA", str(tmp_path / "data"))
    registry.datasets.register("tiny-hub", "test_hf_io:TinyHub")
    return tmp_path / "data"


def _hub_dataset(tmp_path: Path, kind: str) -> Path:
    import datasets

    rows = [(s, t, frames[t]) for s, frames in clips().items() for t in range(T)]
    order = np.random.default_rng(1).permutation(len(rows))  # the importer must restore frame order
    rows = [rows[i] for i in order]
    ds = datasets.Dataset.from_dict({"video": [r[0] for r in rows], "frame_index": [r[1] for r in rows],
                                     "image": [r[2] for r in rows]},
                                    features=datasets.Features({"video": datasets.Value("string"),
                                                                "frame_index": datasets.Value("int32"),
                                                                "image": datasets.Image()}))
    out = tmp_path / kind
    if kind == "disk":
        ds.save_to_disk(str(out))
    else:
        (out / "data").mkdir(parents=True)
        ds.to_parquet(str(out / "data" / "train-00000.parquet"))
    return out


@needs_datasets
@pytest.mark.parametrize("kind", ["disk", "parquet"])
def test_prepare_from_datasets_folder(kind: str, data_root: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    from nvbench.cli import main
    from nvbench.data import store
    from nvbench.video import Video

    src = _hub_dataset(tmp_path, kind)
    assert main(["data", "prepare", "tiny-hub", "--from", str(src)]) == 0
    assert "2 sequence(s) of tiny-hub imported" in capsys.readouterr().out
    for s, frames in clips().items():
        folder = data_root / "tiny-hub" / s
        got = np.asarray(store.open_frames(folder))
        assert np.array_equal(got, frames)  # PNG cells are lossless; the order is the frame index's
        assert store.read_meta(folder)["checksum"] == Video(frames, name=s).checksum()
    assert TinyHub().load("beta").num_frames == T
    # a sequence the card does not name is an error naming it
    assert main(["data", "prepare", "tiny-hub", "--from", str(src), "--sequence", "gamma"]) == 2
    assert "gamma" in capsys.readouterr().err


@needs_datasets
def test_export_hf_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from tests_report_store import make_store

    from nvbench.cli import main
    from nvbench.report.build import build_context

    store, _ = make_store(tmp_path / "store")
    out = tmp_path / "hub-export"
    assert main(["export", "--format", "hf", str(out), "--results", str(store)]) == 0
    assert "records as a datasets dataset" in capsys.readouterr().out
    import datasets

    ds = datasets.load_from_disk(str(out))
    a = build_context(store, tmp_path, with_plots=False)
    b = build_context(out, tmp_path, with_plots=False)
    assert ds.num_rows == sum(len(j.get("records", [])) for j in [*_payloads(store)])
    assert len(b["data"].records) == len(a["data"].records)
    assert len(b["data"].left_out) == len(a["data"].left_out) - 1  # the truncated job file has no rows

    def cells(ctx: dict) -> dict:
        return {(bd.title, str(r.keys), c): v.mean for bd in ctx["boards"] for r in bd.rows for c, v in r.cells.items()}

    assert cells(a) == cells(b) and [e.bd_rate for e in a["bd"]] == [e.bd_rate for e in b["bd"]]
    report = tmp_path / "rep" / "index.html"
    assert main(["report", "--results", str(out), "--out", str(report), "--no-export"]) == 0
    assert 'id="rank-bunny-smoke"' in report.read_text()


def _payloads(store: Path) -> list[dict]:
    from nvbench.results import Store

    return [p for _, p, _ in Store(store).iter_jobs() if isinstance(p, dict) and isinstance(p.get("records"), list)]


def test_shadowed_datasets_folder_is_not_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    from nvbench.data.hub import import_datasets
    from nvbench.errors import UnavailableError

    fake = types.ModuleType("datasets")
    fake.__path__ = [str(Path(__file__).resolve().parent.parent / "datasets")]  # a namespace package
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(UnavailableError, match=r'pip install "nvbench\[hf\]"'):
        import_datasets()
    assert available()[0] is False
