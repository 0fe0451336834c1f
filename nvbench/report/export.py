"""Machine-readable exports of the store: the tidy table (CSV, Parquet when pyarrow is
installed) and one RD JSON per method in CompressAI's results schema, so CompressAI's plotting
tools (`python -m compressai.utils.plot`) read our curves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from nvbench.report.aggregate import Curve
from nvbench.report.data import ReportData


def tidy_frame(data: ReportData):
    df = data.frame()
    front = [c for c in ("method", "variant", "task", "dataset", "sequence", "preset", "size_target", "seed",
                         "split", "epoch", "psnr", "ms_ssim", "bpp", "params", "job_key") if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


def write_tables(data: ReportData, out_dir: Path) -> list[Path]:
    """results.csv always; results.parquet when pyarrow is importable."""
    out_dir.mkdir(parents=True, exist_ok=True)
    df = tidy_frame(data)
    paths = [out_dir / "results.csv"]
    df.to_csv(paths[0], index=False)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return paths
    pq = out_dir / "results.parquet"
    df.astype({c: "string" for c in df.columns if df[c].dtype == object}).to_parquet(pq, index=False)
    paths.append(pq)
    return paths


def compressai_json(curve: Curve) -> dict[str, Any]:
    """CompressAI's results schema: {"name", "description", "results": {"bpp", "psnr-rgb", "ms-ssim-rgb"}}."""
    results: dict[str, list[float]] = {"bpp": list(curve.bpp), "psnr-rgb": list(curve.psnr)}
    if all(m is not None for m in curve.ms_ssim):
        results["ms-ssim-rgb"] = list(curve.ms_ssim)
    return {"name": curve.name,
            "description": f"nvbench: {curve.dataset}/{curve.sequence}, preset {curve.preset}; bpp from file bytes"
                           + ("; codec" if curve.codec else ""),
            "results": results}


def write_rd_json(curves: list[Curve], out_dir: Path) -> list[Path]:
    paths = []
    for c in curves:
        name = "-".join(re.sub(r"[^A-Za-z0-9_.+]+", "_", x) for x in (c.dataset, c.sequence, c.preset, c.name))
        p = out_dir / "rd" / f"{name}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(compressai_json(c), indent=2))
        paths.append(p)
    return paths
