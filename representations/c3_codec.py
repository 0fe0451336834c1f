"""The C3 file: range-coded latents and quantised, range-coded network weights in one .nvb.

C3's repository reports an estimated rate only; the real file follows Cool-chic's approach
(github Orange-OpenSource/Cool-Chic: constriction's range coder over the latents, driven by the
autoregressive model; weights quantised and entropy coded), written here in our own code:

- weights: every tensor of a patch's synthesis and entropy networks is quantised with one of
  C3's q-steps for weights (tensors of rank > 1) and one for biases, the pair picked by C3's grid
  search (minimum MSE + lambda * (latent + weight bits) / pixels); the integers of each tensor
  are range-coded under a zero-mean Laplace whose scale (std / sqrt 2, as C3's rate estimate) is
  stored as a float32;
- latents: the integer symbols of every grid are range-coded with constriction's
  QuantizedLaplace, in waves: within a frame the positions with equal 3h + w, frame t starting 9
  waves after frame t-1, so that every position's causal 5x5x5 context is already decoded; all
  patches at once;
- determinism: the entropy model that drives the coder is evaluated in numpy on integers (the
  quantised weights times the integer latents, summed exactly — in float64 while no partial sum can
  reach 2^53, else in int64 — so the order of summation does not matter; hidden activations
  rounded to 2^-16 so the next layer is exact again; GELU with scipy's erf, elementwise and
  single-threaded), and its (loc, scale) are quantised to a fixed grid (loc to 1/256 of a latent
  step, log-scale to 1/64) before constriction builds the CDF. The encoder runs the very same
  code as the decoder, so a file written with any number of torch threads decodes identically
  with one;
- layout: the JSON header (config and coding constants), then sections "side" (q-step choices,
  per-tensor symbol bounds and Laplace scales, per-grid latent bounds, as varints/float32),
  "weights" and "latents" (constriction's 32-bit words). Every byte counts for the rate.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

import nvbench
from nvbench.compress.container import CorruptFileError, HeaderMismatchError, write_container
from nvbench.compress.entropy import EntropyError, get_varint, put_varint

#: C3's q-step grids for weights and biases (configs/uvg.py)
Q_STEPS = (5e-5, 1e-4, 5e-4, 1e-3, 3e-3, 6e-3, 1e-2)
LOC_STEPS = 256  # loc grid: 1/256 of a latent step
LOG_SCALE_STEPS = 64  # log(scale) grid: 1/64
HIDDEN_BITS = 16  # hidden activations of the coding-time entropy model: multiples of 2^-16
SECTIONS = ("side", "weights", "latents")
#: the coding constants above, named in the header (a reader checks it knows them)
CODING = "c3-2"  # 2: frames pipelined in the wave order (LAG)
#: the config keys the file stores; the rest of the plan follows from them
FILE_KEYS = ("frames", "height", "width", "patch", "num_grids", "synthesis_widths", "entropy_widths")


# --- network tensors ------------------------------------------------------------------------------
def network_modules(config: dict[str, Any]) -> Any:
    """Skeleton (synthesis, entropy) of one patch, for tensor names and shapes."""
    import torch

    from representations.c3_net import EntropyModel, Synthesis

    with torch.device("meta"):
        return Synthesis(config["num_grids"], list(config["synthesis_widths"])), \
            EntropyModel(list(config["entropy_widths"]))


def tensor_layout(config: dict[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every stored network tensor of a patch, in file order."""
    syn, ent = network_modules(config)
    out = [(f"synthesis.{k}", tuple(v.shape)) for k, v in syn.state_dict().items()]
    out += [(f"entropy.{k}", tuple(v.shape)) for k, v in ent.state_dict().items()]
    return out


def quantise_tensor(t: Any, qw: float, qb: float) -> tuple[Any, float]:
    """(integer tensor, step) of one float tensor: weights (rank > 1) use qw, biases qb."""
    import torch

    step = qw if t.dim() > 1 else qb
    return torch.round(t.detach() / step), step


def laplace_rate_bits(ints: np.ndarray) -> float:
    """C3's estimate of a quantised tensor's bits: zero-mean Laplace, scale std/sqrt 2 (>= 1e-3)."""
    scale = weight_scale(ints)
    x = np.abs(ints.astype(np.float64))
    lo, hi = x - 0.5, x + 0.5
    mass = np.where(lo < 0, 1 - 0.5 * (np.exp(np.minimum(lo, 0) / scale) + np.exp(-hi / scale)),
                    0.5 * (np.exp(-np.maximum(lo, 0) / scale) - np.exp(-hi / scale)))
    return float(np.minimum(-np.log2(np.maximum(mass, 1e-300)), 32).sum())


