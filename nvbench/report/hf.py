"""A results store as a Hugging Face `datasets` dataset, and back.

`nvbench export --format hf DIR` writes one row per record: the columns a reader filters on
(method, task, dataset, preset, PSNR, bpp, ...) plus the record and its job (configuration and
provenance, without the records) as JSON text, so nothing is lost; `DIR` is a `save_to_disk`
folder that can be pushed to the hub as it is (`Dataset.load_from_disk(DIR).push_to_hub(...)`),
the way the large model leaderboards publish their results. `nvbench report --results DIR`
reads it back (`payloads`) into the same job payloads a store holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: typed summary columns of every row (the full record is in `record`)
STRING_COLUMNS = ("job_key", "label", "method", "variant", "task", "dataset", "sequence", "preset", "split",
                  "status", "resolution")
NUMBER_COLUMNS = ("seed", "size_target", "epoch", "params", "psnr", "ms_ssim", "bpp", "decode_fps", "macs_per_pixel",
                  "train_seconds")
MARK = "nvbench-results"  # the dataset's description starts with it: how `is_export` knows one


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def rows_of(jobs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for payload in jobs:
        job = {k: v for k, v in payload.items() if k != "records"}
        job_text = json.dumps(job, sort_keys=True)
        for rec in payload.get("records") or []:
            row: dict[str, Any] = {c: (None if rec.get(c) is None else str(rec.get(c))) for c in STRING_COLUMNS}
            row["job_key"] = str(payload.get("key"))
            row["label"] = str(payload.get("label") or payload.get("key"))
            row.update({c: _num(rec.get(c)) for c in NUMBER_COLUMNS})
            row["record"] = json.dumps(rec, sort_keys=True)
            row["job"] = job_text
            rows.append(row)
    return rows


def write_export(store_root: str | Path, out: str | Path) -> tuple[Path, int]:
    """Write the store's jobs as a `datasets` dataset in `out` (save_to_disk); (out, rows)."""
    from nvbench.data.hub import import_datasets
    from nvbench.results import Store

    datasets = import_datasets()
    jobs = [p for _, p, _ in Store(store_root).iter_jobs() if isinstance(p, dict) and isinstance(p.get("records"),
                                                                                                  list)]
    rows = rows_of(jobs)
    feats = {c: datasets.Value("string") for c in STRING_COLUMNS + ("record", "job")}
    feats.update({c: datasets.Value("float64") for c in NUMBER_COLUMNS})
    features = datasets.Features(feats)
    info = datasets.DatasetInfo(description=f"{MARK}: one row per record of an nvbench results store; "
                                            "`record` and `job` hold the record and its job (provenance) as JSON",
                                features=features)
    ds = datasets.Dataset.from_dict({c: [r[c] for r in rows] for c in features}, features=features, info=info)
    out = Path(out)
    ds.save_to_disk(str(out))
    (out / "README.md").write_text(
        "---\ntags: [nvbench, leaderboard, video, neural-representations]\n---\n"
        f"# nvbench results\n\n{len(rows)} records from {len(jobs)} jobs, one row per record. Load with "
        "`datasets.load_from_disk(DIR)`; `nvbench report --results DIR` renders the leaderboard.\n")
    return out, len(rows)


def is_export(root: str | Path) -> bool:
    """A folder written by `write_export` (never imports `datasets` for a plain store)."""
    p = Path(root)
    if (p / "jobs").is_dir() or not (p / "dataset_info.json").is_file():
        return False
    try:
        return str(json.loads((p / "dataset_info.json").read_text()).get("description", "")).startswith(MARK)
    except (OSError, ValueError):
        return False


def payloads(root: str | Path) -> list[tuple[Path, dict[str, Any] | None, str]]:
    """The export read back as (path, job payload, problem) like Store.iter_jobs (row order kept)."""
    from nvbench.data.hub import import_datasets

    ds = import_datasets().load_from_disk(str(root))
    jobs: dict[str, dict[str, Any]] = {}
    for row in ds.select_columns(["job_key", "job", "record"]):
        key = row["job_key"]
        if key not in jobs:
            jobs[key] = {**json.loads(row["job"]), "records": []}
        jobs[key]["records"].append(json.loads(row["record"]))
    return [(Path(root) / "jobs" / f"{k}.json", p, "") for k, p in jobs.items()]
