"""CompressAI's learned image codecs as frame-by-frame video baselines (CODEC capability).

Each frame goes through the model's real entropy coder (`compress`/`decompress` after
`update()`); the bitstream file holds every frame's strings with their lengths, so bpp counts
real bytes. Pretrained weights are read only from the torch hub cache
($TORCH_HOME/hub/checkpoints), the folder $NVBENCH_COMPRESSAI_WEIGHTS or `--set weights=DIR`;
nothing is downloaded.
Without them the method is unavailable and says how to fetch them; random weights never give
numbers.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, ClassVar

from nvbench.errors import FormatError, UnavailableError
from nvbench.methods import CODEC, MethodPlugin

_MAGIC = b"NVBCAI1\x00"


def hub_checkpoints() -> Path:
    """torch.hub's checkpoint folder, found without importing torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                        os.path.expanduser("~/.cache"), "torch")
    return Path(home) / "hub" / "checkpoints"


class CompressAICodec(MethodPlugin):
    capabilities = frozenset({CODEC})
    requires = ("compressai",)
    install_hint = "pip install 'nvbench[full]'  (compressai)"
    quality_name = "CompressAI quality (1 = lowest rate)"
    arch: ClassVar[str] = ""
    file_prefix: ClassVar[str] = ""  # checkpoint file names: <prefix>-<quality>-<hash>.pth.tar (MSE models)
    max_quality: ClassVar[int] = 8
    options: ClassVar[dict[str, Any]] = {"qualities": [], "weights": ""}
    option_types: ClassVar[dict[str, type]] = {"qualities": int}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each model's quality range (1..max_quality) is the declared range of `qualities`."""
        super().__init_subclass__(**kwargs)
        if "option_ranges" not in cls.__dict__:
            cls.option_ranges = {"qualities": (1, cls.max_quality)}

    @classmethod
    def fetch_command(cls) -> str:
        fn = cls.arch.replace("-", "_")
        return (f"python -c \"from compressai.zoo import {fn}; "
                f"[{fn}(quality=q, pretrained=True) for q in range(1, {cls.max_quality + 1})]\"")

    @classmethod
    def weights_file(cls, quality: int, folder: str | Path | None = None) -> Path | None:
        env = os.environ.get("NVBENCH_COMPRESSAI_WEIGHTS")
        for d in [Path(p) for p in (folder, env) if p] + [hub_checkpoints()]:
            found = sorted(d.glob(f"{cls.file_prefix}-{quality}-*.pth.tar")) if d.is_dir() else []
            if found:
                return found[0]
        return None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if not any(cls.weights_file(q) for q in range(1, cls.max_quality + 1)):
            return (f"no weights in {hub_checkpoints()} (fetch online: {cls.fetch_command()}; "
                    "or put them in a folder named by NVBENCH_COMPRESSAI_WEIGHTS)")
        return None

    @classmethod
    def qualities(cls, preset: str, options: dict[str, Any]) -> list[int]:
        o = cls.resolve_options(options)
        wanted = [int(q) for q in o["qualities"]] or list(range(1, cls.max_quality + 1))
        have = [q for q in wanted if cls.weights_file(q, o["weights"] or None)]
        if not have:
            raise UnavailableError(f"{cls.name}: no weights for qualities {wanted} ({cls.unavailable_reason()})")
        return have[:2] if preset == "smoke" else have

    @classmethod
    def load_model(cls, quality: int, options: dict[str, Any]) -> Any:
        from compressai.zoo.image import model_architectures
        from compressai.zoo.pretrained import load_pretrained

        path = cls.weights_file(quality, cls.resolve_options(options)["weights"] or None)
        if path is None:
            raise UnavailableError(f"{cls.name}: no weights for quality {quality} ({cls.fetch_command()})")
        from nvbench.safeload import load_tensors

        state = load_tensors(path)  # tensors and plain data only; anything else is refused in one line
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        model = model_architectures[cls.arch].from_state_dict(load_pretrained(state))
        model.update(force=True)
        return model.eval()

    @classmethod
    def encode(cls, frames: Any, quality: Any, workdir: Any, options: dict[str, Any], fps: float = 25.0) -> Path:
        import torch
        import torch.nn.functional as F

        model = cls.load_model(int(quality), options)
        t, h, w = frames.shape[:3]
        ph, pw = (-h) % 64, (-w) % 64
        out = bytearray(_MAGIC + struct.pack("<IIII", t, h, w, int(quality)))
        with torch.inference_mode():
            for i in range(t):
                x = torch.from_numpy(frames[i]).permute(2, 0, 1)[None].float() / 255.0
                x = F.pad(x, (0, pw, 0, ph), mode="replicate")
                enc = model.compress(x)
                strings = enc["strings"]
                out += struct.pack("<HHI", *(int(v) for v in enc["shape"]), len(strings))
                for s in strings:
                    out += struct.pack("<I", len(s[0])) + s[0]
        path = Path(workdir) / f"{cls.name}_q{quality}.cai"
        path.write_bytes(bytes(out))
        return path

    @classmethod
    def decode(cls, bitstream: Any, shape: tuple[int, int, int], workdir: Any, options: dict[str, Any]) -> Any:
        import numpy as np
        import torch

        from representations.ffmpeg_codecs import CodecOutput

        data = Path(bitstream).read_bytes()
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 16:
            raise FormatError(f"{bitstream}: not a CompressAI bitstream written by nvbench")
        t, h, w, quality = struct.unpack_from("<IIII", data, len(_MAGIC))
        if (t, h, w) != tuple(shape):
            raise FormatError(f"{bitstream}: holds {t}x{h}x{w} frames, expected {shape}")
        model = cls.load_model(quality, options)
        pos = len(_MAGIC) + 16
        frames = np.empty((t, h, w, 3), np.uint8)
        with torch.inference_mode():
            for i in range(t):
                lh, lw, n = struct.unpack_from("<HHI", data, pos)
                pos += 8
                strings = []
                for _ in range(n):
                    (ln,) = struct.unpack_from("<I", data, pos)
                    strings.append([data[pos + 4 : pos + 4 + ln]])
                    pos += 4 + ln
                x = model.decompress(strings, (lh, lw))["x_hat"][..., :h, :w]
                frames[i] = (x.clamp(0, 1)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        if pos != len(data):
            raise FormatError(f"{bitstream}: {len(data) - pos} unexpected bytes at the end")
        return CodecOutput(frames)


class Bmshj2018Factorized(CompressAICodec):
    name = "bmshj2018-factorized"
    description = "CompressAI bmshj2018-factorized (Balle et al. 2018, factorized prior), per frame, MSE weights"
    arch = "bmshj2018-factorized"
    file_prefix = "bmshj2018-factorized-prior"


class Bmshj2018Hyperprior(CompressAICodec):
    name = "bmshj2018-hyperprior"
    description = "CompressAI bmshj2018-hyperprior (scale hyperprior), per frame, MSE weights"
    arch = "bmshj2018-hyperprior"
    file_prefix = "bmshj2018-hyperprior"


class Mbt2018Mean(CompressAICodec):
    name = "mbt2018-mean"
    description = "CompressAI mbt2018-mean (mean-scale hyperprior), per frame, MSE weights"
    arch = "mbt2018-mean"
    file_prefix = "mbt2018-mean"


class Cheng2020Anchor(CompressAICodec):
    name = "cheng2020-anchor"
    description = "CompressAI cheng2020-anchor (residual blocks + context model), per frame, MSE weights"
    arch = "cheng2020-anchor"
    file_prefix = "cheng2020-anchor"
    max_quality = 6
