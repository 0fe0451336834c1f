"""Figures as inline SVG strings (seaborn on the records' DataFrame, matplotlib's Agg SVG backend)
and sample frames as PNG data URIs.

Everything the page shows is embedded: no file next to the HTML, no font or script fetched. One
colour per method on every figure of a page (hue = method), the line style and marker by family
(style = family: neural solid, codec dashed, anchor dotted, reported by the paper hollow markers).
The papers' points share our axes only when their dataset and resolution match ours; otherwise
they get their own panel, titled as reported.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from nvbench.records.catalogue import axis_label
from nvbench.report.aggregate import Curve, Trace, final_records, is_number, mean_std
from nvbench.report.paper_numbers import PAPER_RD, REPORTED

#: the quality axes, from the metric catalogue
PSNR_AXIS, MS_SSIM_AXIS = axis_label("psnr"), axis_label("ms_ssim")

#: 20 colours, far apart in hue and lightness (tab10 first, then Dark2/Set1-like ones): a page with
#: up to 20 method names never reuses a colour
_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
            "#bcbd22", "#7f7f7f", "#000000", "#e6ab02", "#1b9e77", "#a6cee3", "#6a3d9a", "#b2df8a",
            "#fdbf6f", "#843c39", "#cab2d6", "#393b79"]
PAPER = "reported by the paper"
#: family -> (marker, dashes)
FAMILY_STYLE: dict[str, tuple[str, Any]] = {"neural": ("o", ""), "codec": ("s", (4, 2)), "anchor": ("^", (1, 2)),
                                            PAPER: ("D", (1, 1.5))}
_HOLLOW = "D"  # the paper family's marker, drawn hollow


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    # text stays <text> (no glyph outlines: smaller, faster; the browser uses a local sans-serif font)
    plt.rcParams.update({"svg.hashsalt": "nvbench", "svg.fonttype": "none", "font.family": "sans-serif"})
    return plt


def _sns():
    _plt()
    import seaborn as sns

    return sns


def base_name(name: str) -> str:
    return name.split(" ")[0]


class Colours:
    """One colour per method name, stable across every figure of a page: all names are given
    up front and get distinct colours, the store's methods first (sorted), then the names only
    the papers' numbers use (`more`)."""

    def __init__(self, names: Sequence[str], more: Sequence[str] = ()):
        first = sorted({base_name(n) for n in names})
        rest = sorted({base_name(n) for n in more} - set(first))
        self._map = {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(first + rest)}

    def __call__(self, name: str) -> str:
        base = base_name(name)
        if base not in self._map:
            self._map[base] = _PALETTE[len(self._map) % len(_PALETTE)]
        return self._map[base]

    def palette(self, names: Sequence[str]) -> dict[str, str]:
        return {n: self(n) for n in names}


def to_svg(fig: Any, bottom: float = 0.2, right: float = 0.98) -> str:
    """The figure as an <svg> element (XML prologue and DOCTYPE removed for inlining)."""
    plt = _plt()
    buf = io.StringIO()
    # fixed margins instead of bbox_inches="tight", which draws every figure twice
    two_line = any("\n" in ax.get_title() for ax in fig.axes)
    fig.subplots_adjust(left=0.07 if len(fig.axes) > 1 else 0.1, right=right, bottom=bottom,
                        top=0.84 if two_line else 0.9, wspace=0.22)
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


def _styled_lines(ax: Any, df: Any, x: str, y: str, colours: Colours, legend: bool, everything: Any = None) -> None:
    """seaborn lineplot, hue = method, style = family; the paper family's markers hollow. The legend
    lists every method and family of `everything` (the figure's whole frame), not only this panel's."""
    sns = _sns()
    every = df if everything is None else everything
    fams = [f for f in FAMILY_STYLE if f in set(every["family"])]
    names = list(dict.fromkeys(every["method"]))
    sns.lineplot(data=df, x=x, y=y, hue="method", hue_order=names, style="family", style_order=fams,
                 palette=colours.palette(names), markers={f: FAMILY_STYLE[f][0] for f in fams},
                 dashes={f: FAMILY_STYLE[f][1] for f in fams}, estimator=None, sort=True, markersize=6.5,
                 linewidth=1.7, ax=ax, legend="full" if legend else False)
    handles = list(ax.lines)
    if legend and ax.get_legend() is not None:
        handles += list(ax.get_legend().legend_handles)
    for ln in handles:
        if hasattr(ln, "get_marker") and ln.get_marker() == _HOLLOW:
            ln.set_markeredgecolor(ln.get_color())
            ln.set_markerfacecolor("none")
            ln.set_markeredgewidth(1.6)


