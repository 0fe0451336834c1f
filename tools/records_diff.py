"""Compare the records of two stores field by field, timings left out: do two runs give the same results?

    python tools/records_diff.py STORE_A STORE_B

Jobs are matched by key and records by (method, task, variant). Left out: fields that measure
time or say how it was timed (`*_seconds*`, `*_fps*` such as `decode_fps_variant`, `seconds`) and
the file path (it names the store). Exit 0 when every other field is equal (floats bit for bit),
1 with the differences listed otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

IGNORED = {"file"}


def timing_field(name: str) -> bool:
    return "_seconds" in name or "_fps" in name or name in {"seconds", "fps"}


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in IGNORED and not timing_field(k)}


def store_records(root: str | Path) -> dict[tuple, dict[str, Any]]:
    out = {}
    for path in sorted(Path(root, "jobs").glob("*.json")):
        payload = json.loads(path.read_text())
        for r in payload.get("records", []):
            out[(path.stem, r.get("method"), r.get("task"), r.get("variant"))] = comparable(r)
    return out


def differences(a: dict[tuple, dict[str, Any]], b: dict[tuple, dict[str, Any]]) -> list[str]:
    lines = [f"only in one store: {k}" for k in sorted(set(a) ^ set(b), key=str)]
    for k in sorted(set(a) & set(b), key=str):
        for f in sorted(set(a[k]) | set(b[k])):
            if a[k].get(f, "<missing>") != b[k].get(f, "<missing>"):
                lines.append(f"{k} {f}: {a[k].get(f, '<missing>')!r} != {b[k].get(f, '<missing>')!r}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    a, b = store_records(argv[0]), store_records(argv[1])
    diff = differences(a, b)
    fields = sum(len(r) for r in a.values())
    same = f"{len(a)} records, {fields} fields: identical (timings and file paths left out)"
    print("\n".join(diff) if diff else same)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
