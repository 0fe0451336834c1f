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


#: one column of a CLI table: a record field's name (a metric's header and digits come from the
#: catalogue, nvbench.records.catalogue; a context field's from CONTEXT_COLUMNS), or (name, header)
#: / (name, header, digits) for a task's own context column or a shorter header in a wide table
ColumnSpec = str | tuple[str, str] | tuple[str, str, int]

#: context columns (what a row is, not what was measured) shared by the tasks' tables: header, digits
CONTEXT_COLUMNS: dict[str, tuple[str, int]] = {
    "method": ("method", 0), "variant": ("variant", 0), "task": ("task", 0), "split": ("split", 0),
    "size_target": ("size", 0), "epoch": ("epoch", 0), "budget_seconds": ("budget s", 0), "status": ("status", 0),
}


def resolve_columns(columns: Sequence[ColumnSpec]) -> list[tuple[str, str, int]]:
    """(key, header, digits) of each column: what a spec leaves out comes from the metric catalogue,
    then CONTEXT_COLUMNS, else the field's own name with 2 digits."""
    from nvbench.records.catalogue import metric

    out = []
    for spec in columns:
        key, header, digits = (spec, None, None) if isinstance(spec, str) else (*spec, None, None)[:3]
        m, ctx = metric(key), CONTEXT_COLUMNS.get(key)
        known = (m.header, m.digits) if m else ctx or (key, 2)
        out.append((key, header or known[0], known[1] if digits is None else digits))
    return out


def render(rows: Sequence[dict[str, Any]], columns: Sequence[ColumnSpec]) -> str:
    """columns: specs resolved by `resolve_columns` ((key, header, digits) triples pass as they are)."""
    cols = resolve_columns(columns)
    cells = [[h for _, h, _ in cols]]
    for r in rows:
        cells.append([fmt(r.get(k), d) for k, _, d in cols])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if n and i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


#: the columns of a task that declares no `table_columns`
RESULT_COLUMNS: list[ColumnSpec] = [
    "method", "variant", "task", "split", "size_target", "params", "ppp", "epoch", "psnr", "ms_ssim", "bpp",
    "train_seconds", "decode_fps", "status",
]


def task_columns(task: str, rows: Sequence[dict[str, Any]] = ()) -> list[tuple[str, str, int]]:
    """The CLI columns of `task`: its `table_columns` (else RESULT_COLUMNS), then the catalogue's
    metrics that ask for this task's table (`Metric.tables`) and have a value in `rows`, before a
    final status column."""
    from nvbench import registry
    from nvbench.records.catalogue import table_extras

    try:
        spec = getattr(registry.tasks.get(task), "table_columns", None) or RESULT_COLUMNS
    except Exception:  # a record of a task no longer installed still prints
        spec = RESULT_COLUMNS
    cols = resolve_columns(spec)
    have = {k for k, _, _ in cols}
    extra = [(m.name, m.header, m.digits) for m in table_extras(task)
             if m.name not in have and any(r.get(m.name) not in (None, "") for r in rows)]
    at = len(cols) - 1 if cols and cols[-1][0] == "status" else len(cols)
    return cols[:at] + extra + cols[at:]


def render_by_task(records: Sequence[dict[str, Any]]) -> str:
    """One table per task (in order of first appearance), each with the task's own columns
    (`task_columns`); a single task prints just its table."""
    from nvbench.records.catalogue import load_plugin_metrics

    load_plugin_metrics(records)
    tasks = list(dict.fromkeys(str(r.get("task")) for r in records))
    out = []
    for name in tasks:
        mine = [r for r in records if str(r.get("task")) == name]
        rows = [{k: _short(v) for k, v in r.items()} for r in mine]
        if len(tasks) > 1:
            out.append(f"== {name} ==")
        out.append(render(rows, task_columns(name, mine)))
        out.append("")
    return "\n".join(out).rstrip("\n")


def _short(value: Any, width: int = 28) -> Any:
    """Long strings (e.g. a method's index-normalisation note) cut for the terminal; the store
    keeps them whole."""
    return value[: width - 1] + "…" if isinstance(value, str) and len(value) > width else value
