"""Plain-text tables for the terminal (no dependency, stable for CI logs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if math.isinf(value):
            return "inf"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, int]]) -> str:
    """columns: (key, header, digits)."""
    cells = [[h for _, h, _ in columns]]
    for r in rows:
        cells.append([fmt(r.get(k), d) for k, _, d in columns])
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if n and i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


RESULT_COLUMNS = [
    ("method", "method", 0), ("variant", "variant", 0), ("task", "task", 0), ("split", "split", 0),
    ("size_target", "size", 0), ("params", "params", 0), ("ppp", "ppp", 4), ("epoch", "epoch", 0),
    ("psnr", "PSNR", 2), ("ms_ssim", "MS-SSIM", 4), ("bpp", "bpp", 4), ("train_seconds", "train s", 1),
    ("decode_fps", "decode fps", 1), ("status", "status", 0),
]


def render_by_task(records: Sequence[dict[str, Any]]) -> str:
    """One table per task (in order of first appearance), each with the task's own columns
    (`Task.table_columns`, else RESULT_COLUMNS); a single task prints just its table."""
    from nvbench import registry

    tasks = list(dict.fromkeys(str(r.get("task")) for r in records))
    out = []
    for name in tasks:
        try:
            columns = getattr(registry.tasks.get(name), "table_columns", None) or RESULT_COLUMNS
        except Exception:  # a record of a task no longer installed still prints
            columns = RESULT_COLUMNS
        rows = [{k: _short(v) for k, v in r.items()} for r in records if str(r.get("task")) == name]
        if len(tasks) > 1:
            out.append(f"== {name} ==")
        out.append(render(rows, columns))
        out.append("")
    return "\n".join(out).rstrip("\n")


def _short(value: Any, width: int = 28) -> Any:
    """Long strings (e.g. a method's index-normalisation note) cut for the terminal; the store
    keeps them whole."""
    return value[: width - 1] + "…" if isinstance(value, str) and len(value) > width else value
