"""`nvbench report`: the store as one self-contained HTML page (or a terminal summary) plus
CSV/Parquet and CompressAI-style RD JSON exports. Reads the store only; never trains."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nvbench.results import DEFAULT_RESULTS

DEFAULT_OUT = "reports/index.html"


def cmd_report(args: argparse.Namespace) -> int:
    from nvbench.checks import disk_errors

    return disk_errors("the report")(_report)(args)


def _report(args: argparse.Namespace) -> int:
    from nvbench import checks
    from nvbench.report.build import build_context, write_html
    from nvbench.report.export import write_rd_json, write_tables

    checks.existing_folder("--results", args.results)
    out = Path(args.out)
    if out.is_dir():
        raise checks.CheckError(f"--out {out}: is a folder; name the HTML file to write, e.g. {out / 'index.html'}")
    if args.format != "text" or not args.no_export:
        checks.writable_folder("--out", out.parent, create=True)
    if args.format == "text":
        from nvbench.report.text import render_text

        ctx = build_context(args.results, out.parent, args.anchor, with_plots=False)
        print(render_text(ctx))
    else:
        out, ctx = write_html(args.results, out, args.anchor)
        data = ctx["data"]
        print(f"wrote {out} ({len(data.records)} records from {len(data.jobs)} jobs; "
              f"{len(data.left_out)} left out)")
        for note in data.notes:
            print(f"note: {note}")
    if not args.no_export:
        paths = write_tables(ctx["data"], out.parent) + write_rd_json(ctx["curves"], out.parent)
        print(f"exports: {', '.join(str(p) for p in paths[:3])}{' …' if len(paths) > 3 else ''} "
              f"({len(paths)} files)")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="HTML leaderboard, plots and the papers' numbers from the results store")
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    p.add_argument("--out", "-o", default=DEFAULT_OUT, help="HTML file to write (exports go next to it)")
    p.add_argument("--format", choices=["html", "text"], default="html", help="html page or a terminal summary")
    p.add_argument("--anchor", help="method the BD-rates are measured against (default x265, else x264)")
    p.add_argument("--no-export", action="store_true", help="skip results.csv/.parquet and rd/*.json")
    p.set_defaults(func=cmd_report)
