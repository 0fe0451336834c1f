"""Importing a video dataset published with Hugging Face `datasets` into nvbench's prepared store.

`nvbench data prepare NAME --from hf:ORG/DATASET` (downloaded through the library's own cache) or
`--from FOLDER` (a folder written by `Dataset.save_to_disk`, or one holding Parquet files) reads
one row per frame: an image column (a `datasets.Image` feature, or an H x W x 3 uint8 array), a
sequence column naming the video (absent: one sequence) and a frame-index column giving the order
(absent: row order). Each sequence is written once, like every prepared dataset, into
`<data root>/NAME/<sequence>/` (nvbench.data.store); runs read only that store, never Arrow.

The library is optional (`pip install "nvbench[hf]"`) and detected by importing it: the
repository's own `datasets/` folder would be found as a namespace package by `find_spec`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nvbench.errors import FormatError, UnavailableError

PREFIX = "hf:"
IMAGE_COLUMNS = ("image", "frame", "img", "rgb", "pixels", "picture")
SEQUENCE_COLUMNS = ("sequence", "video", "video_id", "clip", "seq", "name")
INDEX_COLUMNS = ("frame_index", "frame_idx", "frame_id", "frame_number", "index", "t", "idx")
COLOUR = "RGB as published in the dataset's image column (decoded by Pillow / stored as uint8)"
INSTALL = 'pip install "nvbench[hf]"'


def import_datasets() -> Any:
    """The `datasets` library, or a one-line error saying how to install it."""
    try:
        import datasets
    except ImportError as exc:
        raise UnavailableError(f"the `datasets` library is not installed ({exc}): {INSTALL}") from exc
    if not hasattr(datasets, "load_from_disk"):  # the repository's datasets/ folder, not the library
        raise UnavailableError(f"the `datasets` library is not installed (found only the folder "
                                     f"{list(getattr(datasets, '__path__', []))[:1]}): {INSTALL}")
    return datasets


def available() -> tuple[bool, str]:
    """(whether `datasets` can be imported, why not)."""
    try:
        import_datasets()
    except UnavailableError as exc:
        return False, str(exc)
    return True, ""


def is_hub_source(source: str | Path) -> bool:
    """hf:ORG/NAME, or a local folder written by save_to_disk or holding Parquet files."""
    s = str(source)
    if s.startswith(PREFIX):
        return True
    p = Path(s)
    if not p.is_dir():
        return False
    return any((p / f).is_file() for f in ("state.json", "dataset_info.json", "dataset_dict.json")) or \
        any(p.glob("*.parquet")) or any(p.glob("data/*.parquet"))


def open_source(source: str | Path, split: str | None = None) -> Any:
    """The source as one `datasets.Dataset` (a DatasetDict gives `split`, else its only or train split)."""
    datasets = import_datasets()
    s = str(source)
    if s.startswith(PREFIX):
        ds = datasets.load_dataset(s[len(PREFIX):])
    else:
        p = Path(s)
        if any((p / f).is_file() for f in ("state.json", "dataset_dict.json")):
            ds = datasets.load_from_disk(str(p))
        else:
            files = sorted(str(f) for f in list(p.glob("*.parquet")) + list(p.glob("data/*.parquet")))
            ds = datasets.load_dataset("parquet", data_files=files, split="train")
    if isinstance(ds, datasets.DatasetDict):
        names = list(ds)
        pick = split or ("train" if "train" in names else names[0] if len(names) == 1 else None)
        if pick not in ds:
            raise FormatError(f"{source}: splits {', '.join(names)}; name one (split={split!r})")
        ds = ds[pick]
    return ds


def _column(ds: Any, names: Sequence[str], what: str, required: bool) -> str | None:
    cols = list(ds.column_names)
    if what == "image":
        import datasets

        for c in cols:
            if isinstance(ds.features.get(c), datasets.Image):
                return c
    for n in names:
        if n in cols:
            return n
    if required:
        raise FormatError(f"no {what} column among {', '.join(cols)} (expected one of {', '.join(names)})")
    return None


def to_rgb(value: Any) -> np.ndarray:
    """One frame cell (PIL image, {'bytes': ...}, nested list or array) as uint8 (H, W, 3)."""
    if isinstance(value, dict) and value.get("bytes") is not None:
        import io

        from PIL import Image

        value = Image.open(io.BytesIO(value["bytes"]))
    if hasattr(value, "convert"):  # PIL
        value = value.convert("RGB")
    arr = np.asarray(value)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise FormatError(f"a frame of shape {arr.shape}: expected H x W x 3")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.max(initial=0) <= 1.0:
            arr = np.rint(arr * 255)
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def sequences_of(ds: Any, default_name: str) -> tuple[str, dict[str, list[int]]]:
    """(image column, sequence name -> row indices in frame order)."""
    image = _column(ds, IMAGE_COLUMNS, "image", True)
    seq_col = _column(ds, SEQUENCE_COLUMNS, "sequence", False)
    idx_col = _column(ds, INDEX_COLUMNS, "frame index", False)
    seqs = [str(s) for s in ds[seq_col]] if seq_col else [default_name] * ds.num_rows
    order = list(ds[idx_col]) if idx_col else list(range(ds.num_rows))
    rows: dict[str, list[tuple[Any, int]]] = defaultdict(list)
    for i, (s, k) in enumerate(zip(seqs, order)):
        rows[s].append((k, i))
    out = {}
    for s, pairs in rows.items():
        pairs.sort()
        ks = [k for k, _ in pairs]
        if len(set(ks)) != len(ks):
            raise FormatError(f"sequence {s}: frame index {idx_col!r} repeats a value")
        out[s] = [i for _, i in pairs]
    return image, out


def prepare_from_hub(plugin: Any, source: str | Path, sequences: Sequence[str] | None = None,
                     echo: Callable[[str], None] = print, split: str | None = None) -> list[dict[str, Any]]:
    """Write the source's sequences into `plugin`'s prepared store (a PreparedDataset); only
    sequences its card names are taken. Returns each sequence's meta (with its checksum)."""
    from nvbench.data import store

    ds = open_source(source, split)
    default = plugin.card.sequences[0].name if len(plugin.card.sequences) == 1 else plugin.name
    image, by_seq = sequences_of(ds, default)
    known = {s.name for s in plugin.card.sequences}
    wanted = list(sequences) if sequences else sorted(by_seq)
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise FormatError(f"{source}: sequence(s) {', '.join(unknown)} are not in {plugin.name}'s card "
                          f"({', '.join(sorted(known)[:8])}{'…' if len(known) > 8 else ''})")
    absent = [s for s in wanted if s not in by_seq]
    if absent:
        raise FormatError(f"{source}: no rows for {', '.join(absent)} (found {', '.join(sorted(by_seq)[:8])})")
    metas = []
    for seq in wanted:
        t0 = time.perf_counter()
        rows = by_seq[seq]
        first = to_rgb(ds[rows[0]][image])
        h, w = first.shape[:2]
        info = plugin.card.sequence(seq)
        if (info.frames, info.height, info.width) != (len(rows), h, w):
            echo(f"note: {seq}: {len(rows)} frames of {w}x{h} (the card says {info.frames} of "
                 f"{info.width}x{info.height})")
        with store.SequenceWriter(plugin.folder(seq), len(rows), h, w) as wr:
            for s in range(0, len(rows), 8):
                block = np.stack([to_rgb(ds[i][image]) for i in rows[s : s + 8]])
                if block.shape[1:3] != (h, w):
                    raise FormatError(f"{seq}: frames of {block.shape[2]}x{block.shape[1]} and {w}x{h}: "
                                      "all frames of a sequence must share one size")
                wr.write(block)
            meta = wr.finish({"dataset": plugin.name, "sequence": seq, "fps": float(info.fps), "colour": COLOUR,
                              "source": str(source), "hub_fingerprint": getattr(ds, "_fingerprint", None),
                              "convert_seconds": round(time.perf_counter() - t0, 3)})
        echo(f"{seq}: {len(rows)} frames of {w}x{h} imported in {time.perf_counter() - t0:.1f} s; "
             f"checksum {meta['checksum'][:16]}")
        metas.append(meta)
    if hasattr(plugin, "refresh_card"):
        plugin.refresh_card()
    return metas
