"""`nvbench export --format hf DIR`: the results store as a Hugging Face `datasets` dataset (one row
per record, record and job provenance as JSON), which `nvbench report --results DIR` reads back."""

from __future__ import annotations

import argparse
from typing import Any

from nvbench.results import DEFAULT_RESULTS


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nvbench.errors import NvbenchError

    if not (Path(args.results) / "jobs").is_dir():
        raise NvbenchError(f"--results {args.results}: not a results store (no jobs/ folder in it)")
    out = Path(args.dir)
    if out.exists() and any(out.iterdir()):
        raise NvbenchError(f"DIR {out}: exists and is not empty; name a new folder")
    if args.format == "hf":
        from nvbench.report.hf import write_export

        out, n = write_export(args.results, out)
        print(f"wrote {out}: {n} records as a datasets dataset (load_from_disk; push_to_hub to share); "
              f"`nvbench report --results {out}` reads it back")
        return 0
    from nvbench.report.data import load_report_data
    from nvbench.report.export import write_tables

    paths = write_tables(load_report_data(args.results), out)
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("export", help="the results store as a Hugging Face datasets dataset (or CSV/Parquet)")
    p.add_argument("dir", help="the folder to write (new or empty)")
    p.add_argument("--format", choices=["hf", "tables"], default="hf",
                   help="hf: a datasets save_to_disk folder, one row per record (needs nvbench[hf]); "
                        "tables: results.csv (+ .parquet with pyarrow)")
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    p.set_defaults(func=cmd_export)
