"""Rate-distortion curves and BD-rate / BD-PSNR against an anchor: the one path that the CLI
summary of the compression task, `nvbench compare` and the report (tables and ranking) all use.

The rule, in order:

1. Records: status ok, a finite bpp > 0 and a finite quality value (``metric``); within a job the
   last epoch of each point (`report.aggregate.final_records`).
2. Curve = one per (dataset, preset, sequence, working resolution, frames, method) — and per
   variant outside the compression task, where a variant is another model, not an RD point; in
   the compression task per run conditions instead (`conditions_variant`: `--recipe shared`,
   `--set pipeline=shared`), so a method's own and shared runs are separate curves.
   Resolution and frames are part of it so that an 8-frame and a 132-frame run never share a
   front, and the anchor is matched on the same keys.
3. Seeds: a point is identified by its label (variant / RD knob fields), size, split and run
   conditions (epochs, budget, recipe), and the k-th record by rate of a job that writes several
   with one label. Records of one point that differ only in seed are **averaged first** (bpp,
   quality, MS-SSIM), then the curve is the upper envelope (Pareto front) of those means. Why
   average first: pooling every seed's points into one front would pick, per rate, the luckiest
   seed — a best-of-N selection that grows with the number of seeds and is biased upwards, and it
   makes the number depend on how many seeds a store happens to hold. Averaging first gives the
   expected curve of one run, the same quantity the leaderboards' mean ± std report.
4. BD numbers come from nvbench.bdrate (PCHIP). BD-rate and BD-PSNR are computed independently
   (one integrates over quality, the other over rate); a delta whose range does not overlap is
   empty and says so. An "average" entry per (dataset, preset, method) with several sequences is
   the mean of the per-sequence values that exist.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nvbench.records.catalogue import DEFAULT_ANCHOR, DEFAULT_QUALITY
from nvbench.table import render, task_columns

#: run conditions that make two records different points rather than seeds of one point
CONDITION_FIELDS = ("epochs", "budget_seconds", "recipe")


@dataclass
class Curve:
    method: str
    variant: str
    dataset: str
    sequence: str
    preset: str
    bpp: list[float]
    psnr: list[float | None]
    ms_ssim: list[float | None]
    codec: bool = False
    resolution: str = ""  # HxW of the scored frames
    frames: Any = None
    metric: str = "psnr"
    quality: list[float] = field(default_factory=list)  # the BD axis (== psnr when metric is psnr)

    def __post_init__(self) -> None:
        if not self.quality and self.metric == "psnr":
            self.quality = [float(p) for p in self.psnr if p is not None]

    @property
    def name(self) -> str:
        return f"{self.method}{' ' + self.variant if self.variant else ''}"

    @property
    def match(self) -> tuple:
        """What an anchor curve must share with this one."""
        return (self.dataset, self.preset, self.sequence, self.resolution, str(self.frames))


@dataclass
class BDEntry:
    dataset: str
    preset: str
    sequence: str
    method: str
    bd_rate: float | None
    bd_psnr: float | None
    why: str = ""
    points: int | None = None  # points on the method's curve (None for an average)
    no_overlap: tuple[str, ...] = ()  # which of "bd_rate", "bd_psnr" had no common range


def pareto(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points (rate, quality) not beaten by a point of lower-or-equal rate, by rate."""
    front: list[tuple[float, float]] = []
    for rate, q in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or q > front[-1][1]:
            front.append((rate, q))
    return front


def conditions_variant(r: dict[str, Any]) -> str:
    """The curve variant of a compression record: empty under the method's own training recipe and
    its own compression pipeline (the curve that carries the method's name), else what differs
    (``recipe=shared``, ``pipeline=shared``), so that architecture and pipeline stay separate
    curves and a method's own and shared runs are never pooled into one front."""
    parts = []
    if r.get("recipe") == "shared":
        parts.append("recipe=shared")
    if r.get("pipeline") == "shared":
        parts.append("pipeline=shared")
    return " ".join(parts)


def _resolution(r: dict[str, Any]) -> str:
    if r.get("resolution"):
        return str(r["resolution"])
    return f"{r['height']}x{r['width']}" if r.get("height") and r.get("width") else ""


