"""The record contract (nvbench.records): closed vocabularies that raise where a wrong word is
written, builders that give every record the common fields, real smoke records of every task that
validate against the typed record, and one DataFrame conversion that the CLI and the report share."""

from __future__ import annotations

import json

import pytest
from _task_fixtures import register

from nvbench.jobs import Job
from nvbench.records import (
    RECORD_FIELDS,
    SPLITS,
    STATUSES,
    RecordError,
    build_record,
    diverged_record,
    failed_record,
    normalise_record,
    not_applicable_record,
    ok_record,
    record_problems,
    records_frame,
)
from nvbench.results import Store, load

JOB = Job(method="hnerv", task="reconstruction", dataset="bunny", sequence="bunny", preset="smoke", size=3000,
          recipe="paper", seed=1, epochs=2, frames=8, crop=(720, 1280), resolution=(40, 80))


def test_vocabularies_are_closed_and_a_wrong_word_raises_where_it_is_written():
    assert STATUSES == ("ok", "not_applicable", "failed", "diverged")  # `unavailable`: nothing wrote it
    assert SPLITS == ("all", "seen", "held-out")  # the spelling the committed store holds
    with pytest.raises(RecordError, match="unavailible"):
        build_record(JOB, "unavailible")
    with pytest.raises(RecordError, match="held_out"):
        ok_record(JOB, split="held_out")
    with pytest.raises(RecordError, match="unavailable"):
        build_record(JOB, "unavailable")
    assert ok_record(JOB, split="held-out")["split"] == "held-out"


def test_base_record_raises_on_a_wrong_status_or_split():
    import numpy as np

    from nvbench.tasks.base import TaskContext
    from nvbench.video import Video

    video = Video(np.zeros((2, 40, 80, 3), np.uint8), name="bunny", dataset="bunny", colour="synthetic")
    ctx = TaskContext(job=JOB, method=_Method, video=video, store=Store("unused"), device="cpu", recipe=None)
    with pytest.raises(RecordError, match="'done'"):
        ctx.base_record(status="done")
    with pytest.raises(RecordError, match="'heldout'"):
        ctx.base_record(split="heldout")
    rec = ctx.base_record(psnr=30.0)
    assert record_problems(rec) == [] and rec["frames"] == 2 and rec["resolution"] == "40x80"


class _Method:
    """Just enough of a method for TaskContext.complexity (no plan: no MACs, with a reason)."""

    name = "stub"

    @staticmethod
    def plan(*_a, **_k):
        raise NotImplementedError("no plan")


def test_builders_give_every_common_field_and_keep_the_job_identity():
    for rec, status in ((ok_record(JOB, psnr=31.5), "ok"), (failed_record(JOB, "OSError: disk full"), "failed"),
                        (diverged_record(JOB, "loss is nan at epoch 3", epoch=3), "diverged"),
                        (not_applicable_record(JOB, "no INTERPOLATE"), "not_applicable")):
        assert record_problems(rec) == [], rec
        assert set(RECORD_FIELDS) <= set(rec) and rec["status"] == status
        assert (rec["method"], rec["task"], rec["size_target"], rec["seed"], rec["crop"], rec["resolution"]) == \
            ("hnerv", "reconstruction", 3000, 1, "720x1280", "40x80")
    assert failed_record(JOB, "boom")["height"] is None and failed_record(JOB, "boom")["reason"] == "boom"


def test_record_problems_names_each_wrong_field():
    rec = ok_record(JOB)
    assert record_problems({**rec, "status": "unavailable"}) and record_problems({**rec, "split": "held_out"})
    assert any("psnr" in p for p in record_problems({**rec, "psnr": "31"}))
    assert any("seed" in p for p in record_problems({**rec, "seed": True}))
    missing = dict(rec)
    del missing["bpp"]
    assert record_problems(missing) == ["lacks bpp"]
    assert record_problems({**rec, "my_metric": object()}) == []  # fields of plugins are free