def _legend_outside(ax: Any) -> None:
    if ax.get_legend() is not None:
        _sns().move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8,
                           title_fontsize=8)


def curves_frame(curves: Sequence[Curve], families: dict[str, str] | None = None,
                 paper: Sequence[dict[str, Any]] = ()) -> Any:
    """One row per point: method, family, bpp, psnr, ms_ssim (ours, then the papers' points)."""
    import pandas as pd

    fam = families or {}
    rows = []
    for c in curves:
        family = fam.get(c.method, "codec" if c.codec else "neural")
        for b, p, m in zip(c.bpp, c.psnr, c.ms_ssim):
            rows.append({"method": c.name, "family": family, "bpp": b, "psnr": p, "ms_ssim": m})
    for pc in paper:
        for b, p, m in pc["points"]:
            name = pc["method"] if pc["label"] in (pc["method"], "") else f"{pc['method']} · {pc['label']}"
            rows.append({"method": f"{name} (paper)", "family": PAPER, "bpp": b, "psnr": p, "ms_ssim": m})
    return pd.DataFrame(rows, columns=["method", "family", "bpp", "psnr", "ms_ssim"])


def matching_paper_curves(dataset: str, resolution: str) -> list[dict[str, Any]]:
    """The published curves measured on the same dataset at the same resolution as ours."""
    return [p for p in PAPER_RD if p["dataset"] == dataset and resolution and p["resolution"] == resolution]


def rd_figure(curves: Sequence[Curve], title: str, colours: Colours, families: dict[str, str] | None = None,
              paper: Sequence[dict[str, Any]] = ()) -> str:
    """PSNR (large) and MS-SSIM against bpp for the curves of one sequence (or the average), with
    the papers' points of the same conditions as hollow markers on the same axes."""
    plt = _plt()
    df = curves_frame(curves, families, paper)
    has_ssim = df["ms_ssim"].notna().any()
    fig, axes = plt.subplots(1, 2 if has_ssim else 1, figsize=(13.5 if has_ssim else 9, 5.2), squeeze=False,
                             gridspec_kw={"width_ratios": [1.35, 1]} if has_ssim else None)
    _styled_lines(axes[0][0], df, "bpp", "psnr", colours, legend=not has_ssim)
    axes[0][0].set(xlabel="bpp (file bytes)", ylabel=PSNR_AXIS, title=f"{title}: PSNR")
    if has_ssim:
        _styled_lines(axes[0][1], df.dropna(subset=["ms_ssim"]), "bpp", "ms_ssim", colours, legend=True, everything=df)
        axes[0][1].set(xlabel="bpp (file bytes)", ylabel=MS_SSIM_AXIS, title=f"{title}: MS-SSIM")
    _legend_outside(axes[0][-1])
    return to_svg(fig, bottom=0.12, right=0.84)


def paper_rd_figure(dataset: str, colours: Colours, curves: Sequence[dict[str, Any]] | None = None) -> str | None:
    """The published curves of a dataset that share no axes with ours, in their own panel."""
    sets = list(curves) if curves is not None else [p for p in PAPER_RD if p["dataset"] == dataset]
    if not sets:
        return None
    plt = _plt()
    df = curves_frame([], None, sets)
    fig, ax = plt.subplots(figsize=(9, 5.2))
    _styled_lines(ax, df, "bpp", "psnr", colours, legend=True)
    res = sorted({p["resolution"] or "resolution not stated" for p in sets})
    ax.set(xlabel="bpp", ylabel=PSNR_AXIS, title=f"{dataset} ({', '.join(res)}): {REPORTED}")
    _legend_outside(ax)
    return to_svg(fig, bottom=0.12, right=0.72)


