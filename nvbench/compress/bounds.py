"""What a .nvb header may ask a decoder to do, checked before anything is imported, built or allocated.

A header is untrusted input even when its checksums are right (they are recomputed as easily as
the header is edited), so three things are bounded from it:

- the method is a registered plugin of this install (a name like `os:system` is a name, never
  something to import), and the header's frames / height / width are the config's, which is
  what the stored tensors were checked against (a header saying 4 or 9 frames of an 8-frame
  file is refused, not decoded short or into an IndexError);
- what the file can hold: the frames must come from at least MIN_BPP stored bits per decoded
  pixel, so a 36 KB file cannot describe 10^9 frames (the papers' lowest rates are ~0.01 bpp);
- the caller's limit on the decoded bytes (`max_output_bytes`, else $NVBENCH_DECODE_LIMIT, else
  the memory available on this machine).

Every refusal is a FormatError subclass naming the file.
"""

from __future__ import annotations

import os
from typing import Any

from nvbench.compress.container import HeaderMismatchError
from nvbench.errors import FormatError

#: the fewest stored bits per decoded pixel a file may claim (10x below the lowest published rates)
MIN_BPP = 0.001


class OutputLimitError(FormatError):
    """The decode the header describes is more than the file can hold or than the limit allows."""


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _gb(n: float) -> str:
    return f"{n / 1e9:,.2f} GB"


def check_method_and_shape(header: dict[str, Any], name: str) -> None:
    """A registered method, and frames/height/width that agree with the config (when it has them)."""
    from nvbench import registry

    method = header.get("method")
    known = registry.methods.names()
    if not isinstance(method, str) or method not in known:
        raise HeaderMismatchError(f"{name}: method {method!r} is not a method registered in this install "
                                  f"(known: {', '.join(sorted(known))})")
    sections = header.get("sections")
    stored = sum(int(s.get("length", 0)) for s in sections if isinstance(s, dict)) if isinstance(sections, list) else 0
    check_can_hold(header, stored, name)
    config = header.get("config")
    if isinstance(config, dict):
        for key in ("frames", "height", "width"):
            if key in config and config[key] != header.get(key):
                raise HeaderMismatchError(f"{name}: header says {key}={header.get(key)!r} but the decoder's "
                                          f"config says {config[key]!r}")


def output_limit(max_output_bytes: int | None = None) -> int | None:
    """The caller's limit, else $NVBENCH_DECODE_LIMIT (bytes; 4G, 500M also read), else the memory available."""
    if max_output_bytes is not None:
        return int(max_output_bytes)
    env = os.environ.get("NVBENCH_DECODE_LIMIT")
    if env:
        return parse_bytes(env)
    from nvbench.checks import available_memory

    return available_memory("cpu")[0]


def parse_bytes(text: str) -> int:
    """'4G', '500M', '123456' -> bytes (powers of 1000: what the messages print)."""
    t = str(text).strip().upper().removesuffix("B")
    scale = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}.get(t[-1:], 1)
    number = float(t[:-1] if scale != 1 else t)
    if not number > 0:
        raise ValueError(text)
    return int(number * scale)


def check_can_hold(header: dict[str, Any], stored_bytes: int, name: str) -> int:
    """The decoded bytes the header asks for, refused when the stored bytes could not describe
    them (fewer than MIN_BPP bits per pixel)."""
    frames, height, width = header.get("frames"), header.get("height"), header.get("width")
    if not (_int(frames) and _int(height) and _int(width)) or min(frames, height, width) < 1:
        raise HeaderMismatchError(f"{name}: frames, height and width must be positive integers")
    pixels = frames * height * width
    if stored_bytes * 8 < MIN_BPP * pixels:
        raise OutputLimitError(f"{name}: the header describes {frames} frames of {height}x{width} "
                               f"({_gb(pixels * 3)}) from {stored_bytes} stored bytes: more than they can hold "
                               f"(under {MIN_BPP} bits per pixel)")
    return pixels * 3


def check_output(header: dict[str, Any], file_bytes: int, name: str, max_output_bytes: int | None = None) -> int:
    """The decoded size in bytes (uint8 RGB frames) the header asks for, or OutputLimitError."""
    frames, height, width = header.get("frames"), header.get("height"), header.get("width")
    out = check_can_hold(header, file_bytes, name)
    limit = output_limit(max_output_bytes)
    if limit is not None and out > limit:
        raise OutputLimitError(f"{name}: decoding would produce {_gb(out)} ({frames} frames of {height}x{width}), "
                               f"above the limit of {_gb(limit)} (--max-output or NVBENCH_DECODE_LIMIT)")
    return out
