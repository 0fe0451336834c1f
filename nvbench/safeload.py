"""Loading tensor files from a results store without ever running code from them.

A store may be shared (a cluster's results folder), so a file in it is untrusted input:
checkpoints and trained models are read with `torch.load(weights_only=True)`, which accepts
tensors and plain containers (dict, list, tuple, str, numbers) and refuses any other pickled
object before creating it. A refused or corrupted cache file is reported in one line and
treated as absent, so the job trains again instead of failing for good; the file is replaced
by the new training's atomic write.
"""

from __future__ import annotations

import pickle
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

from nvbench.errors import FormatError


class UnsafeFileError(FormatError):
    """A file that holds something other than tensors and plain data (e.g. a pickled callable)."""


def _reason(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"WeightsUnpickler error: ([^\n]*?)(?: was not an allowed global.*)?$", text, flags=re.M)
    found = m.group(1).strip() if m else (text.strip().splitlines() or [type(exc).__name__])[0]
    return found[:200]


def load_tensors(path: str | Path, map_location: Any = "cpu") -> Any:
    """torch.load restricted to tensors and plain data. UnsafeFileError when the file asks for
    anything else (nothing of it is executed), FormatError when it is not a readable torch file."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeFileError(f"{path}: refused: not plain tensors ({_reason(exc)})") from None
    except (RuntimeError, EOFError, ValueError, KeyError, zipfile.BadZipFile, OSError, IndexError) as exc:
        raise FormatError(f"{path}: unreadable torch file ({_reason(exc)})") from None


def _note(message: str) -> None:
    print(f"nvbench: {message}", file=sys.stderr, flush=True)


def load_cached_model(model: Any, path: Path, map_location: Any = "cpu") -> bool:
    """Load a cached trained model's state into `model`; False (after one line saying why) when
    the file is refused, corrupted or does not fit the model, so the caller trains again."""
    try:
        model.load_state_dict(load_tensors(path, map_location))
        return True
    except FormatError as exc:
        _note(f"{exc}; training again")
    except (RuntimeError, TypeError, AttributeError) as exc:  # a state of another shape
        _note(f"{path}: does not fit the model ({_reason(exc)}); training again")
    return False


CHECKPOINT_KEYS = ("model", "optimizer", "generator", "torch_rng", "epoch", "elapsed", "history", "evaluations")


def load_checkpoint(path: Path | None, map_location: Any = "cpu") -> dict[str, Any] | None:
    """A training checkpoint to resume from, or None (no file; or refused / corrupted / of the
    wrong shape: one line, the file is removed and training starts from epoch 0)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        state = load_tensors(path, map_location)
        if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
            raise FormatError(f"{path}: not a training checkpoint")
        return state
    except FormatError as exc:
        _note(f"{exc}; training from the start")
    try:
        Path(path).unlink()
    except OSError:
        pass
    return None


def read_json_dict(path: Path) -> dict[str, Any] | None:
    """A JSON object from a cache file; None (one line) when it is unreadable or not an object."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        _note(f"{path}: unreadable ({type(exc).__name__}); ignored")
        return None
    if not isinstance(data, dict):
        _note(f"{path}: a JSON {type(data).__name__}, not an object; ignored")
        return None
    return data
