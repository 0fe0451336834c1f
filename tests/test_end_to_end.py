"""`nvbench run` end to end on the real Bunny clip at the smoke preset: records, provenance,
the store, skipping finished jobs, and loading into pandas."""

from __future__ import annotations

import json

import pytest

from nvbench import results
from nvbench.cli import main
from nvbench.records import RECORD_FIELDS


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    rc = main(["run", "--method", "hnerv", "--preset", "smoke", "--epochs", "3", "--results", str(root / "r"),
               "--quiet"])
    assert rc == 0
    return root / "r"


def test_job_json_has_records_and_provenance(smoke_store):
    files = list((smoke_store / "jobs").glob("*.json"))
    assert len(files) == 1
    payload = json.loads(files[0].read_text())
    assert payload["schema"] == 1 and payload["key"] == files[0].stem
    (rec,) = payload["records"]
    for f in RECORD_FIELDS:
        assert f in rec, f
    assert rec["status"] == "ok" and rec["method"] == "hnerv" and rec["task"] == "reconstruction"
    assert (rec["height"], rec["width"], rec["frames"]) == (40, 80, 8)
    assert rec["epoch"] == 3 and rec["recipe"] == "hnerv" and rec["preset"] == "smoke"
    assert 8 < rec["psnr"] < 40 and 0 < rec["ms_ssim"] <= 1 and rec["ms_ssim_window"] == 3
    assert rec["psnr_float"] >= rec["psnr"] - 0.5
    assert rec["decode_fps"] > 0 and rec["train_seconds"] > 0
    assert rec["params"] == rec["params"] and rec["size_target"] == 24_000
    prov = payload["provenance"]
    for k in ("nvbench_version", "torch_version", "device", "config", "dataset_checksum", "started", "finished",
              "peak_rss_mb"):
        assert prov.get(k) is not None, k
    assert prov["geometry"] == {"frames": 8, "crop": "640x1280", "resize": "40x80 (area)"}
    samples = smoke_store / "artifacts" / payload["key"] / "samples.npz"
    assert samples.is_file()


def test_rerun_skips_finished_job(smoke_store, capsys):
    rc = main(["run", "--method", "hnerv", "--preset", "smoke", "--epochs", "3", "--results", str(smoke_store),
               "--quiet"])
    assert rc == 0
    assert "(1 already in the store)" in capsys.readouterr().out


def test_load_gives_dataframe(smoke_store):
    df = results.load(smoke_store)
    assert len(df) == 1
    assert set(RECORD_FIELDS) <= set(df.columns)
    assert df.loc[0, "method"] == "hnerv" and df.loc[0, "psnr"] > 8


def test_reconstruction_reuses_trained_model(smoke_store):
    from nvbench.expand import RunRequest, expand
    from nvbench.jobrun import run_job
    from nvbench.results import Store

    (job,) = expand(RunRequest(methods=["hnerv"], preset="smoke", epochs=3))
    payload = run_job(job, Store(smoke_store))
    assert payload["records"][0]["reused_model"] is True
