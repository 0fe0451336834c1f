"""The first-screen ranking on a hand-made store whose answers are known: default size and variant
(never the best variant), mean over seeds, BD-rate against x265, the convergence point at 10 % of
the epochs, best per column, order, and the links from each cell to its detailed table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests_report_store import _rec, _write

from nvbench.report.build import build_context

JOB = {"epochs": 30, "preset": "cpu"}
SCHEDULE = (1, 2, 5, 10, 20, 30)
HB = [0.02, 0.04, 0.08, 0.12]
Q = [26.0, 28.0, 30.0, 31.5]


def _r(method: str, task: str, seed: int = 1, **kw: object) -> dict:
    kw.setdefault("size_target", 94000)
    kw.setdefault("epoch", 30)
    return _rec(method, task, seed, preset="cpu", height=160, width=320, resolution="160x320", **kw)


def make_rank_store(root: Path) -> Path:
    for seed, p, fps in ((1, 30.0, 100.0), (2, 32.0, 140.0)):
        _write(root, f"rec-hnerv-{seed}", [_r("hnerv", "reconstruction", seed, psnr=p, decode_fps=fps, recipe="hnerv",
                                               params=90000, macs_per_pixel=5000.0)], seed=seed, job=JOB)
    # runs under other conditions (another recipe, a time budget) are not the method's default: not ranked
    _write(root, "rec-hnerv-shared", [_r("hnerv", "reconstruction", psnr=40.0, recipe="shared", params=90000)], job=JOB)
    _write(root, "rec-hnerv-budget", [_r("hnerv", "reconstruction", psnr=41.0, recipe="hnerv", budget_seconds=60.0,
                                         params=90000)], job=JOB)
    _write(root, "rec-hnerv-188k", [_r("hnerv", "reconstruction", psnr=35.0, size_target=188000, params=180000,
                                       decode_fps=80.0, macs_per_pixel=9000.0)], job=JOB)  # not the default size
    _write(root, "rec-nerv-1", [_r("nerv", "reconstruction", psnr=28.0, decode_fps=500.0, params=93000,
                                   macs_per_pixel=3000.0)], job=JOB)
    # interpolation: hnerv's first declared variant (24 dB) is ranked, not its better second one (26 dB)
    _write(root, "int-hnerv-1", [_r("hnerv", "interpolation", split="seen", psnr=31.0),
                                 _r("hnerv", "interpolation", variant="interp-embed", split="held-out", psnr=24.0),
                                 _r("hnerv", "interpolation", variant="encode-frame", split="held-out", psnr=26.0)],
           job=JOB)
    _write(root, "int-nerv-1", [_r("nerv", "interpolation", variant="index", split="held-out", psnr=20.0)], job=JOB)
    _write(root, "int-avg-1", [_r("neighbour-average", "interpolation", split="held-out", psnr=25.0,
                                  size_target=None)], job=JOB)
    _write(root, "inp-hnerv-1", [_r("hnerv", "inpainting", mask="disperse", psnr=35.0, psnr_masked=21.0)], job=JOB)
    _write(root, "inp-cl-1", [_r("classical-inpaint", "inpainting", mask="disperse", psnr=33.0, psnr_masked=19.0,
                                 size_target=None)], job=JOB)
    # convergence: 10 % of 30 epochs = 3 -> the first evaluated epoch at or after it is 5
    for m, base in (("hnerv", 10.0), ("nerv", 5.0)):
        _write(root, f"conv-{m}-1", [_r(m, "convergence", epoch=e, psnr=base + e) for e in SCHEDULE], job=JOB)
    # compression: x265 spends 1.25x hnerv's bits and nerv 1.5x x265's at equal PSNR -> -20 % and +50 %
    for m, scale in (("hnerv", 1.0), ("x265", 1.25), ("nerv", 1.875)):
        _write(root, f"comp-{m}-1", [_r(m, "compression", bpp=b * scale, psnr=p, quant_bits=8 - i,
                                        size_target=None if m == "x265" else 94000)
                                     for i, (b, p) in enumerate(zip(HB, Q))], job=JOB)
    return root


@pytest.fixture(scope="module")
def ranking_ctx(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = make_rank_store(tmp_path_factory.mktemp("rank"))
    return build_context(root, root, with_plots=False)


def test_ranking_known_answers(ranking_ctx: dict) -> None:
    (rk,) = ranking_ctx["rankings"]
    assert (rk.dataset, rk.preset) == ("bunny", "cpu")
    keys = [c.key for c in rk.columns]
    assert keys == ["psnr", "bd_x265", "interp", "inpaint", "conv", "decode_fps", "macs_per_pixel", "params"]
    head = {c.key: c.header for c in rk.columns}
    assert head["psnr"] == "PSNR dB at 94k" and head["conv"] == "PSNR at epoch 5 (≥ 10%)"
    assert "at or after 10% of 30 epochs" in next(c.title for c in rk.columns if c.key == "conv")
    rows = {r.method: r for r in rk.rows}
    v = {(m, k): c.value for m, r in rows.items() for k, c in r.cells.items()}
    assert v["hnerv", "psnr"] == pytest.approx(31.0) and rows["hnerv"].cells["psnr"].n == 2
    assert v["hnerv", "decode_fps"] == pytest.approx(120.0) and v["hnerv", "macs_per_pixel"] == 5000.0
    assert v["hnerv", "params"] == 90000 and v["nerv", "psnr"] == 28.0
    assert v["hnerv", "bd_x265"] == pytest.approx(-20.0, abs=1e-6)
    assert v["nerv", "bd_x265"] == pytest.approx(50.0, abs=1e-6)
    assert v["x265", "bd_x265"] == 0.0 and rows["x265"].cells["bd_x265"].note == "anchor"
    assert v["hnerv", "interp"] == 24.0  # the default (first) variant, not the best one (26)
    assert v["nerv", "interp"] == 20.0 and v["neighbour-average", "interp"] == 25.0
    assert v["hnerv", "inpaint"] == 21.0 and v["classical-inpaint", "inpaint"] == 19.0
    assert v["hnerv", "conv"] == 15.0 and v["nerv", "conv"] == 10.0
    assert v["x265", "psnr"] is None and v["neighbour-average", "macs_per_pixel"] is None
    best = {k: sorted(m for m, r in rows.items() if r.cells[k].best) for k in keys}
    assert best == {"psnr": ["hnerv"], "bd_x265": ["hnerv"], "interp": ["neighbour-average"],
                    "inpaint": ["hnerv"], "conv": ["hnerv"], "decode_fps": ["nerv"], "macs_per_pixel": ["nerv"],
                    "params": []}
    assert [r.method for r in rk.rows] == ["hnerv", "nerv", "x265", "classical-inpaint", "neighbour-average"]
    fam = {m: r.family for m, r in rows.items()}
    assert fam == {"hnerv": "neural", "nerv": "neural", "x265": "codec", "classical-inpaint": "anchor",
                   "neighbour-average": "anchor"}


def test_ranking_first_screen_html(tmp_path: Path) -> None:
    from nvbench.report.build import write_html

    out, _ = write_html(make_rank_store(tmp_path / "s"), tmp_path / "r" / "index.html")
    html = out.read_text()
    assert html.index('id="rank-bunny-cpu"') < html.index('id="leaderboards"') < html.index('id="rd"')
    table = html[html.index('id="rank-bunny-cpu"'):html.index("</table>", html.index('id="rank-bunny-cpu"'))]
    bd = [float(x) for x in re.findall(r'data-col="bd_x265" data-v="([^"]+)"', table)]
    assert any(abs(x + 20.0) < 1e-9 for x in bd) and 'class="best"' in table
    ids = set(re.findall(r'id="([^"]+)"', html))
    targets = set(re.findall(r'href="#([^"]+)"', table))
    assert targets and targets <= ids, targets - ids  # every cell links to a table on the page
    assert "lb-reconstruction-bunny-cpu" in targets and "bd-x265" in targets
    # the detailed tables follow, collapsed
    assert re.search(r'<details class="board" id="lb-reconstruction-bunny-cpu">', html)


def test_ranking_in_text_report(ranking_ctx: dict) -> None:
    from nvbench.report.text import render_text

    text = render_text(ranking_ctx)
    line = next(ln for ln in text.splitlines() if ln.startswith("hnerv "))
    assert "31.00*" in line and "-20.00*" in line and "24.00" in line
