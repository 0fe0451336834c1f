"""The seaborn figures: one distinct colour per method on every figure, codecs dashed, the papers'
points as hollow markers on our axes only when dataset and resolution match, an RD-vs-complexity
figure from macs_per_pixel."""

from __future__ import annotations

import re
from pathlib import Path

from test_report_ranking import make_rank_store

from nvbench.report import plots
from nvbench.report.aggregate import Curve
from nvbench.report.paper_numbers import PAPER_RD


def test_colours_distinct_and_stable() -> None:
    names = ["hnerv", "nerv", "nerv-hnerv", "enerv", "autoencoder", "x264", "x265", "svtav1", "neighbour-average",
             "masked-input", "classical-inpaint"]
    c = plots.Colours(names, ["DCVC", "IIVI", "hnerv (interp-embed)"])
    cols = [c(n) for n in names]
    assert len(set(cols)) == len(names)  # the autoencoder and x265 no longer share a blue
    assert c("hnerv (interp-embed)") == c("hnerv") and c("hnerv (paper)") == c("hnerv")
    assert c("DCVC") not in cols and c("IIVI") not in cols


def test_rd_figure_styles_and_paper_overlay() -> None:
    hnerv = next(p for p in PAPER_RD if p["id"] == "hnerv_uvg")
    curves = [Curve("hnerv", "", "uvg", "average", "paper", [0.02, 0.05], [33.0, 35.0], [None, None],
                    resolution=hnerv["resolution"]),
              Curve("x265", "", "uvg", "average", "paper", [0.02, 0.05], [32.0, 34.0], [None, None], codec=True,
                    resolution=hnerv["resolution"])]
    assert hnerv in plots.matching_paper_curves("uvg", hnerv["resolution"])
    assert not plots.matching_paper_curves("uvg", "160x320")
    colours = plots.Colours(["hnerv", "x265"])
    svg = plots.rd_figure(curves, "uvg/average", colours, {"hnerv": "neural", "x265": "codec"}, [hnerv])
    assert svg.startswith("<svg") and "reported by the paper" in svg
    x265 = colours("x265")
    dashed = re.findall(r'<path d="[^"]*"[^>]*style="[^"]*stroke-dasharray[^"]*stroke: ?' + x265, svg)
    assert dashed, "the codec's line is dashed"
    # hollow markers of the paper family: no fill, edge in the method's colour
    hollow = re.findall(r'style="fill: ?none[^"]*stroke: ?' + colours("hnerv"), svg)
    assert hollow


def test_complexity_figure_in_page(tmp_path: Path) -> None:
    from nvbench.report.build import write_html

    out, ctx = write_html(make_rank_store(tmp_path / "s"), tmp_path / "r" / "index.html")
    figs = {f["id"]: f for f in ctx["figures"]["complexity"]}
    fig = figs["complexity-bunny-cpu"]
    assert fig["svg"].startswith("<svg") and "decoder MACs per pixel" in fig["svg"] and not fig["reported"]
    for m in ("hnerv", "nerv"):  # both methods in the legend (hnerv has two sizes, nerv one)
        assert f">{m}</text>" in fig["svg"]
    quoted = [p for p in PAPER_RD if (p.get("macs_per_pixel") or {}).get("max")]
    assert ("complexity-paper" in figs) == bool(quoted)
    if quoted:
        assert figs["complexity-paper"]["reported"] and quoted[0]["label"] in figs["complexity-paper"]["caption"]
    html = out.read_text()
    assert 'data-plot="complexity-bunny-cpu"' in html