def paper_complexity_figure(colours: Colours) -> str | None:
    """The published curves that quote MACs per pixel: PSNR of their lowest- and highest-rate points
    at the quoted min and max MACs (as C3's baselines file assigns them: the smallest model makes the
    lowest-rate point), one panel per dataset, hollow markers."""
    import pandas as pd

    rows = []
    for p in PAPER_RD:
        m = p.get("macs_per_pixel") or {}
        pts = sorted(p["points"])
        name = p["method"] if p["label"] in (p["method"], "") else f"{p['method']} · {p['label']}"
        for macs, pt in ((m.get("min"), pts[0]), (m.get("max"), pts[-1])):
            if is_number(macs) and macs > 0:
                rows.append({"method": f"{name} (paper)", "family": PAPER, "macs": float(macs), "psnr": pt[1],
                             "dataset": p["dataset"]})
    if not rows:
        return None
    plt = _plt()
    df = pd.DataFrame(rows)
    sets = sorted(df["dataset"].unique())
    fig, axes = plt.subplots(1, len(sets), figsize=(6.5 * len(sets) + 2, 4.8), squeeze=False)
    for i, (ax, ds) in enumerate(zip(axes[0], sets)):
        _styled_lines(ax, df[df["dataset"] == ds], "macs", "psnr", colours, legend=i == len(sets) - 1)
        ax.set_xscale("log")
        ax.set(xlabel="decoder MACs per pixel (as published)", ylabel=PSNR_AXIS, title=f"{ds}: {REPORTED}")
    _legend_outside(axes[0][-1])
    return to_svg(fig, bottom=0.14, right=0.72)


def complexity_figure(points: Sequence[dict[str, Any]], title: str, colours: Colours) -> str | None:
    """RD against complexity: PSNR (reconstruction, each size) and BD-rate against the anchor
    (compression) over the decoder's MACs per pixel (log axis). points: dicts with method,
    family, macs, and psnr or bd_rate; the papers' MACs (with their published curve's label) are
    marked on the x axis of the BD panel as hollow ticks."""
    pts = [p for p in points if is_number(p.get("macs")) and p["macs"] > 0]
    if not pts:
        return None
    import pandas as pd

    plt = _plt()
    df = pd.DataFrame(pts)
    panels = [c for c in ("psnr", "bd_rate") if c in df.columns and df[c].notna().any()]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels) + 2, 4.8), squeeze=False)
    labels = {"psnr": f"reconstruction {PSNR_AXIS}", "bd_rate": "BD-rate vs anchor (%)"}
    for i, (ax, col) in enumerate(zip(axes[0], panels)):
        d = df.dropna(subset=[col])
        _styled_lines(ax, d, "macs", col, colours, legend=i == len(panels) - 1, everything=df)
        ax.set_xscale("log")
        ax.set(xlabel="decoder MACs per pixel", ylabel=labels[col], title=f"{title}: {labels[col]}")
    _legend_outside(axes[0][-1])
    return to_svg(fig, bottom=0.14, right=0.82)


def convergence_figure(traces: Sequence[Trace], title: str, colours: Colours) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for t in traces:
        col = colours(t.label)
        axes[0].plot(t.epochs, t.psnr, marker="o", ms=3, color=col, label=t.label)
        pts = [(s, p) for s, p in zip(t.seconds, t.psnr) if s is not None]
        if pts:
            axes[1].plot([q[0] for q in pts], [q[1] for q in pts], marker="o", ms=3, color=col, label=t.label)
    axes[0].set(xlabel="epoch", ylabel=PSNR_AXIS, title=f"{title}: PSNR vs epoch")
    axes[1].set(xlabel="training wall-clock (s)", ylabel=PSNR_AXIS, title=f"{title}: PSNR vs time")
    axes[0].legend(fontsize=7)
    return to_svg(fig)


def paper_lines_figure(table: dict[str, Any], xlabel: str, colours: Colours, logx: bool = False) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    n = len(table["x"])
    for name, vals in table["rows"].items():
        ax.plot(table["x"], vals[:n], marker="s", ms=3.5, ls=":", color=colours(name), label=name)
    if logx:
        _log_x(ax, table["x"])
    source = table["source"] if len(table["source"]) <= 60 else table["source"][:57] + "..."
    ax.set(xlabel=xlabel, ylabel=PSNR_AXIS, title=f"{source}\n{REPORTED}")
    ax.legend(fontsize=7)
    return to_svg(fig)


