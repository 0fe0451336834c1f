"""The result store: one JSON per job (records + provenance), written atomically. What a record
holds (its fields, statuses and splits) is nvbench.records.

Layout: DIR/jobs/<key>.json and DIR/artifacts/<key>/ ; DIR/models/<train-key>/ holds trained
representations shared by the jobs that train the same configuration.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from nvbench.jobs import SCHEMA_VERSION

DEFAULT_RESULTS = "nvbench-results"


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to a temporary file in the same folder, fsync, then rename over `path`:
    readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=1, sort_keys=True, default=str, allow_nan=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Store:
    def __init__(self, root: str | Path = DEFAULT_RESULTS):
        self.root = Path(root)

    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    def job_path(self, key: str) -> Path:
        return self.jobs_dir / f"{key}.json"

    def artifacts(self, key: str) -> Path:
        p = self.root / "artifacts" / key
        p.mkdir(parents=True, exist_ok=True)
        return p

    def models(self, key: str) -> Path:
        p = self.root / "models" / key
        p.mkdir(parents=True, exist_ok=True)
        return p

    def has(self, key: str) -> bool:
        return self.job_path(key).is_file()

    def write(self, key: str, payload: dict[str, Any]) -> Path:
        payload = {"schema": SCHEMA_VERSION, "key": key, **payload}
        path = self.job_path(key)
        write_json_atomic(path, payload)
        return path

    def read(self, key: str) -> dict[str, Any]:
        return json.loads(self.job_path(key).read_text())

    def iter_jobs(self) -> list[tuple[Path, dict[str, Any] | None, str]]:
        """(path, payload or None, problem) for every job file; unreadable ones are reported."""
        out = []
        for path in sorted(self.jobs_dir.glob("*.json")) if self.jobs_dir.is_dir() else []:
            try:
                payload = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                out.append((path, None, f"unreadable: {exc}"))
                continue
            if not isinstance(payload, dict) or not isinstance(payload.get("records", []), list) or \
                    not all(isinstance(r, dict) for r in payload.get("records", [])):
                out.append((path, None, "not a job result (JSON of another shape)"))
                continue
            out.append((path, payload, ""))
        return out

    def records(self) -> list[dict[str, Any]]:
        rows = []
        for path, payload, _ in self.iter_jobs():
            if payload is None:
                continue
            for rec in payload.get("records", []):
                rows.append({**rec, "job_key": payload.get("key", path.stem), "schema": payload.get("schema")})
        return rows


def load(root: str | Path = DEFAULT_RESULTS):
    """All records of a store as a pandas DataFrame (one row per measured point; nvbench.records.records_frame)."""
    from nvbench.records.frame import records_frame

    return records_frame(Store(root).records())
