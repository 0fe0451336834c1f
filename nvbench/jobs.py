"""Jobs: one method x task x dataset sequence x preset x size x recipe x seed.

A job's key is the hash of everything that determines its result. Building jobs and keys
is pure Python (it never imports torch or a method's network code).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def digest(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Job:
    method: str
    task: str
    dataset: str
    sequence: str
    preset: str
    size: int | str | None  # stored-parameter budget (None for codecs/anchors)
    recipe: str
    seed: int
    epochs: int
    crop: tuple[int, int] | None
    resolution: tuple[int, int] | None
    frames: int | None
    method_version: str = "1"
    task_version: str = "1"
    method_options: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    source_checksum: str = ""
    budget_seconds: float | None = None
    amp: str | None = None  # mixed precision of training and decoding (None: float32)

    def identity(self) -> dict[str, Any]:
        """Everything that determines the result (what the key hashes). Float32 jobs leave `amp`
        out, so their keys are those written before the field existed."""
        d = asdict(self)
        if d["amp"] is None:
            del d["amp"]
        d["schema"] = SCHEMA_VERSION
        return d

    @property
    def key(self) -> str:
        return digest(self.identity())

    def label(self) -> str:
        from nvbench.presets import format_size

        size = format_size(self.size) if self.size is not None else "-"
        amp = f"/{self.amp}" if self.amp else ""
        return f"{self.method}/{self.task}/{self.dataset}:{self.sequence}/{self.preset}/{size}/seed{self.seed}{amp}"