def _log_x(ax: Any, ticks: Sequence[float]) -> None:
    """Log x axis labelled at the data's own values (no crowded minor labels)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(list(ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _short(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def params_figure(records: Sequence[dict[str, Any]], title: str, colours: Colours) -> str | None:
    """PSNR against stored parameters, one line per method (mean over seeds per size)."""
    by: dict[str, dict[Any, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in final_records(records):
        if is_number(r.get("params")) and is_number(r.get("psnr")):
            name = r["method"] + (f" {r['variant']}" if r.get("variant") else "")
            by[name][r.get("size_target")].append(r)
    if not by:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for name, sizes in sorted(by.items()):
        pts = sorted((mean_std([r["params"] for r in rs])[0], mean_std([r["psnr"] for r in rs])[0])
                     for rs in sizes.values())
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=4, color=colours(name), label=name)
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="stored parameters", ylabel=PSNR_AXIS, title=f"{title}: PSNR vs parameters")
    ax.legend(fontsize=7)
    return to_svg(fig)


def bars_figure(groups: dict[str, dict[str, float]], title: str, ylabel: str, colours: Colours,
                reported: bool = False) -> str | None:
    """Grouped bars: groups[name][series] = value (e.g. method -> split -> PSNR)."""
    if not groups:
        return None
    plt = _plt()
    series = sorted({s for g in groups.values() for s in g})
    names = list(groups)
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(names) + 2), 3.4))
    hatches = ["", "//", "xx", "\\\\", "--"]  # no dot hatches: each is a 60 KB SVG pattern
    for j, s in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(names))]
        vals = [groups[n].get(s, math.nan) for n in names]
        ax.bar(xs, vals, width * 0.95, color=[colours(n) for n in names], hatch=hatches[j % len(hatches)],
               edgecolor="black", lw=0.4, label=s)
        for x, v in zip(xs, vals):
            if is_number(v):
                ax.text(x, v, f"{v:.2f}", ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    finite = [v for g in groups.values() for v in g.values() if is_number(v)]
    if finite:
        ax.set_ylim(max(0.0, min(finite) - 3), max(finite) + 2)
    ax.set(ylabel=ylabel, title=title + (f"\n{REPORTED}" if reported else ""))
    if len(series) > 1:
        ax.legend(fontsize=7)
    return to_svg(fig, bottom=0.3)


# --- sample frames --------------------------------------------------------------------------
def png_data_uri(img: np.ndarray) -> str:
    """uint8 (H,W,3) or float (H,W) in [0,1] -> data:image/png;base64,..."""
    import matplotlib.image as mpimg

    buf = io.BytesIO()
    if img.ndim == 2:
        mpimg.imsave(buf, img, cmap="magma", vmin=0.0, vmax=1.0, format="png")
    else:
        mpimg.imsave(buf, np.ascontiguousarray(img), format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _shrink(img: np.ndarray, max_width: int = 480) -> np.ndarray:
    step = max(1, math.ceil(img.shape[1] / max_width))
    return img[::step, ::step]


def load_samples(path: Any) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in ("indices", "decoded", "truth")}
    except (OSError, KeyError, ValueError):
        return None
    if out["decoded"].shape != out["truth"].shape or out["decoded"].ndim != 4 or not len(out["indices"]):
        return None
    return out


def frame_strip(entries: Sequence[tuple[str, Any]], gain: float = 4.0) -> dict[str, Any] | None:
    """entries: (label, samples.npz path) of methods on the same video. Picks the middle saved
    frame they all have; returns the ground truth and, per method, decoded frame, error map
    (|error| x gain, magma) and the frame's PSNR."""
    loaded = [(label, load_samples(p)) for label, p in entries]
    loaded = [(label, s) for label, s in loaded if s is not None]
    if not loaded:
        return None
    common = set(int(i) for i in loaded[0][1]["indices"])
    for _, s in loaded[1:]:
        common &= set(int(i) for i in s["indices"])
    if not common:
        return None
    idx = sorted(common)[len(common) // 2]
    frames = []
    truth = None
    for label, s in loaded:
        pos = [int(i) for i in s["indices"]].index(idx)
        truth = s["truth"][pos] if truth is None else truth
        frames.append((label, s["decoded"][pos]))
    return strip_from_frames(truth, frames, idx, gain)


def strip_from_frames(truth: np.ndarray, frames: Sequence[tuple[str, np.ndarray]], idx: int,
                      gain: float = 4.0) -> dict[str, Any]:
    """The ground truth and, per (label, decoded uint8 frame), the frame, its error map (|error| x
    gain, magma) and its PSNR, as data URIs."""
    methods = []
    for label, dec in frames:
        err = np.abs(dec.astype(np.float32) - truth.astype(np.float32)).mean(-1) / 255.0
        mse = float((((dec.astype(np.float64) - truth.astype(np.float64)) / 255.0) ** 2).mean())
        psnr = math.inf if mse == 0 else 10 * math.log10(1.0 / mse)
        methods.append({"label": label, "decoded": png_data_uri(_shrink(dec)),
                        "error": png_data_uri(np.clip(_shrink(err) * gain, 0, 1)), "psnr": psnr})
    return {"index": idx, "truth": png_data_uri(_shrink(truth)), "methods": methods, "gain": gain}
