"""Aggregation: leaderboards (mean ± std over seeds, best per column), averaged RD curves; the RD curves
and BD entries themselves come from nvbench.rd (re-exported here for the report).

Pure Python + numpy on the records of `data.load_report_data`; every number in the report
comes from here, so the tests check these functions against hand-made stores.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nvbench.rd import BDEntry as BDEntry  # re-exported: the report's one BD path
from nvbench.rd import Curve as Curve
from nvbench.rd import bd_averages as bd_averages
from nvbench.rd import bd_entries as bd_entries
from nvbench.rd import rd_curves as rd_curves
from nvbench.records.catalogue import DEFAULT_ANCHOR, Metric, board_metrics, metric

UP, DOWN, NONE = "up", "down", ""
_DIRECTION = {"higher": UP, "lower": DOWN, None: NONE}


def direction(m: Metric) -> str:
    """The report's arrow (UP, DOWN, NONE) for a catalogue metric's better direction."""
    return _DIRECTION[m.better]


def column(m: Metric) -> tuple[str, str, str, int]:
    """(field, header, direction, digits) of a leaderboard column, from the metric catalogue."""
    return (m.name, m.label, direction(m), m.digits)


_SKIP_PSNR_LIKE = {"psnr", "psnr_float", "psnr_pooled"}
#: record fields that tell apart several points of one job, as tasks write them: a codec's quality,
#: c3's lambda, the compression pipelines' bits / embed_bits / prune_ratio / coder, inpainting's mask
POINT_FIELDS = ("quality", "lambda", "bits", "embed_bits", "prune_ratio", "mask", "coder")
#: run conditions that become leaderboard columns when they differ inside one board, so runs
#: with other epochs, budgets, recipes or frame sizes are never averaged together as seeds
CONDITION_FIELDS = ("epochs", "budget_seconds", "recipe", "resolution", "frames")
#: fields that name a leaderboard row (seeds are aggregated away)
ROW_FIELDS = ("method", "variant", "split", "size_target", "sequence")


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def metric_columns(records: Sequence[dict[str, Any]]) -> list[tuple[str, str, str, int]]:
    """The catalogue's leaderboard metrics (`Metric.board`) that have at least one number, in
    catalogue order, plus any psnr_* column the catalogue lacks (higher is better, header from its
    name), placed after the PSNR columns."""
    present = {k for r in records for k, v in r.items() if is_number(v)}
    cols = [column(m) for m in board_metrics() if m.name in present]
    extra = sorted(k for k in present if extra_psnr_column(k) and metric(k) is None)
    at = max((i + 1 for i, c in enumerate(cols) if c[0].startswith("psnr")), default=0)
    cols[at:at] = [(k, k.replace("psnr_", "PSNR ").replace("_", " "), UP, 2) for k in extra]
    return cols


def extra_psnr_column(name: str) -> bool:
    """psnr_* columns worth a leaderboard column: psnr_masked, psnr_raw, psnr_y, psnr_yuv; not the
    float/pooled twins of each, the per-chroma-plane values, or a ceiling (not the method's)."""
    return (name.startswith("psnr_") and name not in _SKIP_PSNR_LIKE and not name.endswith(("_float", "_pooled"))
            and name not in ("psnr_u", "psnr_v") and "ceiling" not in name)


def point_label(rec: dict[str, Any]) -> str:
    parts = [f"{f}={rec[f]}" for f in POINT_FIELDS if rec.get(f) not in (None, "")]
    return " ".join(parts)


def final_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Within each job, only the last epoch of each (variant, split, point): convergence jobs
    store a curve, the leaderboard shows where it ended. Records of that epoch (or without one)
    are all kept: several unlabelled points of one job are points, not epochs."""
    recs = list(records)

    def key(r: dict[str, Any]) -> tuple:
        return (r.get("job_key"), r.get("variant"), r.get("split"), point_label(r))

    def epoch(r: dict[str, Any]) -> float:
        return r["epoch"] if is_number(r.get("epoch")) else -1

    last: dict[tuple, float] = {}
    for r in recs:
        last[key(r)] = max(last.get(key(r), -math.inf), epoch(r))
    return [r for r in recs if epoch(r) == last[key(r)]]


@dataclass
class Cell:
    mean: float | None
    std: float | None  # sample std over seeds (ddof 1); None with one seed
    n: int
    best: bool = False


@dataclass
class Row:
    keys: dict[str, Any]
    cells: dict[str, Cell]
    seeds: list[Any]
    jobs: list[tuple[Any, str]]  # (seed, job key)


@dataclass
class Leaderboard:
    task: str
    dataset: str
    preset: str
    columns: list[tuple[str, str, str, int]]
    key_columns: list[str]
    rows: list[Row] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.task} · {self.dataset} · preset {self.preset}"


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    vals = [float(v) for v in values if is_number(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def leaderboards(records: Sequence[dict[str, Any]]) -> list[Leaderboard]:
    """One leaderboard per task x dataset x preset: a row per method/variant/split/size/point
    (and sequence when there are several), mean ± std over seeds, the best mean in each
    directional column marked."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in final_records(records):
        groups[(str(r["task"]), str(r.get("dataset")), str(r.get("preset")))].append(r)
    boards = []
    for (task, dataset, preset), recs in sorted(groups.items()):
        cols = metric_columns(recs)
        key_cols = ["method"]
        for f in ("variant", "split", "size_target", "sequence"):
            if len({r.get(f) for r in recs}) > 1 or (f == "variant" and any(r.get(f) for r in recs)):
                key_cols.append(f)
        if any(point_label(r) for r in recs):
            key_cols.append("point")
        base = [tuple((point_label(r) if c == "point" else r.get(c)) for c in key_cols) for r in recs]
        for f in CONDITION_FIELDS:  # only where one method's rows differ in it (methods' own recipes don't)
            seen: dict[tuple, set] = defaultdict(set)
            for b, r in zip(base, recs):
                seen[b].add(str(r.get(f)))
            if any(len(v) > 1 for v in seen.values()):
                key_cols.append(f)
        rows_by: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
        for r in recs:
            k = tuple((point_label(r) if c == "point" else r.get(c)) for c in key_cols)
            rows_by[k].append(r)
        rows = []
        for k, rs in rows_by.items():
            rs = sorted(rs, key=lambda r: (str(r.get("seed")), r.get("job_key") or ""))
            cells = {}
            for col, *_ in cols:
                m, s = mean_std([r.get(col) for r in rs])
                cells[col] = Cell(m, s, sum(1 for r in rs if is_number(r.get(col))))
            rows.append(Row(dict(zip(key_cols, k)), cells, [r.get("seed") for r in rs],
                            [(r.get("seed"), r.get("job_key")) for r in rs]))
        for col, _, direction, _ in cols:
            if direction == NONE:
                continue
            vals = [row.cells[col].mean for row in rows if row.cells[col].mean is not None]
            if len(vals) < 2:
                continue
            target = max(vals) if direction == UP else min(vals)
            for row in rows:
                if row.cells[col].mean is not None and math.isclose(row.cells[col].mean, target, rel_tol=1e-12):
                    row.cells[col].best = True
        main = next((c for c, _, d, _ in cols if d == UP), None)
        rows.sort(key=lambda row: (-(row.cells[main].mean if main and row.cells[main].mean is not None
                                     else -math.inf), str(row.keys)))
        boards.append(Leaderboard(task, dataset, preset, cols, key_cols, rows))
    return boards


# --- rate-distortion: the curves and BD entries are nvbench.rd's (one path for CLI and report) ---
def average_curves(curves: Sequence[Curve]) -> list[Curve]:
    """Per (dataset, preset, method, variant): the mean over sequences of the i-th point (by
    rate), for methods that have the same number of points on every sequence of the dataset."""
    seqs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for c in curves:
        seqs[(c.dataset, c.preset)].add(c.sequence)
    by: dict[tuple, list[Curve]] = defaultdict(list)
    for c in curves:
        by[(c.dataset, c.preset, c.method, c.variant)].append(c)
    out = []
    for (ds, preset, method, variant), cs in sorted(by.items()):
        if len(seqs[(ds, preset)]) < 2 or {c.sequence for c in cs} != seqs[(ds, preset)] \
                or len({len(c.bpp) for c in cs}) != 1:
            continue
        n = len(cs[0].bpp)
        avg = {a: [mean_std([getattr(c, a)[i] for c in cs])[0] for i in range(n)] for a in ("bpp", "psnr", "ms_ssim")}
        res = {c.resolution for c in cs}
        out.append(Curve(method, variant, ds, "average", preset, avg["bpp"], avg["psnr"], avg["ms_ssim"], cs[0].codec,
                         res.pop() if len(res) == 1 else ""))
    return out


def pick_anchor(curves: Sequence[Curve], wanted: str | None) -> str | None:
    """The named anchor, else DEFAULT_ANCHOR (then x264) when the curves have it, else the first
    codec, else the first of several methods."""
    names = [c.name for c in curves]
    if wanted:
        return wanted
    for pref in (DEFAULT_ANCHOR, "x264"):
        if pref in names:
            return pref
    codec_names = sorted({c.name for c in curves if c.codec})
    return codec_names[0] if codec_names else (sorted(set(names))[0] if len(set(names)) > 1 else None)


# --- convergence ----------------------------------------------------------------------------
@dataclass
class Trace:
    label: str
    dataset: str
    preset: str
    epochs: list[float]
    seconds: list[float | None]
    psnr: list[float]


def convergence_traces(records: Sequence[dict[str, Any]]) -> list[Trace]:
    """PSNR against epoch and training seconds for every job that recorded more than one epoch
    (mean over seeds at each epoch)."""
    by_job: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if is_number(r.get("psnr")) and is_number(r.get("epoch")):
            by_job[(r.get("job_key"), r.get("variant"), r.get("split"), point_label(r))].append(r)
    series: dict[tuple, dict[float, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for rs in by_job.values():
        if len({r["epoch"] for r in rs}) < 2:
            continue
        r0 = rs[0]
        size = r0.get("size_target")
        budget = r0.get("budget_seconds")
        label = " ".join(str(x) for x in (r0["method"], r0.get("variant") or "", _size(size),
                                          "" if r0.get("split") in (None, "all") else r0.get("split"),
                                          f"budget {budget:g}s" if is_number(budget) else "",
                                          r0.get("resolution") or "") if x)
        for r in rs:
            series[(label, str(r0.get("dataset")), str(r0.get("preset")))][r["epoch"]].append(r)
    out = []
    for (label, ds, preset), by_ep in sorted(series.items()):
        eps = sorted(by_ep)
        out.append(Trace(label, ds, preset, eps,
                         [mean_std([r.get("train_seconds") for r in by_ep[e]])[0] for e in eps],
                         [mean_std([r["psnr"] for r in by_ep[e]])[0] for e in eps]))
    return out


def _size(size: Any) -> str:
    if is_number(size):
        from nvbench.presets import format_size

        return format_size(int(size))
    return str(size) if size else ""