def rd_curves(records: Sequence[dict[str, Any]], metric: str = DEFAULT_QUALITY,
              codecs: set[str] | frozenset[str] = frozenset()) -> list[Curve]:
    """The curves of rule 1-3 (module docstring), sorted by their keys."""
    from nvbench.report.aggregate import final_records, is_number, mean_std, point_label

    per_job: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in final_records(records):
        if ((r.get("status") or "ok") == "ok" and is_number(r.get("bpp")) and is_number(r.get(metric))
                and r["bpp"] > 0):
            compression = r.get("task") == "compression"
            label = point_label(r) + (f" {r.get('variant')}" if compression else "")
            per_job[(r.get("job_key"), label, str(r.get("size_target")), str(r.get("split")),
                     *(str(r.get(f)) for f in CONDITION_FIELDS))].append(r)
    pts: dict[tuple, dict[tuple, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for (_, *point), rs in per_job.items():
        # the k-th point (by rate) of a job pairs with the k-th point of the other seeds' jobs
        for k, r in enumerate(sorted(rs, key=lambda r: r["bpp"])):
            variant = conditions_variant(r) if r.get("task") == "compression" else str(r.get("variant") or "")
            key = (str(r.get("dataset")), str(r.get("preset")), str(r.get("sequence")), _resolution(r),
                   str(r.get("frames")), str(r["method"]), variant)
            pts[key][(*point, k)].append(r)
    for buckets in pts.values():
        # several jobs of the same seed in one bucket are different points, not seeds to average
        for bk, rs in list(buckets.items()):
            seeds = [r.get("seed") for r in rs]
            if len(set(seeds)) < len(seeds):
                del buckets[bk]
                for r in rs:
                    buckets[bk + (r.get("job_key"),)].append(r)
    out = []
    for (ds, preset, seq, res, _frames, method, variant), by_point in sorted(pts.items()):
        means = []
        for rs in by_point.values():
            means.append(tuple(mean_std([r.get(f) for r in rs])[0] for f in ("bpp", metric, "psnr", "ms_ssim")))
        front = set(pareto([(m[0], m[1]) for m in means]))
        means = sorted((m for m in means if (m[0], m[1]) in front), key=lambda m: (m[0], m[1]))
        frames_v = next(iter(by_point.values()))[0].get("frames")
        out.append(Curve(method, variant, ds, seq, preset, [m[0] for m in means], [m[2] for m in means],
                         [m[3] for m in means], codec=method in codecs, resolution=res, frames=frames_v,
                         metric=metric, quality=[m[1] for m in means]))
    return out


def bd_entries(curves: Sequence[Curve], anchor: str) -> list[BDEntry]:
    """BD-rate (%) and BD-PSNR (dB for PSNR) of every curve against the anchor's curve with the
    same dataset, preset, sequence, resolution and frames; then one "average" entry per
    (dataset, preset, method) with several sequences. An empty cell says why in `why`."""
    from nvbench.bdrate import NoOverlapError, bd_psnr, bd_rate

    anchors = {c.match: c for c in curves if c.name == anchor}
    out = []
    for c in curves:
        if c.name == anchor:
            continue
        e = BDEntry(c.dataset, c.preset, c.sequence, c.name, None, None, points=len(c.bpp))
        a = anchors.get(c.match)
        if a is None:
            e.why = f"no {anchor} points for this sequence and preset"
            out.append(e)
            continue
        why, gaps = [], []
        for key, fn in (("bd_rate", bd_rate), ("bd_psnr", bd_psnr)):
            try:
                setattr(e, key, fn(a.bpp, a.quality, c.bpp, c.quality))
            except NoOverlapError as exc:
                gaps.append(key)
                why.append(str(exc))
            except ValueError as exc:
                why.append(str(exc))
        e.why, e.no_overlap = "; ".join(dict.fromkeys(why)), tuple(gaps)
        out.append(e)
    return out + bd_averages(out)


def bd_averages(entries: Sequence[BDEntry]) -> list[BDEntry]:
    """Per (dataset, preset, method) with several sequences: the mean of the per-sequence
    BD-rates and BD-PSNRs, over the sequences that have one."""
    by: dict[tuple[str, str, str], list[BDEntry]] = defaultdict(list)
    for e in entries:
        if e.sequence != "average":
            by[(e.dataset, e.preset, e.method)].append(e)
    out = []
    for (ds, preset, method), es in sorted(by.items()):
        if len({e.sequence for e in es}) < 2:
            continue
        rates = [e.bd_rate for e in es if e.bd_rate is not None]
        psnrs = [e.bd_psnr for e in es if e.bd_psnr is not None]
        out.append(BDEntry(ds, preset, "average", method, math.fsum(rates) / len(rates) if rates else None,
                           math.fsum(psnrs) / len(psnrs) if psnrs else None,
                           f"mean over {len(rates)} of {len(es)} sequences"))
    return out


def bd_rows(records: Sequence[dict[str, Any]], anchor: str = DEFAULT_ANCHOR,
            metric: str = DEFAULT_QUALITY) -> list[dict[str, Any]]:
    """The entries of `bd_entries` as terminal-table rows (sequence as dataset:sequence)."""
    rows = []
    for e in bd_entries(rd_curves(records, metric), anchor):
        row = {"sequence": e.sequence if e.sequence == "average" else f"{e.dataset}:{e.sequence}",
               "preset": e.preset, "method": e.method, "anchor": anchor, "points": e.points, "note": e.why}
        for key in ("bd_rate", "bd_psnr"):
            row[key] = "no overlap" if key in e.no_overlap else getattr(e, key)
        rows.append(row)
    return rows


BD_COLUMNS = [
    ("sequence", "sequence", 0), ("method", "method", 0), ("anchor", "anchor", 0), ("points", "points", 0),
    ("bd_rate", "BD-rate %", 2), ("bd_psnr", "BD-PSNR dB", 3), ("note", "note", 0),
]


def rd_table(records: Sequence[dict[str, Any]]) -> str:
    rows = [r for r in records if r.get("task") == "compression" and r.get("status") == "ok"]
    rows.sort(key=lambda r: (r.get("sequence") or "", r["method"], r.get("bpp") or 0))
    return render(rows, task_columns("compression", rows))  # the compression task's own columns


def bd_table(records: Sequence[dict[str, Any]], anchor: str = DEFAULT_ANCHOR, metric: str = DEFAULT_QUALITY) -> str:
    """The terminal BD table (the compression task's summary and `nvbench compare`)."""
    return render(bd_rows(records, anchor, metric), BD_COLUMNS)
