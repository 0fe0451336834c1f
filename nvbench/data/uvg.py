"""UVG: the 7 1080p sequences the NeRV/HNeRV papers use, from the raw 8-bit YUV 4:2:0 files.

Source files (ultravideo.fi): `<Seq>_1920x1080_120fps_420_8bit_YUV_RAW.7z`, each holding
`<Seq>_1920x1080_120fps_420_8bit_YUV.yuv` (1920x1080, 4:2:0, 8 bit, 600 frames; ShakeNDry
300). `nvbench data prepare uvg --from PATH` takes a folder of .yuv and/or .7z files, or one
such file; it converts each sequence once to RGB with BT.709 limited range (our own code,
nvbench.data.readers; ffmpeg would assume BT.601) and stores uint8 frames memory-mapped.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nvbench.data import readers
from nvbench.data.base import DatasetCard, SequenceInfo, data_root
from nvbench.data.fetch import download, extract_7z_member, sha256_file
from nvbench.data.prepared import PreparedDataset, Printer, progress_printer
from nvbench.data.store import SequenceWriter
from nvbench.errors import FormatError, MissingDataError

URL_BASE = "https://ultravideo.fi/video/"
_FRAMES = {"Beauty": 600, "Bosphorus": 600, "HoneyBee": 600, "Jockey": 600, "ReadySteadyGo": 600,
           "ShakeNDry": 300, "YachtRide": 600}


def yuv_name(seq: str, height: int = 1080, width: int = 1920) -> str:
    return f"{seq}_{width}x{height}_120fps_420_8bit_YUV.yuv"


def archive_name(seq: str, height: int = 1080, width: int = 1920) -> str:
    return f"{seq}_{width}x{height}_120fps_420_8bit_YUV_RAW.7z"


CARD = DatasetCard(
    name="uvg",
    title="UVG 1080p (7 sequences of the NeRV/HNeRV papers, raw 8-bit YUV 4:2:0)",
    sequences=tuple(SequenceInfo(s, n, 1080, 1920, 120.0) for s, n in _FRAMES.items()),
    paper_crop=(960, 1920),
    colour=readers.YUV_COLOUR,
    licence="Creative Commons BY-NC 4.0 (Ultra Video Group, Tampere University); non-commercial use",
    citation="A. Mercat, M. Viitanen, J. Vanne, \"UVG dataset: 50/120fps 4K sequences for video codec "
    "analysis and development\", ACM MMSys 2020",
    source="https://ultravideo.fi/dataset.html (1920x1080, 8-bit, YUV, RAW archives)",
    notes="cpu preset: centre crop 960x1920, area-resized by 4 to 240x480. ShakeNDry has 300 frames "
    "(2.5 s); 3,900 frames in all. The paper footnote's 'ReadySetGo' is ReadySteadyGo. The download URLs "
    "follow the site's naming and could not be checked from an offline machine; --mirror replaces the base.",
    extra={
        "archives": {s: archive_name(s) for s in _FRAMES},
        "files": {s: yuv_name(s) for s in _FRAMES},
        "url_base": URL_BASE,
        "sha256": {s: None for s in _FRAMES},  # not published by UVG; downloads print theirs
        "yuv_bytes": {s: n * readers.yuv420_frame_bytes(1080, 1920) for s, n in _FRAMES.items()},
    },
)


class UVGDataset(PreparedDataset):
    name = "uvg"
    card = CARD
    source_hint = ("a folder holding the .yuv files or the .7z archives from "
                   f"{URL_BASE}<Seq>_1920x1080_120fps_420_8bit_YUV_RAW.7z")

    # ------------------------------------------------------------- finding the sources

    def _match(self, filename: str, seq: str) -> bool:
        name = Path(filename).name.lower()
        return name.startswith(seq.lower() + "_") and name.endswith((".yuv", ".7z"))

    def find_sources(self, source: Path, sequences: Sequence[str] | None) -> dict[str, Path]:
        """The .yuv or .7z of each wanted sequence under `source` (a folder or one file)."""
        source = Path(source).expanduser()
        if not source.exists():
            raise MissingDataError(f"{source}: no such file or folder")
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        wanted = [self.card.sequence(s).name for s in sequences] if sequences else [s.name for s in self.card.sequences]
        found: dict[str, Path] = {}
        for seq in wanted:
            cands = [p for p in files if self._match(p.name, seq) and not p.name.startswith(".")]
            cands.sort(key=lambda p: p.suffix.lower() != ".yuv")  # a .yuv beats its archive
            if cands:
                found[seq] = cands[0]
        if source.is_file() and not found:
            raise FormatError(f"{source}: not a UVG file; expected a name like {yuv_name('Beauty')} or "
                              f"{archive_name('Beauty')}")
        if not found:
            raise FormatError(f"{source}: no UVG .yuv or .7z files in this folder (expected names like "
                              f"{yuv_name('Beauty')} or {archive_name('Beauty')})")
        if sequences:
            missing = [s for s in wanted if s not in found]
            if missing:
                raise MissingDataError(f"{source}: no file for {', '.join(missing)} (expected "
                                       f"{' or '.join(yuv_name(missing[0]) + x for x in ('', ' / .7z'))})")
        return found

    def _check_name(self, path: Path, info: SequenceInfo) -> None:
        hw = readers.yuv_size_from_name(path)
        if hw is not None and hw != (info.height, info.width):
            expected = yuv_name(info.name, info.height, info.width)
            raise FormatError(f"{path}: the name says {hw[1]}x{hw[0]}, but UVG {info.name} is "
                              f"{info.width}x{info.height}; use the {expected} files")
        if "10bit" in path.name.lower():
            raise FormatError(f"{path}: a 10-bit file; nvbench reads the 8-bit 4:2:0 UVG files "
                              f"({yuv_name(info.name, info.height, info.width)})")

    # ------------------------------------------------------------- preparing

    def prepare(self, source: Path, sequences: Sequence[str] | None = None,
                echo: Printer = print) -> list[dict[str, Any]]:
        found = self.find_sources(source, sequences)
        metas = []
        for seq, path in found.items():
            metas.append(self.prepare_one(seq, path, echo))
        return metas

    def prepare_one(self, seq: str, path: Path, echo: Printer = print) -> dict[str, Any]:
        info = self.card.sequence(seq)
        self._check_name(path, info)
        extracted = None
        t0 = time.perf_counter()
        try:
            if path.suffix.lower() == ".7z":
                echo(f"{info.name}: extracting {path.name}")
                extracted = extract_7z_member(
                    path, lambda n: self._match(n, info.name) and n.lower().endswith(".yuv"),
                    self.root(), yuv_name(info.name, info.height, info.width))
                self._check_name(extracted, info)
                yuv = extracted
            else:
                yuv = path
            t_extract = time.perf_counter() - t0
            raw = readers.open_yuv420(yuv, info.height, info.width, frames=info.frames)
            echo(f"{info.name}: converting {info.frames} frames of {info.width}x{info.height} (BT.709 limited) "
                 f"into {self.folder(info.name)}")
            convert = 0.0
            with SequenceWriter(self.folder(info.name), info.frames, info.height, info.width) as w:
                chunks = readers.iter_yuv420_rgb(raw, info.height, info.width)
                while True:
                    c0 = time.perf_counter()
                    block = next(chunks, None)
                    convert += time.perf_counter() - c0
                    if block is None:
                        break
                    w.write(block)
                del raw
                meta = w.finish({
                    "dataset": self.name, "sequence": info.name, "fps": info.fps, "colour": readers.YUV_COLOUR,
                    "source": str(path), "source_member": yuv.name, "source_bytes": yuv.stat().st_size,
                    "convert_seconds": round(convert, 3), "extract_seconds": round(t_extract, 3),
                })
        finally:
            if extracted is not None:
                shutil.rmtree(extracted.parent, ignore_errors=True)
        total = time.perf_counter() - t0
        echo(f"{info.name}: prepared in {total:.1f} s ({meta['convert_seconds']:.1f} s conversion, "
             f"{meta['write_seconds']:.1f} s writing+hashing); checksum {meta['checksum'][:16]}")
        return meta

    # ------------------------------------------------------------- downloading

    def download(self, sequences: Sequence[str] | None = None, mirror: str | None = None,
                 keep: bool = False, echo: Printer = print) -> list[dict[str, Any]]:
        """Fetch each sequence's archive (resumable), verify it, prepare it, and delete the
        archive unless `keep`."""
        base = mirror or URL_BASE
        base = base if base.endswith("/") else base + "/"
        seqs = [self.card.sequence(s).name for s in sequences] if sequences else [s.name for s in self.card.sequences]
        metas = []
        for seq in seqs:
            info = self.card.sequence(seq)
            archive = archive_name(seq, info.height, info.width)
            dest = data_root() / "downloads" / archive
            echo(f"{seq}: downloading {base}{archive}")
            download(base + archive, dest, sha256=self.card.extra["sha256"].get(seq),
                     progress=progress_printer(echo, archive))
            if self.card.extra["sha256"].get(seq) is None:
                echo(f"{seq}: sha256 {sha256_file(dest)} (UVG publishes none; compare with a colleague's)")
            metas.append(self.prepare_one(seq, dest, echo))
            if not keep:
                dest.unlink()
        return metas
