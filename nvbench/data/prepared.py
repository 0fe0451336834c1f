"""Base class of datasets that users download and `nvbench data prepare` once (UVG, DAVIS).

Runs only open the prepared store (nvbench.data.store): memory-mapped uint8 frames and a
JSON sidecar whose checksum job keys use, so `checksum()` reads a small file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from nvbench.data import store
from nvbench.data.base import DatasetPlugin, data_root
from nvbench.errors import MissingDataError
from nvbench.video import Video

Printer = Callable[[str], None]


class PreparedDataset(DatasetPlugin):
    """Frames come from `<data root>/<name>/<sequence>/`; preparing puts them there."""

    #: what to tell a user whose data is missing (the source files and where they come from)
    source_hint: ClassVar[str] = ""

    def root(self) -> Path:
        return data_root() / self.name

    def folder(self, sequence: str | None) -> Path:
        return self.root() / self.card.sequence(sequence).name

    def is_prepared(self, sequence: str | None) -> bool:
        return store.is_prepared(self.folder(sequence))

    def missing(self, sequence: str | None) -> MissingDataError:
        seq = self.card.sequence(sequence).name
        return MissingDataError(
            f"{self.name} sequence {seq} is not prepared in {self.root()}; run "
            f"`nvbench data download {self.name} --sequence {seq}` (online) or "
            f"`nvbench data prepare {self.name} --from PATH` with {self.source_hint}"
        )

    def meta(self, sequence: str | None) -> dict[str, Any]:
        folder = self.folder(sequence)
        if not store.is_prepared(folder):
            raise self.missing(sequence)
        return store.read_meta(folder)

    def checksum(self, sequence: str | None = None) -> str:
        return str(self.meta(sequence)["checksum"])

    def load(self, sequence: str | None = None) -> Video:
        info = self.card.sequence(sequence)
        meta = self.meta(info.name)
        return Video(frames=store.open_frames(self.folder(info.name)), name=info.name, fps=info.fps,
                     source=str(meta.get("source", "")), dataset=self.name, colour=str(meta.get("colour", "")))

    def prepare(self, source: Path, sequences: Sequence[str] | None = None,
                echo: Printer = print) -> list[dict[str, Any]]:  # pragma: no cover - interface
        raise NotImplementedError

    def download(self, sequences: Sequence[str] | None = None, mirror: str | None = None,
                 keep: bool = False, echo: Printer = print) -> list[dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError


def progress_printer(echo: Printer, label: str) -> Callable[[int, int | None], None]:
    """Prints a download's progress every ~5%."""
    state = {"last": -1}

    def report(got: int, total: int | None) -> None:
        step = int(100 * got / total) // 5 if total else got >> 28
        if step != state["last"]:
            state["last"] = step
            echo(f"  {label}: {got / 1e6:,.0f} MB" + (f" of {total / 1e6:,.0f} MB" if total else ""))

    return report
