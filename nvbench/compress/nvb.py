"""Writing a Decoder's stored tensors into a .nvb file, and rebuilding the decoder from one.

The file holds everything needed to decode: the method name and version, the config that
`build_decoder(config)` takes, every stored tensor's name, shape, bit depth and quantisation
axes, the quantisation parameters, the entropy coder's tables and the coded symbols. Decoding
never unpickles anything: the header is JSON and tensors are rebuilt from integers and float32s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import nvbench
from nvbench.compress import entropy
from nvbench.compress.bounds import check_method_and_shape, check_output
from nvbench.compress.container import (
    CorruptFileError,
    HeaderMismatchError,
    read_container,
    write_container,
)
from nvbench.compress.quantize import QuantTensor, centre, dequantise, quantise, uncentre

SECTIONS = ("qparams", "tables", "symbols", "raw")
MAX_ELEMENTS = 1 << 28  # refuse headers that describe absurdly large tensors
DEFAULT_EMBEDDING_KEYS = ("embeddings",)


def embedding_keys(decoder: Any) -> set[str]:
    return set(getattr(decoder, "embedding_keys", DEFAULT_EMBEDDING_KEYS))


def encode_decoder(decoder: Any, method: str, method_version: str, config: dict[str, Any], *, bits: int = 8,
                   embed_bits: int | None = None, coder: str = "range", exact_zero: bool = False,
                   info: dict[str, Any] | None = None, quantised: dict[str, QuantTensor] | None = None) -> bytes:
    """The .nvb bytes of `decoder.state_dict()`: float tensors quantised to `bits` (embeddings to
    `embed_bits`, default the same), other tensors stored raw. `quantised` gives the codes of some
    tensors as a pipeline made them (e.g. quantisation-aware training: its own grid and bit depth
    per tensor); those are stored as they are, the others are quantised here."""
    embed_bits = bits if not embed_bits else embed_bits
    emb = embedding_keys(decoder)
    tensors, streams, alphabets = [], [], []
    qparams, raw = bytearray(), bytearray()
    for name, t in decoder.state_dict().items():
        arr = t.detach().cpu().numpy()
        entry: dict[str, Any] = {"name": name, "shape": [int(s) for s in arr.shape]}
        if np.issubdtype(arr.dtype, np.floating):
            if quantised and name in quantised:
                q = quantised[name]
                if tuple(q.codes.shape) != arr.shape:
                    raise ValueError(f"quantised codes of {name!r} have shape {q.codes.shape}, the tensor {arr.shape}")
                b = q.bits
            else:
                b = embed_bits if name in emb else bits
                q = quantise(arr.astype(np.float32), b, exact_zero=exact_zero)
            entry.update(dtype="float32", bits=b, keep=list(q.keep), kind="embedding" if name in emb else "weight")
            streams.append(centre(q.codes, q.keep, q.mins, q.scales, b).ravel())
            alphabets.append(1 << b)
            qparams += q.mins.astype("<f4").tobytes() + q.scales.astype("<f4").tobytes()
        else:
            entry.update(dtype="int64", raw=True)
            raw += arr.astype("<i8").tobytes()
        tensors.append(entry)
    tables, symbols = entropy.encode(coder, streams, alphabets)
    header = {
        "format": "nvb", "writer": f"nvbench {nvbench.__version__}", "method": method,
        "method_version": str(method_version), "config": config, "coder": coder,
        "frames": int(config.get("frames", 0)), "height": int(config.get("height", 0)),
        "width": int(config.get("width", 0)), "tensors": tensors, "info": info or {},
    }
    return write_container(header, [("qparams", bytes(qparams)), ("tables", tables), ("symbols", symbols),
                                    ("raw", bytes(raw))])


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _validate(header: dict[str, Any], name: str) -> None:
    def bad(msg: str) -> HeaderMismatchError:
        return HeaderMismatchError(f"{name}: {msg}")

    for key, typ in (("method", str), ("method_version", str), ("config", dict), ("coder", str),
                     ("tensors", list), ("frames", int), ("height", int), ("width", int)):
        if not isinstance(header.get(key), typ):
            raise bad(f"header field {key!r} is missing or has the wrong type")
    if [s["name"] for s in header["sections"]] != list(SECTIONS):
        raise bad(f"sections {[s['name'] for s in header['sections']]} are not {list(SECTIONS)}")
    if header["coder"] not in entropy.CODERS:
        raise bad(f"unknown entropy coder {header['coder']!r}")
    if not (header["frames"] > 0 and header["height"] > 0 and header["width"] > 0):
        raise bad("frames, height and width must be positive")
    check_method_and_shape(header, name)
    if any(isinstance(s, bool) for s in (header["frames"], header["height"], header["width"])):
        raise bad("frames, height and width must be integers")
    total, names = 0, set()
    for t in header["tensors"]:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or t["name"] in names:
            raise bad("a tensor entry is malformed or repeated")
        names.add(t["name"])
        shape = t.get("shape")
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise bad(f"tensor {t['name']!r} has a bad shape")
        total += math.prod(shape)
        if t.get("dtype") == "float32":
            keep = t.get("keep")
            if not (_is_int(t.get("bits")) and 1 <= t["bits"] <= 16) or not isinstance(keep, list) \
                    or not all(_is_int(a) and 0 <= a < len(shape) for a in keep) or len(set(keep)) != len(keep) \
                    or keep != sorted(keep):
                raise bad(f"tensor {t['name']!r} has bad quantisation fields")
        elif not (t.get("dtype") == "int64" and t.get("raw") is True):
            raise bad(f"tensor {t['name']!r} has an unknown dtype")
    if total > MAX_ELEMENTS:
        raise bad(f"tensors add up to {total} elements, more than this reader accepts")


def read_state(data: bytes, name: str = "file") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(header, {tensor name: float32/int64 array}) from .nvb bytes; FormatError on any problem."""
    header, sections = parse(data, name)
    return header, decode_state(header, sections, name)


