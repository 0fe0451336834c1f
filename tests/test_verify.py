"""`nvbench verify BUNDLE` on a real smoke bundle (a NeRV .nvb job and an x265 job): the honest
bundle passes and the report marks its rows; an edited PSNR, a swapped file and a file whose decode
differs each fail with one line naming the record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nvbench.cli import main


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle") / "store"
    assert main(["run", "-m", "nerv,x265", "--task", "compression", "--preset", "smoke", "--threads", "1",
                 "--results", str(root), "--quiet"]) == 0
    return root


def _copy(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / "b"
    shutil.copytree(bundle, out, ignore=shutil.ignore_patterns("models", "verified.json"))
    return out


def _nerv_job(root: Path) -> tuple[Path, dict]:
    for p in sorted((root / "jobs").glob("*.json")):
        d = json.loads(p.read_text())
        if d["job"]["method"] == "nerv":
            return p, d
    raise AssertionError("no nerv job")


def _fails(root: Path, capsys: pytest.CaptureFixture) -> list[str]:
    assert main(["verify", str(root)]) == 1
    out = capsys.readouterr().out
    assert "rejected" in out
    return [ln for ln in out.splitlines() if ln.startswith("FAIL ")]


def test_honest_bundle_passes_and_report_marks_it(bundle: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    from nvbench.report.build import build_context

    root = _copy(bundle, tmp_path)
    assert main(["verify", str(root)]) == 0
    out = capsys.readouterr().out
    assert "accepted — 2/2 jobs pass, 11 file(s) re-decoded" in out and "FAIL" not in out
    stamp = json.loads((root / "verified.json").read_text())
    assert stamp["accepted"] and len(stamp["jobs"]) == 2 and stamp["tolerance"]["bytes"] == "exact"
    ctx = build_context(root, tmp_path, with_plots=False)
    assert all(r["verified"] for r in ctx["data"].records)
    assert len(ctx["data"].verified) == 2
    assert {r.method: r.verified for r in ctx["rankings"][0].rows} == {"nerv": True}  # x265 alone has no rank cell
    # a job edited after verification is no longer marked
    p, d = _nerv_job(root)
    d["records"][0]["ms_ssim"] = 0.99
    p.write_text(json.dumps(d))
    ctx = build_context(root, tmp_path, with_plots=False)
    assert {r.method: r.verified for r in ctx["rankings"][0].rows} == {"nerv": False}
    assert len(ctx["data"].verified) == 1


def test_edited_psnr_fails(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _copy(bundle, tmp_path)
    p, d = _nerv_job(root)
    rec = d["records"][2]
    rec["psnr"] += 0.5
    p.write_text(json.dumps(d))
    (line,) = _fails(root, capsys)
    assert line.startswith(f"FAIL {d['label']}/{rec['variant']}: decode differs: psnr claimed")
    assert not json.loads((root / "verified.json").read_text())["jobs"]


def test_swapped_file_fails(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _copy(bundle, tmp_path)
    _, d = _nerv_job(root)
    a, b = (root / "artifacts" / d["key"] / Path(r["file"]).name for r in (d["records"][0], d["records"][-1]))
    assert a.stat().st_size != b.stat().st_size
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    first, last = _fails(root, capsys)  # one line per record whose file is not the one it claims
    assert first.startswith(f"FAIL {d['label']}/{d['records'][0]['variant']}: file {a.name} has {len(db)} bytes")
    assert last.startswith(f"FAIL {d['label']}/{d['records'][-1]['variant']}: file {b.name} has {len(da)} bytes")


def test_file_whose_decode_differs_fails(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _copy(bundle, tmp_path)
    p, d = _nerv_job(root)
    recs = sorted(d["records"], key=lambda r: r["psnr"])
    lo, hi = recs[0], recs[-1]
    assert hi["psnr"] - lo["psnr"] > 0.05
    # hi's file now holds lo's bytes, and hi's record claims that size: bytes and bpp agree, the frames do not
    src = root / "artifacts" / d["key"] / Path(lo["file"]).name
    dst = root / "artifacts" / d["key"] / Path(hi["file"]).name
    dst.write_bytes(src.read_bytes())
    hi["file_bytes"], hi["bpp"] = lo["file_bytes"], lo["bpp"]
    p.write_text(json.dumps(d))
    (line,) = _fails(root, capsys)
    assert line.startswith(f"FAIL {d['label']}/{hi['variant']}: decode differs: psnr claimed")


def test_not_a_bundle_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["verify", str(tmp_path)]) == 2
    assert "not a results store" in capsys.readouterr().err


def test_report_frames_codec_beside_neural_at_matched_bpp(bundle: Path, tmp_path: Path) -> None:
    import math

    from nvbench.report.build import build_context

    ctx = build_context(_copy(bundle, tmp_path), tmp_path)
    (strip,) = [s for s in ctx["frames"] if s["what"].startswith("compression at matched bpp")]
    labels = [m["label"] for m in strip["methods"]]
    assert [lb.split()[0] for lb in labels] == ["nerv", "x265"] and "(codec)" in labels[1]
    target = float(strip["what"].split("target ")[1].split()[0])
    recs = [r for r in ctx["data"].records if r["method"] == "nerv"]
    shown = float(labels[0].split("· ")[1].split()[0])
    nearest = min(recs, key=lambda r: abs(math.log(r["bpp"] / target)))
    assert abs(nearest["bpp"] - shown) < 5e-5  # the nerv point nearest to the common target (labels: 4 decimals)
    assert all(m["decoded"].startswith("data:image/png;base64,") and m["psnr"] > 5 for m in strip["methods"])
