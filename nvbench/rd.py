"""Rate-distortion curves from stored records, and BD-rate / BD-PSNR tables against an anchor.

A method's curve on a sequence is the upper envelope (Pareto front) of all its ok compression
points there: bits x pruning x size points that another point beats at lower rate are not on
the curve. BD numbers come from nvbench.bdrate (PCHIP); where the quality (or rate) ranges of
the two curves do not overlap the cell says "no overlap" instead of a number.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from nvbench.table import render

GROUP_KEYS = ("dataset", "sequence", "preset", "height", "width", "frames")


def _ok(r: dict[str, Any], metric: str) -> bool:
    b, q = r.get("bpp"), r.get(metric)
    return (r.get("status") == "ok" and r.get("task") == "compression" and isinstance(b, (int, float))
            and isinstance(q, (int, float)) and math.isfinite(b) and math.isfinite(q) and b > 0)


def pareto(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points (rate, quality) not beaten by a point of lower-or-equal rate, by rate."""
    front: list[tuple[float, float]] = []
    for rate, q in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or q > front[-1][1]:
            front.append((rate, q))
    return front


def curves(records: Sequence[dict[str, Any]], metric: str = "psnr") -> dict[tuple, dict[str, list]]:
    """{sequence group: {method: Pareto front [(bpp, metric)]}}."""
    pts: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if _ok(r, metric):
            pts[tuple(r.get(k) for k in GROUP_KEYS)][r["method"]].append((float(r["bpp"]), float(r[metric])))
    return {g: {m: pareto(p) for m, p in ms.items()} for g, ms in pts.items()}


def bd_rows(records: Sequence[dict[str, Any]], anchor: str = "x265", metric: str = "psnr") -> list[dict[str, Any]]:
    """One row per (sequence, method != anchor) plus an average row per method."""
    from nvbench.bdrate import NoOverlapError, bd_psnr, bd_rate

    rows: list[dict[str, Any]] = []
    per_method: dict[str, list[tuple[float | None, float | None]]] = defaultdict(list)
    for group, methods in sorted(curves(records, metric).items(), key=lambda kv: str(kv[0])):
        seq = f"{group[0]}:{group[1]}"
        ref = methods.get(anchor)
        for m, pts in sorted(methods.items()):
            if m == anchor:
                continue
            row = {"sequence": seq, "preset": group[2], "method": m, "anchor": anchor, "points": len(pts),
                   "bd_rate": None, "bd_psnr": None, "note": ""}
            if ref is None:
                row["note"] = f"no {anchor} points"
            elif len(ref) < 2 or len(pts) < 2:
                row["note"] = "needs >= 2 points on each curve"
            else:
                ra, qa = zip(*ref)
                rt, qt = zip(*pts)
                for key, fn in (("bd_rate", bd_rate), ("bd_psnr", bd_psnr)):
                    try:
                        row[key] = fn(ra, qa, rt, qt)
                    except NoOverlapError:
                        row[key] = "no overlap"
                    except ValueError as exc:
                        row["note"] = str(exc)
            rows.append(row)
            per_method[m].append((row["bd_rate"], row["bd_psnr"]))
    for m, vals in sorted(per_method.items()):
        if len(vals) < 2:
            continue
        rates = [v[0] for v in vals if isinstance(v[0], float)]
        psnrs = [v[1] for v in vals if isinstance(v[1], float)]
        rows.append({"sequence": "average", "preset": "", "method": m, "anchor": anchor, "points": None,
                     "bd_rate": sum(rates) / len(rates) if rates else "no overlap",
                     "bd_psnr": sum(psnrs) / len(psnrs) if psnrs else "no overlap",
                     "note": f"mean over {len(rates)} of {len(vals)} sequences"})
    return rows


RD_COLUMNS = [
    ("method", "method", 0), ("variant", "point", 0), ("size_target", "size", 0), ("bpp", "bpp", 4),
    ("psnr", "PSNR", 2), ("psnr_y", "PSNR-Y", 2), ("psnr_yuv", "PSNR-YUV", 2), ("ms_ssim", "MS-SSIM", 4),
    ("vmaf", "VMAF", 2), ("file_bytes", "bytes", 0), ("coder", "coder", 0), ("encode_seconds", "enc s", 2),
    ("decode_seconds", "dec s", 2), ("decode_fps", "dec fps", 1),
]
BD_COLUMNS = [
    ("sequence", "sequence", 0), ("method", "method", 0), ("anchor", "anchor", 0), ("points", "points", 0),
    ("bd_rate", "BD-rate %", 2), ("bd_psnr", "BD-PSNR dB", 3), ("note", "note", 0),
]


def rd_table(records: Sequence[dict[str, Any]]) -> str:
    rows = [r for r in records if r.get("task") == "compression" and r.get("status") == "ok"]
    rows.sort(key=lambda r: (r.get("sequence") or "", r["method"], r.get("bpp") or 0))
    return render(rows, RD_COLUMNS)


def bd_table(records: Sequence[dict[str, Any]], anchor: str = "x265", metric: str = "psnr") -> str:
    return render(bd_rows(records, anchor, metric), BD_COLUMNS)
