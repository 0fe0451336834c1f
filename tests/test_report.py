"""Report aggregation on hand-made stores with known answers, BD-rate, bad input, exports, CLI."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import re
from pathlib import Path

import pytest
from tests_report_store import COMMIT, make_store

from nvbench.bdrate import NoOverlapError, bd_psnr, bd_rate, pchip_integral
from nvbench.report import aggregate as agg
from nvbench.report.data import load_report_data
from nvbench.report.paper_numbers import PAPER_RD, PAPER_TABLES, REPORTED


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    return make_store(tmp_path_factory.mktemp("store"))


def _board(boards: list[agg.Leaderboard], task: str, preset: str = "smoke") -> agg.Leaderboard:
    return next(b for b in boards if b.task == task and b.preset == preset)


def _row(board: agg.Leaderboard, **keys: object) -> agg.Row:
    rows = [r for r in board.rows if all(r.keys.get(k) == v for k, v in keys.items())]
    assert len(rows) == 1, (keys, [r.keys for r in board.rows])
    return rows[0]


def test_leaderboard_mean_std_best(store: tuple[Path, dict]) -> None:
    data = load_report_data(store[0])
    boards = agg.leaderboards(data.records)
    rec = _board(boards, "reconstruction")
    h = _row(rec, method="hnerv")
    assert h.cells["psnr"].mean == pytest.approx(31.0)
    assert h.cells["psnr"].std == pytest.approx(math.sqrt(2.0))  # sample std of 30, 32
    assert h.cells["psnr"].n == 2 and sorted(h.seeds) == [1, 2]
    assert h.cells["decode_fps"].mean == pytest.approx(120.0)
    assert h.cells["ms_ssim"].mean == pytest.approx(0.915)
    n = _row(rec, method="nerv")
    assert n.cells["psnr"].std == pytest.approx(math.sqrt(0.5))
    e = _row(rec, method="enerv")
    assert e.cells["psnr"].std is None and e.cells["psnr"].n == 1 and e.cells["ms_ssim"].mean is None
    # best: higher PSNR/fps, lower train time; params has no direction and is never bold
    assert [r.keys["method"] for r in rec.rows if r.cells["psnr"].best] == ["hnerv"]
    assert [r.keys["method"] for r in rec.rows if r.cells["decode_fps"].best] == ["nerv"]
    assert [r.keys["method"] for r in rec.rows if r.cells["train_seconds"].best] == ["nerv"]
    assert not any(r.cells["params"].best for r in rec.rows)
    assert [r.keys["method"] for r in rec.rows] == ["hnerv", "nerv", "enerv"]  # sorted by PSNR
    assert {c[0]: c[2] for c in rec.columns}["bpp" if "bpp" in rec.columns else "psnr"] == agg.UP
    # convergence: the leaderboard keeps each job's last epoch (5): PSNR 26 and 27 -> 26.5
    conv = _row(_board(boards, "convergence"), method="hnerv")
    assert conv.cells["psnr"].mean == pytest.approx(26.5) and conv.cells["train_seconds"].mean == 15.0
    # mixed presets stay apart: the older-schema cpu job has its own board
    assert _row(_board(boards, "reconstruction", "cpu"), method="enerv").cells["psnr"].mean == 25.5
    # variants and splits are separate rows; extra psnr_* columns appear with an up arrow
    interp = _board(boards, "interpolation")
    assert _row(interp, variant="encode-frame", split="held-out").cells["psnr"].mean == 25.0
    inp = _board(boards, "inpainting")
    assert ("psnr_masked", "PSNR masked", agg.UP, 2) in inp.columns
    assert _row(inp, method="hnerv").keys["point"] == "mask=disperse"


def test_runs_with_other_epochs_are_not_averaged_as_seeds() -> None:
    recs = [{"method": "m", "task": "reconstruction", "dataset": "d", "preset": "cpu", "seed": 1, "psnr": p,
             "epochs": e, "recipe": "own", "job_key": f"k{e}", "split": "all", "variant": ""}
            for e, p in ((30, 20.0), (300, 30.0))]
    recs.append({**recs[0], "method": "other", "recipe": "theirs", "job_key": "o", "psnr": 25.0})
    board = agg.leaderboards(recs)[0]
    assert "epochs" in board.key_columns and "recipe" not in board.key_columns
    assert sorted(r.cells["psnr"].mean for r in board.rows if r.keys["method"] == "m") == [20.0, 30.0]


def test_left_out_and_notes(store: tuple[Path, dict]) -> None:
    data = load_report_data(store[0])
    statuses = sorted(item.status for item in data.left_out)
    assert statuses == ["diverged", "failed", "not_applicable", "schema", "unreadable"]
    reasons = {item.status: item.reason for item in data.left_out}
    assert "RuntimeError: boom" in reasons["failed"] and "newer" in reasons["schema"]
    assert any("older schema 0" in n for n in data.notes)
    assert any("mixes presets (cpu, smoke)" in n for n in data.notes)
    assert all(r["psnr"] != 99.0 for r in data.records)  # the newer-schema job is not read
    assert {r["method"] for r in data.records} == store[1]["methods"]


def test_rd_curves_and_bd_rate_against_anchor(store: tuple[Path, dict]) -> None:
    data = load_report_data(store[0])
    curves = agg.rd_curves(data.records, codecs={"x265"})
    names = {c.name: c for c in curves}
    assert names["x265"].codec and not names["hnerv"].codec
    assert names["hnerv"].bpp == [0.02, 0.04, 0.08, 0.12]
    assert agg.pick_anchor(curves, None) == "x265"
    bd = agg.bd_entries(curves, "x265")
    assert len(bd) == 1 and bd[0].method == "hnerv"
    assert bd[0].bd_rate == pytest.approx(-20.0, abs=1e-9)  # x265 needs 1.25x the bits: hnerv saves 20 %
    assert bd[0].bd_psnr > 0


def test_bd_averages() -> None:
    es = [agg.BDEntry("d", "cpu", s, "m", r, p) for s, r, p in (("a", -10.0, 0.5), ("b", -30.0, 1.5),
                                                                   ("c", None, None))]
    avg = agg.bd_averages(es)
    assert len(avg) == 1 and avg[0].sequence == "average"
    assert avg[0].bd_rate == pytest.approx(-20.0) and avg[0].bd_psnr == pytest.approx(1.0)
    assert avg[0].why == "mean over 2 of 3 sequences"


def test_average_curves_over_sequences() -> None:
    recs = []
    for seq, off in (("a", 0.0), ("b", 2.0)):
        for i, (b, p) in enumerate(((0.1, 30.0), (0.2, 32.0))):
            recs.append({"method": "m", "task": "compression", "dataset": "d", "preset": "cpu", "sequence": seq,
                         "bpp": b * (1 + off), "psnr": p + off, "ms_ssim": None, "job_key": f"{seq}{i}",
                         "split": "all", "variant": ""})
    avg = agg.average_curves(agg.rd_curves(recs))
    assert len(avg) == 1 and avg[0].sequence == "average"
    assert avg[0].bpp == pytest.approx([0.2, 0.4]) and avg[0].psnr == pytest.approx([31.0, 33.0])


NERV_UVG = next(p for p in PAPER_RD if p["id"] == "nerv_uvg")["points"]
HNERV_UVG = next(p for p in PAPER_RD if p["id"] == "hnerv_uvg")["points"]


def test_bd_rate_known_answers() -> None:
    rate, psnr = [p[0] for p in NERV_UVG], [p[1] for p in NERV_UVG]
    # a curve needing half the bits everywhere: exactly -50 %; the same curve: 0
    assert bd_rate(rate, psnr, [r / 2 for r in rate], psnr) == pytest.approx(-50.0, abs=1e-9)
    assert bd_rate(rate, psnr, rate, psnr) == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(rate, psnr, rate, [q + 0.75 for q in psnr]) == pytest.approx(0.75, abs=1e-9)
    # PCHIP integrates a straight line exactly
    assert pchip_integral([0, 1, 3], [0, 2, 6], 0.5, 2.5) == pytest.approx(6.0)
    # the published HNeRV UVG points against NeRV's published curve: HNeRV saves bits
    h = bd_rate(rate, psnr, [p[0] for p in HNERV_UVG], [p[1] for p in HNERV_UVG])
    assert -60 < h < -20
    with pytest.raises(NoOverlapError):
        bd_rate([0.1, 0.2], [30, 31], [0.1, 0.2], [40, 41])


def test_bd_rate_published_example_and_scipy() -> None:
    # FAU-LMS bjontegaard test data (x265 presets). Its cubic (VCEG-M33) BD-rate is -4.4205 %;
    # PCHIP lands close to it, as the package documents for well-behaved curves.
    ra, pa = [9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851]
    rt, pt = [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987]
    assert bd_rate(ra, pa, rt, pt) == pytest.approx(-4.4205, abs=0.01)
    scipy = pytest.importorskip("scipy.interpolate")
    import numpy as np

    ref = scipy.PchipInterpolator(np.array(pt[::-1]), np.log10(rt[::-1])).integrate(36.0, 40.0) \
        - scipy.PchipInterpolator(np.array(pa[::-1]), np.log10(ra[::-1])).integrate(36.0, 40.0)
    ours = pchip_integral(pt[::-1], np.log10(rt[::-1]), 36.0, 40.0) - pchip_integral(pa[::-1], np.log10(ra[::-1]),
                                                                                         36.0, 40.0)
    assert ours == pytest.approx(ref, abs=1e-12)


@pytest.fixture(scope="module")
def page(store: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from nvbench.report.build import write_html

    return write_html(store[0], tmp_path_factory.mktemp("r") / "index.html")


def test_html_page(store: tuple[Path, dict], page: tuple[Path, dict]) -> None:
    out, ctx = page
    html = out.read_text()
    for pid in store[1]["plots"]:
        assert f'data-plot="{pid}"' in html
    assert html.count("<svg") == sum(len(v) for v in ctx["figures"].values())
    urls = set(re.findall(r'(?:src|href)="([^"]+)"', html))
    assert all(u.startswith(("data:", "#", "../")) for u in urls), urls
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet|@import|url\(http", html)
    links = [u for u in urls if u.endswith("jobs/rec-hnerv-1.json")]  # each row links its job JSON
    assert len(links) == 1 and (out.parent / links[0]).resolve() == (store[0] / "jobs/rec-hnerv-1.json").resolve()
    assert html.count("data:image/png;base64,") == 5  # truth + 2 x (decoded, error)
    assert REPORTED in html and COMMIT in html and "BT.601" in html
    assert all(f'data-paper="{t["id"]}"' in html for t in PAPER_TABLES)
    assert "-20.00" in html  # the BD-rate cell


def test_empty_and_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from nvbench.cli import main
    from nvbench.report.build import build_context
    from nvbench.report.text import render_text

    (tmp_path / "empty" / "jobs").mkdir(parents=True)
    out = tmp_path / "out" / "index.html"
    assert main(["report", "--results", str(tmp_path / "empty"), "--out", str(out), "--no-export"]) == 0
    assert "wrote" in capsys.readouterr().out
    html = out.read_text()
    assert 'id="no-results"' in html and "nvbench run" in html
    assert 'data-plot="params-paper-bunny"' in html  # the papers' numbers still show
    ctx = build_context(tmp_path / "missing", tmp_path, with_plots=False)
    assert ctx["boards"] == [] and "does not exist" in render_text(ctx)


def test_cli_text_and_exports(store: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from nvbench.cli import main

    out = tmp_path / "rep" / "index.html"
    assert main(["report", "--results", str(store[0]), "--out", str(out), "--format", "text"]) == 0
    text = capsys.readouterr().out
    assert "31.00 ± 1.41*" in text and "BD-rate against x265" in text and "-20.00 %" in text
    assert "bad-failed: failed: RuntimeError: boom" in text
    rows = list(csv.DictReader((tmp_path / "rep" / "results.csv").open()))
    assert len(rows) == len(load_report_data(store[0]).records)
    rd = json.loads((tmp_path / "rep" / "rd" / "bunny-bunny-smoke-hnerv.json").read_text())
    assert set(rd) == {"name", "description", "results"} and rd["name"] == "hnerv"
    assert rd["results"]["bpp"] == [0.02, 0.04, 0.08, 0.12] and len(rd["results"]["ms-ssim-rgb"]) == 4
    if importlib.util.find_spec("pyarrow") is not None:
        import pandas as pd

        try:
            frame = pd.read_parquet(tmp_path / "rep" / "results.parquet")
        except ImportError:  # a pyarrow built for numpy 2 on a numpy 1 install
            pass
        else:
            assert len(frame) == len(rows) and set(frame["method"]) == store[1]["methods"]
    plot = pytest.importorskip("compressai.utils.plot.__main__")
    parsed = plot.parse_json_file(tmp_path / "rep" / "rd" / "bunny-bunny-smoke-x265.json", "psnr")
    assert parsed["name"] == "x265" and parsed["ys"] == [26.0, 28.0, 30.0, 31.5]


def test_published_curves_carry_provenance() -> None:
    from nvbench.report.paper_numbers import CURVE_FIELDS, OBTAINED, TYPES, paper_curve

    ids = [p["id"] for p in PAPER_RD]
    assert len(ids) == len(set(ids)), "published curve ids must be unique"
    for p in PAPER_RD:
        assert set(CURVE_FIELDS) <= set(p), p["id"]
        assert p["obtained"] in OBTAINED and p["type"] in TYPES and p["reported"] == REPORTED
        assert p["source"] and p["conditions"] and p["points"]
        assert all(b > 0 for b, *_ in p["points"])
    with pytest.raises(ValueError, match="obtained must be one of"):
        paper_curve(id="x", method="m", dataset="uvg", resolution="1080x1920", type="classical", source="s",
                    obtained="guessed", conditions="c", points=[(0.1, 30.0, None)])
    with pytest.raises(ValueError, match="resolution must be HxW"):
        paper_curve(id="x", method="m", dataset="uvg", resolution="1080p", type="classical", source="s",
                    obtained="table", conditions="c", points=[(0.1, 30.0, None)])
