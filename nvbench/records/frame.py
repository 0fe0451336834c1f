"""Records as a table: the one place a list of records becomes a pandas DataFrame.

`nvbench.results.load` (the CLI side) and the report's `ReportData.frame` both call
`records_frame`, so the columns and the spellings of old stores are the same wherever a frame is
made. Old spellings are mapped in `normalise_record`, which the report also applies to each
record it keeps; nothing else rewrites a stored record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nvbench.records.record import RECORD_FIELDS, SPLIT_ALIASES


def normalise_record(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record as today's code reads it: every RECORD_FIELD present (None when the
    store lacks it), an empty variant as "", a missing split as "all", a missing status as "ok",
    old split spellings (held_out) mapped to the vocabulary. Extra fields are kept as they are."""
    row: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    row.update(rec)
    row["variant"] = row.get("variant") or ""
    split = row.get("split") or "all"
    row["split"] = SPLIT_ALIASES.get(split, split) if isinstance(split, str) else split
    row["status"] = row.get("status") or "ok"
    return row


def records_frame(records: Iterable[Mapping[str, Any]]):
    """One row per record, the RECORD_FIELDS columns first (present even for an empty list),
    then every other field in the order records first name it."""
    import pandas as pd

    rows = [normalise_record(r) for r in records]
    extra: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k not in extra:
                extra[k] = None
    columns = list(RECORD_FIELDS) + [k for k in extra if k not in RECORD_FIELDS]
    return pd.DataFrame(rows, columns=columns)