def parse(data: bytes, name: str = "file") -> tuple[dict[str, Any], dict[str, bytes]]:
    """The container read and its header checked, before anything is decoded."""
    header, sections = read_container(data, name)
    _validate(header, name)
    return header, sections


def decode_state(header: dict[str, Any], sections: dict[str, bytes], name: str = "file") -> dict[str, np.ndarray]:
    tensors = header["tensors"]
    quant = [t for t in tensors if t["dtype"] == "float32"]
    need_q = sum(8 * math.prod(t["shape"][a] for a in t["keep"]) for t in quant)
    if len(sections["qparams"]) != need_q:
        raise HeaderMismatchError(f"{name}: quantisation parameters are {len(sections['qparams'])} bytes, "
                                  f"the tensors need {need_q}")
    need_raw = sum(8 * math.prod(t["shape"]) for t in tensors if t["dtype"] == "int64")
    if len(sections["raw"]) != need_raw:
        raise HeaderMismatchError(f"{name}: raw section is {len(sections['raw'])} bytes, the tensors need {need_raw}")
    sizes = [math.prod(t["shape"]) for t in quant]
    alphabets = [1 << t["bits"] for t in quant]
    try:
        codes = entropy.decode(header["coder"], sections["tables"], sections["symbols"], sizes, alphabets)
    except entropy.EntropyError as exc:
        raise CorruptFileError(f"{name}: coded tensors do not decode: {exc}") from exc
    qp = np.frombuffer(sections["qparams"], "<f4")
    rw = np.frombuffer(sections["raw"], "<i8")
    state: dict[str, np.ndarray] = {}
    qpos = rpos = ci = 0
    for t in tensors:
        shape = tuple(t["shape"])
        if t["dtype"] == "float32":
            keep = tuple(t["keep"])
            k = math.prod(shape[a] for a in keep)
            mins, scales = qp[qpos : qpos + k], qp[qpos + k : qpos + 2 * k]
            qpos += 2 * k
            if not (np.all(np.isfinite(mins)) and np.all(np.isfinite(scales))):
                raise CorruptFileError(f"{name}: tensor {t['name']!r} has non-finite quantisation parameters")
            c = uncentre(codes[ci].reshape(shape), keep, mins, scales, t["bits"])
            state[t["name"]] = dequantise(c, keep, mins, scales)
            ci += 1
        else:
            n = math.prod(shape)
            state[t["name"]] = rw[rpos : rpos + n].reshape(shape).astype(np.int64)
            rpos += n
    return state


