"""`nvbench compare --anchor x265,vvenc`: RD points and BD-rate / BD-PSNR from the store alone."""

from __future__ import annotations

import argparse
from typing import Any

from nvbench.records.catalogue import DEFAULT_ANCHOR, DEFAULT_QUALITY


def cmd_compare(args: argparse.Namespace) -> int:
    from nvbench.checks import CheckError
    from nvbench.errors import NvbenchError
    from nvbench.rd import bd_table, rd_table
    from nvbench.records.catalogue import load_plugin_metrics, quality_metrics
    from nvbench.results import Store

    store = Store(args.results)
    records = [r for r in store.records() if r.get("task") == "compression"]
    load_plugin_metrics(records)  # metrics the stored methods declare: table columns and --metric choices
    if args.metric not in quality_metrics():
        raise CheckError(f"--metric {args.metric}: expected one of {', '.join(quality_metrics())} "
                         "(catalogue metrics that may be a BD quality axis)")
    for key in ("dataset", "preset", "sequence"):
        want = getattr(args, key)
        if want:
            records = [r for r in records if str(r.get(key)) == want]
    if not records:
        raise NvbenchError(f"no compression records in {store.jobs_dir}/ (run: nvbench run -m hnerv,x265 "
                           f"-t compression --results {args.results})")
    from nvbench.tasks.compression import anchor_list

    anchors = anchor_list(args.anchor)
    for anchor in anchors:
        if not any(r.get("method") == anchor for r in records):
            known = sorted({str(r.get("method")) for r in records})
            raise NvbenchError(f"the store has no compression points of the anchor {anchor!r} "
                               f"(methods there: {', '.join(known)}); run: nvbench run -m {anchor} -t compression")
    if not args.no_points:
        print(rd_table(records))
        print()
    for i, anchor in enumerate(anchors):
        print(("\n" if i else "") + f"BD-rate / BD-PSNR against {anchor} on {args.metric} (PCHIP; negative BD-rate "
              "= fewer bits; seeds averaged per point, then each method's Pareto front):")
        print(bd_table(records, anchor, args.metric))
    ceilings = {}
    for r in records:
        if isinstance(r.get("psnr_ceiling_yuv420"), float):
            ceilings.setdefault((r.get("dataset"), r.get("sequence"), r.get("preset")), r["psnr_ceiling_yuv420"])
    for (ds, seq, preset), c in sorted(ceilings.items(), key=str):
        print(f"{ds}:{seq} ({preset}): the RGB -> YUV 4:2:0 -> RGB round trip alone allows {c:.2f} dB")
    return 0


def register(sub: Any) -> None:
    from nvbench.records.catalogue import BUILTIN
    from nvbench.results import DEFAULT_RESULTS

    p = sub.add_parser("compare", help="RD points and BD-rate/BD-PSNR of every method against an anchor")
    p.add_argument("--anchor", default=DEFAULT_ANCHOR,
                   help=f"anchor method(s), comma-separated, e.g. {DEFAULT_ANCHOR},vvenc (default {DEFAULT_ANCHOR})")
    p.add_argument("--metric", default=DEFAULT_QUALITY,
                   help=f"quality axis, a catalogue metric marked as one (default {DEFAULT_QUALITY}, RGB 8-bit; "
                        f"built in: {', '.join(m.name for m in BUILTIN if m.quality)})")
    p.add_argument("--results", default=DEFAULT_RESULTS, help="results store folder")
    p.add_argument("--dataset", help="only this dataset")
    p.add_argument("--sequence", help="only this sequence")
    p.add_argument("--preset", help="only this preset")
    p.add_argument("--no-points", action="store_true", help="only the BD table")
    p.set_defaults(func=cmd_compare)