def test_old_spellings_are_normalised_once_on_load(tmp_path):
    store = Store(tmp_path)
    old = {k: v for k, v in ok_record(JOB, psnr=20.0, task="interpolation").items() if k != "variant"}
    store.write("k1", {"job": {}, "records": [{**old, "split": "held_out"}, {"method": "m", "task": "t"}]})
    assert normalise_record({"split": "held_out"})["split"] == "held-out"
    df = load(tmp_path)
    assert list(df.columns[:len(RECORD_FIELDS)]) == list(RECORD_FIELDS)
    assert list(df["split"]) == ["held-out", "all"] and list(df["variant"]) == ["", ""]
    assert list(df["status"]) == ["ok", "ok"]
    assert list(records_frame([]).columns) == list(RECORD_FIELDS)
    from nvbench.report.data import load_report_data

    assert [r["split"] for r in load_report_data(tmp_path).records] == ["held-out", "all"]  # what ranking reads


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory):
    """One real smoke job per task (and the compression anchor the runner adds), through the CLI."""
    from nvbench.cli import main

    register()
    root = tmp_path_factory.mktemp("records") / "res"
    code = main(["run", "-m", "hnerv,neighbour-average,masked-input", "-t",
                 "reconstruction,compression,convergence,interpolation,inpainting", "-d", "tiny-smooth",
                 "--preset", "smoke", "--frames", "4", "--results", str(root), "-q", "--threads", "1",
                 "--set", "bits=8", "--set", "prune=0", "--set", "vmaf=false", "--set", "lpips=false"])
    assert code == 0
    return root


def test_every_task_writes_records_that_validate(smoke_store):
    recs = [r for _, payload, _ in Store(smoke_store).iter_jobs() for r in payload["records"]]
    assert {r["task"] for r in recs} == {"reconstruction", "compression", "convergence", "interpolation",
                                         "inpainting"}
    assert {r["task"] for r in recs if r["status"] == "ok"} == {r["task"] for r in recs}
    assert {r["status"] for r in recs} == {"ok", "not_applicable"}
    assert {r["split"] for r in recs} == set(SPLITS)
    assert any(r["method"] == "x265" and isinstance(r.get("quality"), int) for r in recs)  # the anchor codec
    assert any(r["method"] == "hnerv" and r["task"] == "compression" and r.get("bits") == 8 for r in recs)
    for r in recs:
        assert record_problems(r) == [], (r["method"], r["task"], record_problems(r))


def test_cli_and_report_read_the_same_frame(smoke_store):
    from nvbench.report.data import load_report_data

    cli = load(smoke_store)
    cli = cli[cli.status == "ok"].sort_values(["job_key", "variant", "split", "epoch"], na_position="first")
    report = load_report_data(smoke_store).frame()
    report = report.sort_values(["job_key", "variant", "split", "epoch"], na_position="first")
    assert len(cli) == len(report) > 0
    assert list(report.columns[:len(RECORD_FIELDS)]) == list(RECORD_FIELDS)
    a = cli[list(RECORD_FIELDS)].reset_index(drop=True)
    b = report[list(RECORD_FIELDS)].reset_index(drop=True)
    assert json.dumps(a.to_dict("records"), default=str) == json.dumps(b.to_dict("records"), default=str)


def test_point_labels_name_the_fields_tasks_write(smoke_store):
    from nvbench.records import Record
    from nvbench.report.aggregate import POINT_FIELDS, point_label

    assert set(POINT_FIELDS) <= set(Record.__annotations__)  # each one is a documented record field
    recs = [r for _, payload, _ in Store(smoke_store).iter_jobs() for r in payload["records"] if r["status"] == "ok"]
    label = {(r["method"], r["task"], r["variant"]): point_label(r) for r in recs}
    assert label["hnerv", "compression", "q8"] == "bits=8 embed_bits=8 prune_ratio=0.0 coder=range"
    assert label["x265", "compression", "q51"] == "quality=51 coder=x265"
    assert label["hnerv", "inpainting", ""] == "mask=disperse"
    assert label["hnerv", "reconstruction", ""] == ""


def test_committed_leaderboard_records_validate_and_verify_checks_the_type(tmp_path):
    from pathlib import Path

    from nvbench.verify import check_job

    jobs = sorted((Path(__file__).resolve().parents[1] / "reports/leaderboard/jobs").glob("*.json"))
    assert jobs
    for path in jobs:
        for rec in json.loads(path.read_text())["records"]:
            assert record_problems(rec) == [], (path.name, record_problems(rec))
    payload = json.loads(jobs[0].read_text())
    assert not [p for p in check_job(payload, payload["key"]) if p.startswith("record")]
    payload["records"][0] = {**payload["records"][0], "split": "held_out", "psnr": "31"}
    bad = [p for p in check_job(payload, payload["key"]) if p.startswith("record 0")]
    assert len(bad) == 1 and "split='held_out'" in bad[0] and "psnr='31'" in bad[0]