def load_decoder(source: str | Path | bytes, device: str = "cpu", name: str | None = None) -> tuple[Any, dict]:
    """Rebuild the decoder from a .nvb file (path or bytes) alone: (Decoder in eval mode, header)."""
    import torch

    from nvbench import registry

    if isinstance(source, (str, Path)):
        name = name or str(source)
        data = Path(source).read_bytes()
    else:
        data, name = bytes(source), name or "<bytes>"
    header, sections = read_container(data, name)
    own = _own_reader(header, name)
    if own is not None:  # a method with its own file layout (e.g. range-coded latents) rebuilds its decoder
        return own(header, sections, device, name), header
    _validate(header, name)
    method = registry.methods.get(header["method"])
    if str(method.version) != header["method_version"]:
        raise HeaderMismatchError(f"{name}: written by {header['method']} version {header['method_version']}, "
                                  f"this install has version {method.version}")
    try:
        with torch.device("meta"):
            skeleton = method.build_decoder(header["config"])
    except Exception as exc:  # a config the method rejects
        raise HeaderMismatchError(f"{name}: the method cannot build a decoder from the header's config: "
                                  f"{type(exc).__name__}: {exc}") from exc
    # names and shapes are checked against the decoder before any tensor is decoded or allocated
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    got = {t["name"]: tuple(t["shape"]) for t in header["tensors"]}
    if expected != got:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
        raise HeaderMismatchError(f"{name}: stored tensors do not match the decoder "
                                  f"(missing {missing}, unexpected {extra}, wrong shape {wrong})")
    state = decode_state(header, sections, name)
    decoder = method.build_decoder(header["config"])
    decoder.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    decoder = decoder.to(device).eval()
    if torch.device(device).type == "cpu":  # the layout CPU decoders run fastest in (nvbench speed)
        decoder = decoder.to(memory_format=torch.channels_last)
    return decoder, header


def speed_signature(header: dict[str, Any]) -> str | None:
    """What fixes the work of decoding a file in the shared layout: the method, its version, the
    config and every stored tensor's name and shape. Two such files with one signature decode
    through the same operations on tensors of the same shapes (their weights are dequantised to
    dense float32, so values and zeros cost the same), so one timing of their decoding speed
    serves both. None for a method's own layout, whose decoding may depend on the data (C3
    range-decodes its latents)."""
    import json

    if _own_reader(header, "<header>") is not None:
        return None
    tensors = [[t.get("name"), list(t.get("shape") or ())] for t in header.get("tensors", [])]
    return json.dumps([header.get("method"), header.get("method_version"), header.get("config"), tensors],
                      sort_keys=True, default=str)


def _own_reader(header: dict[str, Any], name: str) -> Any:
    """The `file_decoder` ("module:function") of the header's method when it declares one, after
    checking its version; None for a file in the shared layout (sections SECTIONS, whichever
    method wrote it) and for names this install does not know, which the shared path reports."""
    from nvbench import registry
    from nvbench.registry import import_object

    mname = header.get("method")
    if not isinstance(mname, str) or mname not in registry.methods.names():
        return None
    sections = header.get("sections")
    if isinstance(sections, list) and [s.get("name") if isinstance(s, dict) else None
                                       for s in sections] == list(SECTIONS):
        return None  # the shared layout (`--set pipeline=shared`): own layouts name other sections
    method = registry.methods.get(mname)
    reader = str(getattr(method, "file_decoder", "") or "")
    if not reader:
        return None
    if str(method.version) != str(header.get("method_version")):
        raise HeaderMismatchError(f"{name}: written by {mname} version {header.get('method_version')}, "
                                  f"this install has version {method.version}")
    return import_object(reader)


#: The reference decode: CPU float results depend on the thread count (kernels split work
#: differently), so the frames the task scores and `nvbench decode` both use this many threads
#: and batches of REFERENCE_BATCH frames, channels_last on the CPU; the same device, threads and
#: batch give identical frames.
REFERENCE_THREADS = 1
REFERENCE_BATCH = 8


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def decode_frames(source: str | Path | bytes, device: str = "cpu", batch_size: int = REFERENCE_BATCH,
                  threads: int | None = REFERENCE_THREADS, max_output_bytes: int | None = None) -> np.ndarray:
    """All frames of a .nvb file as uint8 (T,H,W,3): exactly what the compression task scores
    (with the default device, batch and threads)."""
    return timed_decode(source, device, batch_size, threads, max_output_bytes)[0]


def timed_decode(source: str | Path | bytes, device: str = "cpu", batch_size: int = REFERENCE_BATCH,
                 threads: int | None = REFERENCE_THREADS,
                 max_output_bytes: int | None = None) -> tuple[np.ndarray, float, float]:
    """(frames, seconds to rebuild the decoder from the file, seconds to decode every frame).
    What the header says the decode produces is bounded first (nvbench/compress/bounds.py): by what
    the file can hold and by `max_output_bytes` (default: $NVBENCH_DECODE_LIMIT, else the memory
    available), and refused before anything is built or allocated."""
    from nvbench.evaluate import decode_uint8

    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    name = str(source) if isinstance(source, (str, Path)) else "<bytes>"
    check_output(read_container(data, name)[0], len(data), name, max_output_bytes)
    with torch_threads(threads):
        t0 = time.perf_counter()
        decoder, header = load_decoder(data, device, name=name)
        t1 = time.perf_counter()
        frames = decode_uint8(decoder, range(header["frames"]), batch_size=batch_size)
    return frames, t1 - t0, time.perf_counter() - t1
