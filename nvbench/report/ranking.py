"""The first screen: one ranking row per method per dataset x preset.

Each method appears at its default variant and its default point, never at its best variant:
choosing the best of several variants would select on the test set (the other variants stay in
the detailed tables). The default is the preset's default size for size-indexed numbers and, where
a job wrote several variants (interpolation's held-out variants), the first one it wrote, which is
the first the method declares. Every cell is a mean over seeds and links to the detailed table it
comes from.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nvbench.rd import BDEntry
from nvbench.records.catalogue import metric
from nvbench.report.aggregate import DOWN, NONE, UP, direction, is_number, mean_std

#: the share of the preset's epochs after which the convergence column takes its point
CONVERGENCE_FRACTION = 0.1


@dataclass
class RankColumn:
    key: str
    header: str
    direction: str  # UP, DOWN or NONE (no best marked)
    digits: int
    link: str  # id of the detailed table the column's cells come from
    title: str = ""  # tooltip: how the number is chosen


def _metric_column(name: str, link: str, title: str, suffix: str = "") -> RankColumn:
    """A ranking column of one catalogue metric: its report header (+ suffix), direction and digits."""
    m = metric(name)
    if m is None:  # the ranking's metrics are built in
        raise KeyError(f"metric {name!r} is not in the catalogue")
    return RankColumn(name, m.label + suffix, direction(m), m.digits, link, title)


@dataclass
class RankCell:
    value: float | None
    n: int = 0  # seeds averaged
    best: bool = False
    note: str = ""  # e.g. the epoch of a convergence cell when methods differ


@dataclass
class RankRow:
    method: str
    family: str  # neural, codec, anchor
    cells: dict[str, RankCell] = field(default_factory=dict)
    verified: bool = False  # every file behind the row re-decoded and re-scored by `nvbench verify`


@dataclass
class Ranking:
    dataset: str
    preset: str
    columns: list[RankColumn]
    rows: list[RankRow]

    @property
    def id(self) -> str:
        return f"rank-{self.dataset}-{self.preset}"

    @property
    def title(self) -> str:
        return f"{self.dataset} · preset {self.preset}"


def board_id(task: str, dataset: str, preset: str) -> str:
    """The HTML id of a detailed table (the template and the ranking's links share it)."""
    return f"lb-{task}-{dataset}-{preset}"


def _default_size(preset: str, recs: Sequence[dict[str, Any]]) -> Any:
    from nvbench.presets import PRESETS

    sizes = [r.get("size_target") for r in recs if r.get("size_target") is not None]
    if preset in PRESETS and PRESETS[preset].default_size in sizes:
        return PRESETS[preset].default_size
    return min(sizes, key=lambda s: (-sizes.count(s), str(s))) if sizes else None


def _default_variant(recs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per job, the records of the first variant it wrote (file order)."""
    first: dict[Any, str] = {}
    for r in recs:
        first.setdefault(r.get("job_key"), str(r.get("variant") or ""))
    return [r for r in recs if str(r.get("variant") or "") == first[r.get("job_key")]]


def _last_epoch(recs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per job, the records of its last epoch (a record without an epoch counts as final)."""
    last: dict[Any, float] = {}
    for r in recs:
        e = r["epoch"] if is_number(r.get("epoch")) else math.inf
        last[r.get("job_key")] = max(last.get(r.get("job_key"), -math.inf), e)
    return [r for r in recs if (r["epoch"] if is_number(r.get("epoch")) else math.inf) == last[r.get("job_key")]]


def _default_conditions(recs: Sequence[dict[str, Any]], own_recipe: str | None, epochs: int | None
                        ) -> list[dict[str, Any]]:
    """The records run under the default conditions: the method's own recipe, no time budget, the
    preset's epochs; a condition no record meets is not applied (so nothing is dropped for it)."""
    out = list(recs)
    for ok in (lambda r: own_recipe is None or r.get("recipe") in (own_recipe, None),
               lambda r: not is_number(r.get("budget_seconds")),
               lambda r: epochs is None or not is_number(r.get("epochs")) or r.get("epochs") in (0, epochs)):
        kept = [r for r in out if ok(r)]
        out = kept or out
    return out


def _cell(recs: Sequence[dict[str, Any]], col: str) -> RankCell:
    vals = [r.get(col) for r in recs if is_number(r.get(col))]
    mean, _ = mean_std(vals)
    return RankCell(mean, len(vals))


def _convergence(recs: Sequence[dict[str, Any]], preset: str) -> tuple[RankCell, int | None, int | None]:
    """PSNR at the earliest evaluated epoch at or after CONVERGENCE_FRACTION of the run's epochs,
    mean over seeds; (cell, that epoch, the run's epochs)."""
    from nvbench.presets import PRESETS

    by_job: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        if is_number(r.get("epoch")) and is_number(r.get("psnr")):
            by_job[r.get("job_key")].append(r)
    picked, epochs_seen, totals = [], set(), set()
    for rs in by_job.values():
        total = rs[0].get("epochs") if is_number(rs[0].get("epochs")) else (
            PRESETS[preset].epochs if preset in PRESETS else max(r["epoch"] for r in rs))
        target = CONVERGENCE_FRACTION * total
        later = [r for r in rs if r["epoch"] >= target - 1e-9]
        if later:
            e = min(r["epoch"] for r in later)
            picked += [r for r in later if r["epoch"] == e]
            epochs_seen.add(int(e))
            totals.add(int(total))
    cell = _cell(picked, "psnr")
    epoch = next(iter(epochs_seen)) if len(epochs_seen) == 1 else None
    if len(epochs_seen) > 1:
        cell.note = "epoch " + "/".join(str(e) for e in sorted(epochs_seen))
    return cell, epoch, (next(iter(totals)) if len(totals) == 1 else None)


def _bd_by_method(bd: Sequence[BDEntry], dataset: str, preset: str) -> dict[str, float]:
    """BD-rate per method: the mean over sequences where there are several, else the one sequence."""
    es = [e for e in bd if e.dataset == dataset and e.preset == preset and e.bd_rate is not None]
    avg = {e.method: e.bd_rate for e in es if e.sequence == "average"}
    seqs = {e.sequence for e in es if e.sequence != "average"}
    if len(seqs) == 1:
        return {e.method: e.bd_rate for e in es if e.sequence != "average"} | avg
    return avg


def rankings(records: Sequence[dict[str, Any]], bd_by_anchor: dict[str, Sequence[BDEntry]],
             families: dict[str, str], own_recipes: dict[str, str] | None = None) -> list[Ranking]:
    """One Ranking per dataset x preset. bd_by_anchor: anchor name -> BD entries against it (x265
    first, VVC when the store has it); families: method -> neural/codec/anchor; own_recipes: method ->
    the recipe it declares (runs under another recipe, a time budget or other epochs stay in the
    detailed tables)."""
    from nvbench.presets import PRESETS

    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(str(r.get("dataset")), str(r.get("preset")))].append(r)
    out = []
    for (ds, preset), recs in sorted(groups.items()):
        by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in recs:
            by[(str(r["method"]), str(r["task"]))].append(r)
        epochs = PRESETS[preset].epochs if preset in PRESETS else None
        for k in list(by):
            by[k] = _default_conditions(by[k], (own_recipes or {}).get(k[0]), epochs)
        rec_recs = [r for r in recs if r["task"] == "reconstruction" and r.get("split") in (None, "all")]
        size = _default_size(preset, rec_recs or recs)
        from nvbench.presets import format_size

        size_txt = format_size(int(size)) if is_number(size) else str(size or "")

        def lb(task: str, ds: str = ds, preset: str = preset) -> str:
            return board_id(task, ds, preset)

        cols = [_metric_column("psnr", lb("reconstruction"),
                               "reconstruction PSNR at the preset's default size, default variant, last epoch",
                               f" at {size_txt}" if size_txt else "")]
        bds = {}
        for anchor, entries in bd_by_anchor.items():
            got = _bd_by_method(entries, ds, preset)
            if got:
                bds[anchor] = got
                cols.append(RankColumn(f"bd_{anchor}", f"BD-rate vs {anchor} %", DOWN, 2, f"bd-{anchor}",
                                       f"BD-rate (PCHIP) of the method's compression RD curve against {anchor}; "
                                       "negative = fewer bits at equal PSNR"))
        cols += [RankColumn("interp", "held-out PSNR", UP, 2, lb("interpolation"),
                            "interpolation: PSNR on the held-out frames, the first variant the method declares"),
                 RankColumn("inpaint", "masked PSNR", UP, 2, lb("inpainting"),
                            "inpainting: PSNR inside the masked region, the task's default mask")]
        methods = sorted({m for m, _ in by})
        rows = []
        conv_epochs: set[int | None] = set()
        conv_total: set[int | None] = set()
        for m in methods:
            row = RankRow(m, families.get(m, "neural"))
            rr = [r for r in by.get((m, "reconstruction"), []) if r.get("split") in (None, "all")
                  and r.get("size_target") == size]
            rr = _last_epoch(_default_variant(rr))
            row.cells["psnr"] = _cell(rr, "psnr")
            for anchor, got in bds.items():
                if m == anchor:
                    row.cells[f"bd_{anchor}"] = RankCell(0.0, 1, note="anchor")
                else:
                    row.cells[f"bd_{anchor}"] = RankCell(got.get(m), 1 if m in got else 0)
            held = [r for r in by.get((m, "interpolation"), []) if r.get("split") == "held-out"]
            held = [r for r in held if r.get("size_target") in (size, None)]
            row.cells["interp"] = _cell(_last_epoch(_default_variant(held)), "psnr")
            inp = [r for r in by.get((m, "inpainting"), []) if r.get("size_target") in (size, None)]
            row.cells["inpaint"] = _cell(_last_epoch(_default_variant(inp)), "psnr_masked")
            conv = [r for r in by.get((m, "convergence"), []) if r.get("size_target") in (size, None)]
            row.cells["conv"], e, total = _convergence(_default_variant(conv), preset)
            if row.cells["conv"].value is not None:
                conv_epochs.add(e)
                conv_total.add(total)
            row.cells["decode_fps"] = _cell(rr, "decode_fps")
            row.cells["macs_per_pixel"] = _cell(rr, "macs_per_pixel")
            if row.cells["macs_per_pixel"].value is None:  # a method run only for compression
                comp = [r for r in by.get((m, "compression"), []) if r.get("size_target") == size]
                row.cells["macs_per_pixel"] = _cell(comp, "macs_per_pixel")
            row.cells["params"] = _cell(rr, "params")
            files = [r for t in {t for mm, t in by if mm == m} for r in by[(m, t)] if r.get("file")]
            row.verified = bool(files) and all(r.get("verified") for r in files)
            if any(c.value is not None for c in row.cells.values()):
                rows.append(row)
        pct = f"{CONVERGENCE_FRACTION:.0%}"
        total = next(iter(conv_total)) if len(conv_total) == 1 and None not in conv_total else None
        of = f"{pct} of {total} epochs" if total else f"{pct} of the epochs"
        e = next(iter(conv_epochs)) if len(conv_epochs) == 1 and None not in conv_epochs else None
        head = f"PSNR at epoch {e} (≥ {pct})" if e else f"PSNR at the first epoch ≥ {pct}"
        cols.append(RankColumn("conv", head, UP, 2, lb("convergence"),
                               f"convergence: PSNR at the earliest evaluated epoch at or after {of}"))
        cols += [_metric_column("decode_fps", lb("reconstruction"),
                                "frames per second decoding the reconstruction model (device in the conditions)"),
                 _metric_column("macs_per_pixel", lb("reconstruction"),
                                "multiply-accumulates of the decoder per output pixel (the model's own computation)"),
                 _metric_column("params", lb("reconstruction"), "stored parameters")]
        cols = [c for c in cols if any(r.cells[c.key].value is not None for r in rows)]
        for c in cols:
            if c.direction == NONE:
                continue
            vals = [r.cells[c.key].value for r in rows if r.cells[c.key].value is not None]
            if len(vals) < 2:
                continue
            target = max(vals) if c.direction == UP else min(vals)
            for r in rows:
                v = r.cells[c.key].value
                r.cells[c.key].best = v is not None and math.isclose(v, target, rel_tol=1e-12, abs_tol=1e-12)
        rows.sort(key=lambda r: _sort_key(r, cols))
        out.append(Ranking(ds, preset, cols, rows))
    return out


def _sort_key(row: RankRow, cols: Sequence[RankColumn]) -> tuple:
    """Reconstruction PSNR first (higher first), then BD-rate (lower first), then the name."""
    key: list[Any] = []
    for c in cols:
        if c.key in ("psnr",) or c.key.startswith("bd_"):
            v = row.cells[c.key].value
            key.append(math.inf if v is None else (-v if c.direction == UP else v))
    return (*key, row.method)
