"""Non-learned anchors, registered as methods so they sit in every table beside the learned ones.

- neighbour-average: a held-out frame is the average of its two trained neighbours (weighted by
  distance; a plain mean for every-other-frame), so a reader sees what learning adds.
- masked-input: the masked frame itself (the "Input" row of HNeRV's Table 8).
- classical-inpaint: OpenCV's per-frame inpainting (Telea or Navier-Stokes), the floor a learned
  inpainting should beat.

Numpy only at import; OpenCV is imported when a frame is inpainted.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from nvbench.methods import ANCHOR, INPAINT, INTERPOLATE, MethodPlugin


class NeighbourAverage(MethodPlugin):
    name = "neighbour-average"
    version = "1"
    description = "anchor: a held-out frame is the distance-weighted average of its trained neighbours"
    capabilities = frozenset({ANCHOR, INTERPOLATE})
    index_normalisation = "none (uses the neighbouring frames themselves)"

    @classmethod
    def interpolate_frames(cls, before: Any, after: Any, weight_after: Any, options: dict[str, Any]) -> Any:
        w = np.asarray(weight_after, dtype=np.float64).reshape(-1, 1, 1, 1)
        out = (1.0 - w) * np.asarray(before, dtype=np.float64) + w * np.asarray(after, dtype=np.float64)
        return (out / 255.0).astype(np.float32)


class MaskedInput(MethodPlugin):
    name = "masked-input"
    version = "1"
    description = "anchor: the masked frame itself (missing pixels are 0), the input of inpainting"
    capabilities = frozenset({ANCHOR, INPAINT})

    @classmethod
    def inpaint_frames(cls, masked: Any, masks: Any, options: dict[str, Any]) -> Any:
        return np.asarray(masked, dtype=np.float32) / 255.0


class ClassicalInpaint(MethodPlugin):
    name = "classical-inpaint"
    version = "1"
    description = "anchor: OpenCV per-frame inpainting (Telea or Navier-Stokes) of the masked pixels"
    capabilities = frozenset({ANCHOR, INPAINT})
    requires = ("cv2",)
    install_hint = "pip install 'opencv-python-headless>=4.8,<4.12' (or nvbench[full])"
    options: ClassVar[dict[str, Any]] = {"algorithm": "telea", "radius": 3}
    option_choices: ClassVar[dict[str, tuple[Any, ...]]] = {"algorithm": ("telea", "ns")}
    option_ranges: ClassVar[dict[str, tuple[Any, Any]]] = {"radius": (1, None)}

    @classmethod
    def inpaint_frames(cls, masked: Any, masks: Any, options: dict[str, Any]) -> Any:
        import cv2

        from nvbench.errors import NvbenchError

        opts = cls.resolve_options(options)
        flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}.get(str(opts["algorithm"]).lower())
        if flags is None:
            raise NvbenchError(f"classical-inpaint: algorithm={opts['algorithm']!r} is not one of telea, ns")
        out = np.empty(np.shape(masked), dtype=np.float32)
        for b, (frame, mask) in enumerate(zip(masked, masks)):
            filled = cv2.inpaint(np.ascontiguousarray(frame, dtype=np.uint8),
                                 np.ascontiguousarray(mask, dtype=np.uint8) * 255, float(opts["radius"]), flags)
            out[b] = filled.astype(np.float32) / 255.0
        return out
