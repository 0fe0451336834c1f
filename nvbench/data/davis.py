"""DAVIS 2017: the 10 validation sequences of HNeRV's DAVIS experiments, Full-Resolution JPEG,
with the object annotations as masks.

Source: `DAVIS-2017-trainval-Full-Resolution.zip` (davischallenge.org), laid out as
`DAVIS/JPEGImages/Full-Resolution/<seq>/00000.jpg` and
`DAVIS/Annotations/Full-Resolution/<seq>/00000.png` (palette PNGs, index = object id,
0 = background). `nvbench data prepare davis --from PATH` takes the zip or the extracted
folder (any folder above `JPEGImages`). Frame counts and sizes are counted on disk when
prepared (the card's are the published ones, unverified here); the prepared counts replace
them in `DavisDataset().card`.

Masks for inpainting (and anything else), after `prepare`:

    from nvbench.data.davis import DavisDataset
    ds = DavisDataset()
    ids = ds.load_annotations("cows")          # uint8 (T, H, W) object ids, memory-mapped
    m = ds.load_masks("cows")                  # bool (T, H, W): any object
    m = ds.load_masks("cows", objects=[1])     # bool: object 1 only
    m = ds.load_masks("cows", crop=(960, 1920), size=(240, 480))  # same geometry as the frames

`load_masks` applies the frames' geometry (centre crop, then area resize; a pixel is masked
when at least half of its area is), so masks line up with `Video.crop_resize` output.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from nvbench.data import readers, store
from nvbench.data.base import DatasetCard, SequenceInfo, data_root
from nvbench.data.fetch import download, sha256_file
from nvbench.data.prepared import PreparedDataset, Printer, progress_printer
from nvbench.errors import FormatError, MissingDataError

RES = "Full-Resolution"
ARCHIVE = "DAVIS-2017-trainval-Full-Resolution.zip"
URL = f"https://data.vision.ee.ethz.ch/csergi/share/davis/{ARCHIVE}"
COLOUR = "JPEG (JFIF: BT.601 full range) decoded by Pillow"
# DAVIS-2017 frame counts as commonly listed, not verified here: the prepared ones replace them
_FRAMES = {"bike-packing": 69, "blackswan": 50, "bmx-trees": 80, "breakdance": 84, "camel": 90,
           "car-roundabout": 75, "car-shadow": 40, "cows": 104, "dance-twirl": 90, "dog": 60}

CARD = DatasetCard(
    name="davis",
    title="DAVIS 2017 val, the 10 sequences of HNeRV (Full-Resolution JPEG, object masks)",
    sequences=tuple(SequenceInfo(s, n, 1080, 1920, 24.0) for s, n in _FRAMES.items()),
    paper_crop=(960, 1920),
    colour=COLOUR,
    licence="annotations: CC BY 4.0 (DAVIS organisers); the videos belong to their owners and are "
    "distributed for research (as davischallenge.org states it; not re-checked from this offline machine)",
    citation="J. Pont-Tuset, F. Perazzi, S. Caelles, P. Arbelaez, A. Sorkine-Hornung, L. Van Gool, "
    "\"The 2017 DAVIS Challenge on Video Object Segmentation\", arXiv:1704.00675; and F. Perazzi, J. Pont-Tuset, "
    "B. McWilliams, L. Van Gool, M. Gross, A. Sorkine-Hornung, \"A Benchmark Dataset and Evaluation Methodology "
    "for Video Object Segmentation\", CVPR 2016 (the site asks for both)",
    source=f"https://davischallenge.org/davis2017/code.html ({ARCHIVE})",
    notes="frame counts and sizes are counted on disk by `nvbench data prepare davis` (the card's are "
    "the published counts, unverified); cpu preset: centre crop 960x1920, area-resized by 4 to 240x480. "
    "Regression/interpolation use blackswan, bmx-trees, dance-twirl, camel; inpainting all 10.",
    extra={"archive": ARCHIVE, "url": URL, "sha256": None, "layout": f"JPEGImages/{RES}/<seq>/*.jpg, "
           f"Annotations/{RES}/<seq>/*.png"},
)

_FRAME_RE = re.compile(rf"^(.*?)JPEGImages/{RES}/([^/]+)/([^/]+\.jpe?g)$", re.I)
_ANNOT_RE = re.compile(rf"^(.*?)Annotations/{RES}/([^/]+)/([^/]+\.png)$", re.I)


class _Source:
    """The frames and annotations of a zip or a folder, by sequence (natural order)."""

    def __init__(self, path: Path):
        self.path = Path(path).expanduser()
        self.zip: zipfile.ZipFile | None = None
        if not self.path.exists():
            raise MissingDataError(f"{self.path}: no such file or folder")
        if self.path.is_file():
            try:
                self.zip = zipfile.ZipFile(self.path)
                names = self.zip.namelist()
            except (zipfile.BadZipFile, OSError) as exc:
                raise FormatError(f"{self.path}: not a readable zip archive ({exc})") from None
        else:
            names = [p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()]
        self.frames: dict[str, list[str]] = {}
        self.annots: dict[str, list[str]] = {}
        for n in names:
            for regex, table in ((_FRAME_RE, self.frames), (_ANNOT_RE, self.annots)):
                m = regex.match(n)
                if m and not m.group(3).startswith("."):
                    table.setdefault(m.group(2), []).append(n)
        for table in (self.frames, self.annots):
            for k in table:
                table[k].sort(key=lambda n: readers.natural_key(n.rsplit("/", 1)[-1]))
        if not self.frames:
            other = "480p" if any("JPEGImages/480p/" in n for n in names) else None
            hint = (" (it holds the 480p release; the papers use Full-Resolution: "
                    f"{ARCHIVE})") if other else f" (expected JPEGImages/{RES}/<sequence>/*.jpg, as in {ARCHIVE})"
            raise FormatError(f"{self.path}: no DAVIS frames found{hint}")

    def name(self, member: str) -> str:
        return f"{self.path}:{member}" if self.zip else str(self.path / member)

    def open(self, member: str) -> Any:
        if self.zip is not None:
            return io.BytesIO(self.zip.read(member))
        return self.path / member

    def image(self, member: str, mode: str = "RGB") -> np.ndarray:
        return readers.read_image(self.open(member), self.name(member), mode)

    def size(self, member: str) -> tuple[int, int]:
        from PIL import Image

        try:
            with Image.open(self.open(member)) as img:
                return img.height, img.width
        except Exception as exc:
            raise FormatError(f"{self.name(member)}: corrupted or unreadable image ({exc})") from None


class DavisDataset(PreparedDataset):
    name = "davis"
    card = CARD
    source_hint = f"{ARCHIVE} (or its extracted folder) from {URL}"

    def __init__(self) -> None:
        self.refresh_card()

    def refresh_card(self) -> None:
        """Frame counts and sizes as prepared on disk replace the published ones."""
        seqs = []
        for s in CARD.sequences:
            folder = data_root() / self.name / s.name
            if store.is_prepared(folder):
                t, h, w, _ = store.read_meta(folder)["shape"]
                s = replace(s, frames=int(t), height=int(h), width=int(w))
            seqs.append(s)
        self.card = replace(CARD, sequences=tuple(seqs))

    # ------------------------------------------------------------- masks

    def load_annotations(self, sequence: str | None = None) -> np.ndarray:
        """uint8 (T, H, W) object ids (0 = background), memory-mapped."""
        folder = self.folder(sequence)
        self.meta(sequence)  # raises the "how to prepare" error when missing
        ids = store.open_masks(folder)
        if ids is None:
            raise MissingDataError(f"{folder}: this DAVIS sequence was prepared without annotations; prepare it "
                                   f"again from {ARCHIVE}, which has Annotations/{RES}/")
        return ids

    def load_masks(self, sequence: str | None = None, objects: Iterable[int] | None = None,
                   crop: tuple[int, int] | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
        """bool (T, H, W): True on the chosen objects (default: every object), with the frames'
        geometry applied (centre crop, then area resize, masked where >= half covered)."""
        ids = self.load_annotations(sequence)
        return masks_from_ids(ids, objects, crop, size)

    # ------------------------------------------------------------- preparing

    def prepare(self, source: Path, sequences: Sequence[str] | None = None,
                echo: Printer = print) -> list[dict[str, Any]]:
        src = _Source(Path(source))
        wanted = [self.card.sequence(s).name for s in sequences] if sequences else [s.name for s in self.card.sequences]
        present = [s for s in wanted if s in src.frames]
        missing = [s for s in wanted if s not in src.frames]
        if not present:
            raise FormatError(f"{src.path}: none of the DAVIS sequences {', '.join(wanted)} is there "
                              f"(found: {', '.join(sorted(src.frames)[:5])})")
        if missing and sequences:
            raise MissingDataError(f"{src.path}: no frames for {', '.join(missing)} under JPEGImages/{RES}/")
        if missing:
            echo(f"note: {src.path} lacks {', '.join(missing)}; preparing the {len(present)} it has")
        metas = [self._prepare_one(src, s, echo) for s in present]
        self.refresh_card()
        return metas

    def _prepare_one(self, src: _Source, seq: str, echo: Printer) -> dict[str, Any]:
        t0 = time.perf_counter()
        files = src.frames[seq]
        h, w = src.size(files[0])
        for f in files[1:]:
            if src.size(f) != (h, w):
                hh, ww = src.size(f)
                raise FormatError(f"{src.name(f)}: {ww}x{hh} differs from {files[0].rsplit('/', 1)[-1]} ({w}x{h}); "
                                  "all frames of a sequence must share one size")
        annots = src.annots.get(seq, [])
        stems = [Path(f).stem for f in files]
        if annots and [Path(a).stem for a in annots] != stems:
            raise FormatError(f"{src.name(annots[0]).rsplit('/', 1)[0]}: {len(annots)} annotations do not match the "
                              f"{len(files)} frames one to one (names {stems[0]}...{stems[-1]})")
        echo(f"{seq}: {len(files)} frames of {w}x{h}" + (" with object masks" if annots else " (no annotations)"))
        decode = 0.0
        with store.SequenceWriter(self.folder(seq), len(files), h, w, masks=bool(annots)) as wr:
            for s in range(0, len(files), 8):
                c0 = time.perf_counter()
                block = np.stack([src.image(f) for f in files[s : s + 8]])
                masks = None
                if annots:
                    masks = np.stack([src.image(a, mode="P") for a in annots[s : s + 8]])
                    if masks.shape[1:] != (h, w):
                        raise FormatError(f"{src.name(annots[s])}: annotation size {masks.shape[2]}x{masks.shape[1]} "
                                          f"differs from the frames' {w}x{h}")
                decode += time.perf_counter() - c0
                wr.write(block, masks)
            meta = wr.finish({
                "dataset": self.name, "sequence": seq, "fps": 24.0, "colour": COLOUR,
                "source": src.name(files[0].rsplit("/", 1)[0]), "annotations": len(annots),
                "convert_seconds": round(decode, 3),
            })
        echo(f"{seq}: prepared in {time.perf_counter() - t0:.1f} s; checksum {meta['checksum'][:16]}")
        return meta

    def download(self, sequences: Sequence[str] | None = None, mirror: str | None = None,
                 keep: bool = False, echo: Printer = print) -> list[dict[str, Any]]:
        url = (mirror.rstrip("/") + "/" + ARCHIVE) if mirror else URL
        dest = data_root() / "downloads" / ARCHIVE
        echo(f"davis: downloading {url}")
        download(url, dest, sha256=self.card.extra["sha256"], progress=progress_printer(echo, ARCHIVE))
        if self.card.extra["sha256"] is None:
            echo(f"davis: sha256 {sha256_file(dest)}")
        metas = self.prepare(dest, sequences, echo)
        if not keep:
            dest.unlink()
        return metas


def masks_from_ids(ids: np.ndarray, objects: Iterable[int] | None = None, crop: tuple[int, int] | None = None,
                   size: tuple[int, int] | None = None, chunk: int = 16) -> np.ndarray:
    """Object-id maps (T, H, W) -> bool masks with the frames' geometry."""
    t, h, w = ids.shape
    if crop is not None and tuple(crop) != (h, w):
        ch, cw = crop
        if ch > h or cw > w:
            raise ValueError(f"crop {ch}x{cw} is larger than the {h}x{w} masks")
        top, left = (h - ch) // 2, (w - cw) // 2
        ids = ids[:, top : top + ch, left : left + cw]
    oh, ow = size if size is not None else ids.shape[1:]
    out = np.empty((t, oh, ow), dtype=bool)
    objs = None if objects is None else np.asarray(list(objects), dtype=np.uint8)
    for s, block in _chunks(ids, chunk):
        m = (block > 0) if objs is None else np.isin(block, objs)
        if (oh, ow) != m.shape[1:]:
            from nvbench.video import area_resize

            rgb = np.repeat(m.astype(np.uint8)[..., None] * 255, 3, axis=-1)
            m = area_resize(rgb, oh, ow)[..., 0] >= 128
        out[s : s + m.shape[0]] = m
    return out


def _chunks(a: np.ndarray, n: int) -> Iterator[tuple[int, np.ndarray]]:
    for s in range(0, a.shape[0], n):
        yield s, np.asarray(a[s : s + n])
