"""Reading the store for a report: every record, its provenance, and what was left out and why.

The report reads only the store (jobs/*.json and the sample frames in artifacts/); it never
imports torch or runs a model. Bad input (unreadable files, newer schemas, failed jobs) never
stops it: each problem becomes a line in `left_out`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nvbench.jobs import SCHEMA_VERSION
from nvbench.records.frame import normalise_record, records_frame
from nvbench.results import Store

#: provenance fields copied onto every record (for the conditions block and the exports)
PROVENANCE_FIELDS = ("git_commit", "nvbench_version", "torch_version", "platform", "machine", "cpu_count",
                     "gpu", "python", "device")


@dataclass
class LeftOut:
    what: str  # a job label or file name
    status: str  # a record's status (failed, diverged, not_applicable) or unreadable, schema
    reason: str
    path: str = ""


@dataclass
class ReportData:
    root: Path
    records: list[dict[str, Any]] = field(default_factory=list)  # status ok, usable
    left_out: list[LeftOut] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> payload (without records)
    verified: set[str] = field(default_factory=set)  # keys `nvbench verify` accepted, job files unchanged since

    @property
    def empty(self) -> bool:
        return not self.records

    def frame(self):
        """The tidy table (one row per usable record) as a pandas DataFrame (nvbench.records.records_frame)."""
        return records_frame(self.records)

    def job_path(self, key: str) -> Path:
        return Store(self.root).job_path(key)

    def samples_path(self, key: str) -> Path:
        return self.root / "artifacts" / key / "samples.npz"


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_report_data(root: str | Path) -> ReportData:
    """All usable records of the store at `root`, with provenance merged in, and the list of
    everything left out (failed, diverged, not applicable, unreadable, newer schema)."""
    from nvbench.report import hf

    store = Store(root)
    data = ReportData(root=Path(root))
    exported = hf.is_export(root)  # a store exported with `nvbench export --format hf`
    if not store.root.exists():
        data.notes.append(f"the store {store.root} does not exist: run `nvbench run ... --results {store.root}`")
        return data
    from nvbench.verify import verified_jobs

    data.verified = verified_jobs(root)
    older: dict[int, int] = {}
    for path, payload, problem in (hf.payloads(root) if exported else store.iter_jobs()):
        if payload is None:
            data.left_out.append(LeftOut(path.name, "unreadable", problem.removeprefix("unreadable: "), str(path)))
            continue
        if not isinstance(payload, dict) or not isinstance(payload.get("records"), list):
            data.left_out.append(LeftOut(path.name, "unreadable", "no 'records' list in the file", str(path)))
            continue
        schema = payload.get("schema", 0)
        if not isinstance(schema, int) or schema > SCHEMA_VERSION:
            data.left_out.append(LeftOut(payload.get("label", path.name), "schema",
                                         f"schema {schema!r} is newer than this nvbench reads ({SCHEMA_VERSION}); "
                                         "upgrade nvbench", str(path)))
            continue
        if schema < SCHEMA_VERSION:
            older[schema] = older.get(schema, 0) + 1
        key = payload.get("key") or path.stem
        prov = payload.get("provenance") or {}
        job = payload.get("job") or prov.get("config") or {}
        data.jobs[key] = {k: v for k, v in payload.items() if k != "records"}
        label = payload.get("label") or key
        for n, rec in enumerate(payload["records"]):
            if not isinstance(rec, dict) or not rec.get("method") or not rec.get("task"):
                data.left_out.append(LeftOut(label, "unreadable", f"record {n} has no method or task", str(path)))
                continue
            row = normalise_record(rec)
            if row["status"] != "ok":
                data.left_out.append(LeftOut(_record_label(label, row), row["status"],
                                             row.get("reason") or "(no reason recorded)", str(path)))
                continue
            row["job_key"] = key
            row["schema"] = schema
            for f in PROVENANCE_FIELDS:
                row.setdefault(f, prov.get(f))
            row.setdefault("preset", job.get("preset"))
            if row.get("preset") is None:
                row["preset"] = job.get("preset") or "unknown"
            row.setdefault("dataset", job.get("dataset"))
            row["colour"] = row.get("colour") or prov.get("colour")
            row["crop"] = row.get("crop") or _hw(job.get("crop"))
            row["resolution"] = row.get("resolution") or (
                f"{row['height']}x{row['width']}" if row.get("height") and row.get("width") else None)
            row["seed"] = row["seed"] if row.get("seed") is not None else job.get("seed")
            # run conditions that may differ inside one preset (--epochs, --budget-seconds, ...)
            row["epochs"] = job.get("epochs")
            row["budget_seconds"] = row.get("budget_seconds", job.get("budget_seconds"))
            row["has_samples"] = data.samples_path(key).is_file()
            row["verified"] = key in data.verified
            data.records.append(row)
    order = {"failed": 0, "diverged": 1, "unreadable": 2, "schema": 3, "not_applicable": 4}
    data.left_out.sort(key=lambda item: (order.get(item.status, 9), item.what))
    for schema, count in sorted(older.items()):
        data.notes.append(f"{count} job file(s) use the older schema {schema} (current {SCHEMA_VERSION}): read "
                          "with the fields they have; missing fields are left empty")
    presets = sorted({str(r["preset"]) for r in data.records})
    if len(presets) > 1:
        data.notes.append(f"the store mixes presets ({', '.join(presets)}): every table and plot keeps them apart")
    if not data.records:
        data.notes.append(f"no usable results in {store.root}: run e.g. "
                          f"`nvbench run -m hnerv --preset smoke --results {store.root}`")
    return data


def _hw(v: Any) -> str | None:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return f"{v[0]}x{v[1]}"
    return v if isinstance(v, str) else None


def _record_label(label: str, rec: dict[str, Any]) -> str:
    extra = "/".join(str(rec[k]) for k in ("variant", "split") if rec.get(k) and rec.get(k) != "all")
    return f"{label}{'/' + extra if extra else ''}"