def weight_scale(ints: np.ndarray) -> float:
    return float(np.float32(max(float(np.std(ints.astype(np.float64))) / math.sqrt(2), 1e-3)))


# --- the coding-time entropy model (numpy, integers) -----------------------------------------------------
def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


class IntegerEntropyModel:
    """The entropy models of all patches for coding: integer weights (P, out, in) and steps."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], latent_step: float):
        # per layer: weights int64 (P, out, in), weight step (P,), bias float64 (P, out); first layer taps
        self.layers = [(w.transpose(0, 2, 1).copy(), ws, b) for w, ws, b, _ in layers]
        self.float_layers = [wt.astype(np.float64) for wt, _, _ in self.layers]
        self.abs_sums = [np.abs(wt).sum(axis=1).max() if wt.size else 0 for wt, _, _ in self.layers]
        self.latent_step = latent_step

    def _exact_matmul(self, i: int, y: np.ndarray) -> np.ndarray:
        """y (P, N, in) integers @ layer i's integer weights, exactly: in float64 (BLAS) when no
        partial sum can reach 2^53 (then every order of summation gives the same integers), else
        in int64."""
        if y.size and float(np.abs(y).max()) * float(self.abs_sums[i]) < 2.0**52:
            return np.matmul(y.astype(np.float64), self.float_layers[i])
        return np.matmul(y.astype(np.int64), self.layers[i][0]).astype(np.float64)

    def params(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """context int64 (P, N, 62) -> (loc, scale) float64 (P, N) in latent-step units, on the grid."""
        y = context
        scale_in = self.latent_step  # the first layer sees latents in latent units: symbols * step
        for i, (_, ws, b) in enumerate(self.layers):
            acc = self._exact_matmul(i, y)  # exact: integers
            a = acc * (ws * scale_in)[:, None, None] + b[:, None, :]
            if i == len(self.layers) - 1:
                y = a
                break
            y = np.rint(_gelu(a) * (1 << HIDDEN_BITS)).astype(np.int64)
            scale_in = 2.0**-HIDDEN_BITS
        from representations.c3_net import LOG_SCALE_SHIFT, SCALE_RANGE

        loc = y[..., 0] / self.latent_step
        raw = np.clip(y[..., 1] + LOG_SCALE_SHIFT, -2 * math.log(SCALE_RANGE[1]), -2 * math.log(SCALE_RANGE[0]))
        log_scale = -0.5 * raw - math.log(self.latent_step)
        loc = np.rint(loc * LOC_STEPS) / LOC_STEPS
        scale = np.exp(np.rint(log_scale * LOG_SCALE_STEPS) / LOG_SCALE_STEPS)
        return loc, scale


def _offsets(h: int, w: int) -> np.ndarray:
    """Flat offsets (in the padded volume) of the 62 causal taps, raster order (t, h, w)."""
    hp, wp = h + 4, w + 4
    offs = [dt * hp * wp + dh * wp + dw for dt in range(-2, 3) for dh in range(-2, 3) for dw in range(-2, 3)]
    return np.array(offs[:62], dtype=np.int64)


def _waves(h: int, w: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Positions of a frame grouped by 3h + w: every causal neighbour of a position in the same
    frame ((h-2..h-1, w-2..w+2) and (h, w-2..w-1)) lies in an earlier wave."""
    out = []
    for tau in range(3 * (h - 1) + w):
        hs = np.arange(max(0, -(-(tau - w + 1) // 3)), min(h - 1, tau // 3) + 1, dtype=np.int64)
        out.append((hs, tau - 3 * hs))
    return out


#: a position's causal neighbours in the two previous frames are at most (h+2, w+2), i.e. 8 waves
#: later in their frame: with frame t's waves starting LAG waves after frame t-1's, every
#: neighbour is decoded in an earlier wave (and T frames take 3(H-1)+W + LAG(T-1) waves, not T times as many)
LAG = 9


def code_latents(shapes: list[tuple[int, int, int]], model: IntegerEntropyModel,
                 step: Callable[[int, np.ndarray, np.ndarray, np.ndarray | None], np.ndarray],
                 symbols: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Walk every grid in coding order; `step(grid, loc, scale, known)` codes the wave's symbols
    (known: the encoder's (P*N,) symbols; None when decoding, then it returns them). Returns the
    symbols (P, T, H, W) of every grid."""
    out = []
    p = model.layers[0][0].shape[0]
    for g, (t, h, w) in enumerate(shapes):
        vol = np.zeros((p, t + 4, h + 4, w + 4), dtype=np.int64)
        if symbols is not None:
            vol[:, 2:-2, 2:-2, 2:-2] = symbols[g]
        flat = vol.reshape(p, -1)
        offs = _offsets(h, w)
        waves = [((hs + 2) * (w + 4) + ws + 2) for hs, ws in _waves(h, w)]  # flat offsets within a frame
        frame = (h + 4) * (w + 4)
        for gw in range(len(waves) + LAG * (t - 1)):
            centre = np.concatenate([(ti + 2) * frame + waves[gw - LAG * ti] for ti in range(t)
                                     if 0 <= gw - LAG * ti < len(waves)])
            context = flat[:, centre[:, None] + offs[None, :]]
            loc, scale = model.params(context)
            known = flat[:, centre].ravel() if symbols is not None else None
            got = step(g, loc.ravel(), scale.ravel(), known)
            if symbols is None:
                flat[:, centre] = got.reshape(p, -1)
        out.append(vol[:, 2:-2, 2:-2, 2:-2].copy())
    return out


def _families(bounds: list[int]) -> list[Any]:
    import constriction

    return [constriction.stream.model.QuantizedLaplace(-b, b) for b in bounds]


def encode_latents(shapes, model, symbols: list[np.ndarray]) -> tuple[bytes, list[int], float]:
    """(coded bytes, per-grid symbol bound, ideal bits under the coded model)."""
    import constriction

    bounds = [max(1, int(np.abs(s).max())) for s in symbols]
    fam = _families(bounds)
    enc = constriction.stream.queue.RangeEncoder()
    ideal = [0.0]

    def step(g, loc, scale, known):
        enc.encode(known.astype(np.int32), fam[g], loc, scale)
        ideal[0] += _ideal_bits(known, loc, scale)
        return known

    code_latents(shapes, model, step, symbols)
    return enc.get_compressed().astype("<u4").tobytes(), bounds, ideal[0]


def _ideal_bits(x: np.ndarray, loc: np.ndarray, scale: np.ndarray) -> float:
    d = np.abs(x - loc)
    lo, hi = d - 0.5, d + 0.5
    mass = np.where(lo < 0, 1 - 0.5 * (np.exp(np.minimum(lo, 0) / scale) + np.exp(-hi / scale)),
                    0.5 * (np.exp(-np.maximum(lo, 0) / scale) - np.exp(-hi / scale)))
    return float(-np.log2(np.maximum(mass, 1e-300)).sum())


def decode_latents(data: bytes, shapes, model, bounds: list[int]) -> list[np.ndarray]:
    import constriction

    if len(data) % 4:
        raise CorruptFileError("latent section is not a whole number of 32-bit words")
    fam = _families(bounds)
    dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data, "<u4").astype(np.uint32))

    def step(g, loc, scale, known):
        return np.asarray(dec.decode(fam[g], loc, scale), dtype=np.int64)

    return code_latents(shapes, model, step, None)


# --- side information -----------------------------------------------------------------------------------
def _put_f32(out: bytearray, x: float) -> None:
    out += struct.pack("<f", x)


def _get_f32(data: bytes, pos: int) -> tuple[float, int]:
    if pos + 4 > len(data):
        raise EntropyError("side information ends inside a float")
    return struct.unpack_from("<f", data, pos)[0], pos + 4


# --- whole file -----------------------------------------------------------------------------------------
def encode_file(model: Any, config: dict[str, Any], choice: list[tuple[int, int]]) -> tuple[bytes, dict[str, Any]]:
    """The .nvb bytes of a trained `representations.c3_net.C3` whose patches use the q-step
    pair indices `choice[p]` = (weight, bias); and the byte/bit accounting."""
    import constriction

    from nvbench.registry import methods

    method = methods.get("c3")
    layout = tensor_layout(config)
    side = bytearray()
    enc = constriction.stream.queue.RangeEncoder()
    est_weight_bits = 0.0
    int_tensors: list[dict[str, np.ndarray]] = []
    steps: list[dict[str, float]] = []
    for p, (iw, ib) in zip(model.patches, choice):
        put_varint(side, iw)
        put_varint(side, ib)
        state = {f"synthesis.{k}": v for k, v in p.synthesis.state_dict().items()}
        state.update({f"entropy.{k}": v for k, v in p.entropy.state_dict().items()})
        ints, st = {}, {}
        for name, _shape in layout:
            q, s = quantise_tensor(state[name], Q_STEPS[iw], Q_STEPS[ib])
            a = q.cpu().numpy().astype(np.int64).ravel()
            ints[name], st[name] = a, s
            bound = int(np.abs(a).max()) if a.size else 0
            put_varint(side, bound)
            if bound:
                scale = weight_scale(a)
                _put_f32(side, scale)
                enc.encode(a.astype(np.int32), constriction.stream.model.QuantizedLaplace(-bound, bound, 0.0, scale))
            est_weight_bits += laplace_rate_bits(a)
        int_tensors.append(ints)
        steps.append(st)
    weights = enc.get_compressed().astype("<u4").tobytes()
    ent_model = integer_entropy_model(config, int_tensors, steps)
    symbols = stacked_symbols(model)
    shapes = [tuple(s.shape[1:]) for s in symbols]
    latents, bounds, ideal = encode_latents(shapes, ent_model, symbols)
    for b in bounds:
        put_varint(side, b)
    header = {"format": "nvb", "writer": f"nvbench {nvbench.__version__}", "method": "c3",
              "method_version": str(method.version), "config": {k: config[k] for k in FILE_KEYS},
              "frames": int(config["frames"]),
              "height": int(config["height"]), "width": int(config["width"]), "coding": CODING}
    data = write_container(header, [("side", bytes(side)), ("weights", weights), ("latents", latents)])
    acct = {"bytes_side": len(side), "bytes_weights": len(weights), "bytes_latents": len(latents),
            "bytes_header": len(data) - len(side) - len(weights) - len(latents),
            "latent_bits_model": ideal, "weight_bits_estimated": est_weight_bits}
    return data, acct


def stacked_symbols(model: Any) -> list[np.ndarray]:
    """Per grid, the integer symbols of all patches (P, T, H, W)."""
    per_patch = model.rounded_grids()
    return [np.stack([pp[g].cpu().numpy().astype(np.int64) for pp in per_patch]) for g in range(len(per_patch[0]))]


def integer_entropy_model(config: dict[str, Any], ints: list[dict[str, np.ndarray]],
                          steps: list[dict[str, float]]) -> IntegerEntropyModel:
    from representations.c3_net import Q_STEP

    _, ent = network_modules(config)
    shapes = {k: tuple(v.shape) for k, v in ent.state_dict().items()}
    names = ["taps", "tap_bias"]
    n_lin = len([k for k in shapes if k.startswith("weights.")])
    for i in range(n_lin):
        names += [f"weights.{i}", f"biases.{i}"]
    layers = []
    for wn, bn in zip(names[0::2], names[1::2]):
        w = np.stack([pp[f"entropy.{wn}"].reshape(shapes[wn]) for pp in ints])
        ws = np.array([st[f"entropy.{wn}"] for st in steps], dtype=np.float64)
        b = np.stack([pp[f"entropy.{bn}"].astype(np.float64) * st[f"entropy.{bn}"] for pp, st in zip(ints, steps)])
        layers.append((w, ws, b, None))
    return IntegerEntropyModel(layers, Q_STEP)


def decoder_from_file(header: dict[str, Any], sections: dict[str, bytes], device: str = "cpu",
                      name: str = "file") -> Any:
    """The `representations.c3_net.C3Decoder` of a C3 .nvb file (the file alone); FormatError on
    anything that does not add up."""
    try:
        return _decoder_from_file(header, sections, device, name)
    except (HeaderMismatchError, CorruptFileError):
        raise
    except (EntropyError, ValueError, KeyError, TypeError, IndexError, OverflowError, RuntimeError) as exc:
        raise CorruptFileError(f"{name}: the C3 data does not decode: {type(exc).__name__}: {exc}") from exc


def _check_header(header: dict[str, Any], sections: dict[str, bytes], name: str) -> dict[str, Any]:
    from representations.c3 import C3Method, choose_patch

    if list(sections) != list(SECTIONS):
        raise HeaderMismatchError(f"{name}: sections {list(sections)} are not {list(SECTIONS)}")
    if header.get("coding") != CODING:
        raise HeaderMismatchError(f"{name}: coding constants {header.get('coding')!r} are not this reader's")
    cfg = header.get("config")
    if not isinstance(cfg, dict):
        raise HeaderMismatchError(f"{name}: header has no config")
    if sorted(cfg) != sorted(FILE_KEYS):
        raise HeaderMismatchError(f"{name}: the header's config has keys {sorted(cfg)}, not {sorted(FILE_KEYS)}")
    try:
        f, h, w = (int(cfg[k]) for k in ("frames", "height", "width"))
        options = {k: cfg[k] for k in ("patch", "num_grids", "synthesis_widths", "entropy_widths")}
        expected = C3Method.plan(f, h, w, None, options)
    except Exception as exc:
        raise HeaderMismatchError(f"{name}: the header's config is not a C3 config: {exc}") from exc
    if choose_patch(f, h, w, tuple(cfg["patch"])) != list(cfg["patch"]) or \
            any(expected[k] != cfg[k] for k in FILE_KEYS):
        raise HeaderMismatchError(f"{name}: the header's config is inconsistent")
    if (header.get("frames"), header.get("height"), header.get("width")) != (f, h, w) or min(f, h, w) <= 0:
        raise HeaderMismatchError(f"{name}: frames/height/width do not match the config")
    if expected["params"] > (1 << 28):
        raise HeaderMismatchError(f"{name}: the config describes more latents than this reader accepts")
    return expected


def _decoder_from_file(header: dict[str, Any], sections: dict[str, bytes], device: str, name: str) -> Any:
    import constriction
    import torch

    from representations.c3_net import Q_STEP, C3Decoder, grid_shapes

    cfg = _check_header(header, sections, name)
    layout = tensor_layout(cfg)
    side = sections["side"]
    words = sections["weights"]
    if len(words) % 4:
        raise CorruptFileError(f"{name}: weight section is not a whole number of 32-bit words")
    dec = constriction.stream.queue.RangeDecoder(np.frombuffer(words, "<u4").astype(np.uint32))
    pos = 0
    ints: list[dict[str, np.ndarray]] = []
    steps: list[dict[str, float]] = []
    for _ in range(cfg["patches"]):
        iw, pos = get_varint(side, pos)
        ib, pos = get_varint(side, pos)
        if iw >= len(Q_STEPS) or ib >= len(Q_STEPS):
            raise CorruptFileError(f"{name}: q-step index out of range")
        pi, ps = {}, {}
        for tname, shape in layout:
            n = math.prod(shape)
            bound, pos = get_varint(side, pos)
            if bound >= (1 << 30):
                raise CorruptFileError(f"{name}: implausible symbol bound {bound}")
            if bound:
                scale, pos = _get_f32(side, pos)
                if not (math.isfinite(scale) and scale > 0):
                    raise CorruptFileError(f"{name}: bad Laplace scale for {tname}")
                fam = constriction.stream.model.QuantizedLaplace(-bound, bound, 0.0, scale)
                a = np.asarray(dec.decode(fam, n), dtype=np.int64)
            else:
                a = np.zeros(n, dtype=np.int64)
            pi[tname] = a
            ps[tname] = Q_STEPS[iw] if len(shape) > 1 else Q_STEPS[ib]
        ints.append(pi)
        steps.append(ps)
    shapes = grid_shapes(tuple(cfg["patch"]), cfg["num_grids"])
    bounds = []
    for _ in shapes:
        b, pos = get_varint(side, pos)
        if not 1 <= b < (1 << 30):
            raise CorruptFileError(f"{name}: implausible latent bound {b}")
        bounds.append(b)
    if pos != len(side):
        raise CorruptFileError(f"{name}: {len(side) - pos} unexpected bytes of side information")
    ent_model = integer_entropy_model(cfg, ints, steps)
    symbols = decode_latents(sections["latents"], shapes, ent_model, bounds)
    decoder = C3Decoder(cfg)
    with torch.no_grad():
        for i, dp in enumerate(decoder.patches):
            state = {}
            for tname, shape in layout:
                if tname.startswith("synthesis."):
                    t = torch.from_numpy(ints[i][tname].reshape(shape).astype(np.float32)) * steps[i][tname]
                    state[tname[len("synthesis."):]] = t
            dp.synthesis.load_state_dict(state)
            for g, lat in enumerate(dp.latents):
                lat.copy_(torch.from_numpy(symbols[g][i].astype(np.float32)) * Q_STEP)
    return decoder.to(device).eval()
