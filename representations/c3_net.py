"""C3 in PyTorch: latent grids per patch of frames, a 1x1 synthesis network with two residual
3x3x3 convolutions, and a causal 5x5x5 masked-convolution entropy model giving a Laplace per latent.

Follows google-deepmind/c3_neural_compression (configs/uvg.py, model/latents.py, synthesis.py,
entropy_models.py, laplace.py), re-implemented here:

- latents: `num_grids` grids of shape ceil((T, H, W) / 2^i) per patch, zero init, multiplied by the
  Cool-chic gains 2^i and divided by the quantisation step 0.2 before rounding; each grid is
  resized trilinearly (half-pixel centres, as jax.image.resize) to the patch and concatenated;
- synthesis: 1x1 Conv3D 5 -> 12 -> 12 -> 3 with GELU, then two residual 3x3x3 Conv3D on 3 channels
  (zero init, edge padding, GELU between), output clipped to [0, 1];
- entropy model: masked 5x5x5 Conv3D over the causal context (the 62 taps before the centre in
  raster order; only those are parameters) -> 12 -> 12 -> (loc, log-scale) with GELU, log-scale
  shifted by 8 and clipped as Cool-chic does to scale in [1e-3, 150]; bits per latent are
  -log2 of the Laplace mass of its bin, clipped at 16;
- training quantisation: soft-rounding (temperature 0.3 -> 0.1) with Kumaraswamy noise (a 1.75 ->
  1.0) during the noise phase, then straight-through rounding with a soft-round gradient
  (temperature 1e-4); evaluation rounds.

Every stored parameter is at most 3-D (convolution kernels are kept as matrices and reshaped in
`forward`), so the shared loop's channels_last conversion leaves them alone.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nvbench.nn import Decoder, NeuralRepresentation

Q_STEP = 0.2
LOG_SCALE_SHIFT = 8.0
SCALE_RANGE = (1e-3, 150.0)
MAX_BITS = 16.0
CONTEXT = 2  # context rows/cols/frames on each side: a 5x5x5 causal kernel
KERNEL = 2 * CONTEXT + 1
CAUSAL_TAPS = KERNEL**3 // 2  # 62: the taps before the centre in raster (t, h, w) order


# --- quantisation --------------------------------------------------------------------------------
def soft_round(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """Differentiable approximation of rounding (Agustsson & Theis 2020, Sec. 4.1)."""
    m = torch.floor(x) + 0.5
    z = 2 * math.tanh(0.5 / temperature)
    return m + torch.tanh((x - m) / temperature) / z


def soft_round_inverse(x: torch.Tensor, temperature: float) -> torch.Tensor:
    m = torch.floor(x) + 0.5
    z = 2 * math.tanh(0.5 / temperature)
    return m + torch.atanh(((x - m) * z).clamp(-1 + 1e-6, 1 - 1e-6)) * temperature


def kumaraswamy_noise(shape: torch.Size, a: float, device: torch.device) -> torch.Tensor:
    """Noise in [-0.5, 0.5] from a Kumaraswamy(a, b) with its mode at 0.5 (a = 1: uniform)."""
    u = torch.rand(shape, device=device)
    b = (2**a * (a - 1) + 1) / a
    return (1 - (1 - u) ** (1 / b)) ** (1 / a) - 0.5


def quantise(x: torch.Tensor, mode: str, temperature: float = 0.3, kumaraswamy_a: float = 1.75) -> torch.Tensor:
    """x (in units of the quantisation step) -> its training/evaluation proxy, same units.
    mode: 'soft' (noise phase), 'ste' (straight-through phase) or 'round' (evaluation)."""
    if mode == "round":
        return torch.round(x)
    if mode == "ste":
        bwd = soft_round(x, 1e-4)
        return bwd + (torch.round(x) - bwd).detach()
    if mode == "soft":
        y = soft_round(x, temperature) + kumaraswamy_noise(x.shape, kumaraswamy_a, x.device)
        return soft_round_inverse(y - 0.5, temperature) + 0.5  # E[X | s(X) + U = y]
    raise ValueError(f"unknown quantisation mode {mode!r}")


# --- Laplace rate ----------------------------------------------------------------------------------
def laplace_log2_mass(x: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log2 P(x - 1/2 < X < x + 1/2) for X ~ Laplace(loc, scale), all in quantisation-step units;
    computed on |x - loc| (the mass is symmetric), stable in the tails."""
    d = (x - loc).abs()
    lo, hi = d - 0.5, d + 0.5
    inside = lo < 0  # the bin holds the mode: 1 - both tails
    tails = 0.5 * (torch.exp(lo.clamp(max=0) / scale) + torch.exp(-hi / scale))
    ln_in = torch.log1p(-tails.clamp(max=1 - 1e-12))
    # outside: 0.5 * exp(-lo/b) * (1 - exp(-1/b))
    ln_out = math.log(0.5) - lo.clamp(min=0) / scale + torch.log(-torch.expm1(-1.0 / scale))
    return torch.where(inside, ln_in, ln_out) / math.log(2.0)


def laplace_bits(x: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Bits of each symbol, clipped at 16 as C3 and Cool-chic do."""
    return (-laplace_log2_mass(x, loc, scale)).clamp(max=MAX_BITS)


def scale_from_raw(raw: torch.Tensor) -> torch.Tensor:
    """The entropy network's second output -> Laplace scale, clipped as Cool-chic does."""
    lo, hi = SCALE_RANGE
    return torch.exp(-0.5 * (raw + LOG_SCALE_SHIFT).clamp(-2 * math.log(hi), -2 * math.log(lo)))


# --- shapes ---------------------------------------------------------------------------------------------
def grid_shapes(patch: tuple[int, int, int], num_grids: int) -> list[tuple[int, int, int]]:
    return [tuple(int(math.ceil(s / 2**i)) for s in patch) for i in range(num_grids)]  # type: ignore[misc]


def gains(num_grids: int) -> list[float]:
    return [2.0**i for i in range(num_grids)]


def causal_kernel(taps: torch.Tensor) -> torch.Tensor:
    """(out, 62) causal taps -> (out, 1, 5, 5, 5) kernel with the centre and later taps zero."""
    full = torch.cat([taps, taps.new_zeros(taps.shape[0], KERNEL**3 - CAUSAL_TAPS)], dim=1)
    return full.view(-1, 1, KERNEL, KERNEL, KERNEL)


def causal_conv(grid: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The masked 5x5x5 Conv3D (zero padding) of a grid (T, H, W) -> (T, C, H, W), computed as one
    Conv2D over the frames with the frames t-2, t-1, t as 3 input channels (the later frames'
    taps are all masked). Equal to F.conv3d with causal_kernel(taps), ~1.5x faster forward and
    backward on the CPU than torch's Conv3D with one input channel (its slow path)."""
    t = grid.shape[0]
    past = F.pad(grid, (0, 0, 0, 0, CONTEXT, 0))
    x = torch.stack([past[j : j + t] for j in range(CONTEXT + 1)], dim=1)  # (T, 3, H, W)
    kernel = causal_kernel(taps)[:, 0, : CONTEXT + 1]  # (C, 3, 5, 5)
    return F.conv2d(x, kernel, bias, padding=CONTEXT)


def edge_conv3x3x3(y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, n: int = 1) -> torch.Tensor:
    """Conv3D 3x3x3 with edge (replicate) padding of frames y (N*T, C, H, W); weight (C_out, C*27)
    in PyTorch's Conv3D order (out, in, kt, kh, kw). Computed as one Conv2D whose input channels
    are the frames t-1, t, t+1 (edge-padded in time): torch's CPU Conv3D with 3 channels takes
    its slow path (measured ~8x slower forward and backward at the cpu preset's patch)."""
    nt, c, h, w = y.shape
    t = nt // n
    v = y.view(n, t, c, h, w)
    v = torch.cat([v[:, :1], v, v[:, -1:]], dim=1)  # edge padding in time
    x = torch.cat([v[:, j : j + t] for j in range(3)], dim=2).reshape(nt, 3 * c, h, w)  # channels (kt, in)
    x = F.pad(x, (1, 1, 1, 1), mode="replicate")
    k = weight.view(-1, c, 3, 3, 3).transpose(1, 2).reshape(-1, 3 * c, 3, 3)
    return F.conv2d(x, k, bias)


def _trunc_normal(shape: tuple[int, ...], fan_in: int, correct: bool = True) -> torch.Tensor:
    """Haiku's initialisers: truncated normal at 2 std with std 1/sqrt(fan_in) (VarianceScaling
    corrects the std for the truncation; TruncatedNormal, used by init_like_linear, does not)."""
    std = 1.0 / math.sqrt(fan_in) / (0.87962566103423978 if correct else 1.0)
    t = torch.empty(shape)
    nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)
    return t


# --- networks (parameters are matrices; shared by the trainable model and the decoder) ----------------
class Synthesis(nn.Module):
    """Concatenated up-sampled latents (N, C, T, H, W) -> frames (N, 3, T, H, W) in [0, 1]."""

    def __init__(self, in_channels: int, widths: list[int], residual: int = 2):
        super().__init__()
        dims = [in_channels, *widths, 3]
        self.weights = nn.ParameterList(nn.Parameter(_trunc_normal((o, i), i)) for i, o in zip(dims[:-1], dims[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(o)) for o in dims[1:])
        self.res_weights = nn.ParameterList(nn.Parameter(torch.zeros(3, 3 * 27)) for _ in range(residual))
        self.res_biases = nn.ParameterList(nn.Parameter(torch.zeros(3)) for _ in range(residual))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        y = x.permute(0, 2, 3, 4, 1).reshape(-1, c)
        last = len(self.weights) - 1
        for i, (wt, b) in enumerate(zip(self.weights, self.biases)):
            y = F.linear(y, wt, b)
            if i < last:
                y = F.gelu(y)
        y = y.view(n * t, h, w, 3).permute(0, 3, 1, 2)  # frames as the batch: (N*T, 3, H, W)
        for i, (wt, b) in enumerate(zip(self.res_weights, self.res_biases)):
            y = y + edge_conv3x3x3(y, wt, b, n)
            if i < len(self.res_weights) - 1:
                y = F.gelu(y)
        return y.clamp(0.0, 1.0).view(n, t, 3, h, w).transpose(1, 2)


class EntropyModel(nn.Module):
    """Autoregressive Laplace model: a latent grid (T, H, W) in latent units -> (loc, scale)."""

    def __init__(self, widths: list[int]):
        super().__init__()
        self.taps = nn.Parameter(_trunc_normal((widths[0], CAUSAL_TAPS), CAUSAL_TAPS, correct=False))
        self.tap_bias = nn.Parameter(torch.zeros(widths[0]))
        dims = [*widths, 2]
        self.weights = nn.ParameterList(nn.Parameter(_trunc_normal((o, i), i)) for i, o in zip(dims[:-1], dims[1:]))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(o)) for o in dims[1:])

    def forward(self, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, h, w = grid.shape
        y = causal_conv(grid, self.taps, self.tap_bias)  # (T, C, H, W)
        y = y.permute(0, 2, 3, 1).reshape(-1, y.shape[1])
        for wt, b in zip(self.weights, self.biases):
            y = F.linear(F.gelu(y), wt, b)
        return y[:, 0].view(t, h, w), scale_from_raw(y[:, 1]).view(t, h, w)


def upsample(grids: list[torch.Tensor], patch: tuple[int, int, int]) -> torch.Tensor:
    """Latent grids -> (1, num_grids, T, H, W) at the patch's resolution."""
    out = []
    for g in grids:
        g5 = g[None, None]
        out.append(g5 if tuple(g.shape) == tuple(patch) else
                   F.interpolate(g5, size=patch, mode="trilinear", align_corners=False))
    return torch.cat(out, dim=1)


def patch_boxes(config: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(t0, h0, w0) of every patch, in coding order (time, then rows, then columns)."""
    pt, ph, pw = config["patch"]
    return [(t, h, w) for t in range(0, config["frames"], pt) for h in range(0, config["height"], ph)
            for w in range(0, config["width"], pw)]


class C3Patch(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        patch = tuple(config["patch"])
        self.patch = patch
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(s)) for s in grid_shapes(patch, config["num_grids"]))
        self.synthesis = Synthesis(config["num_grids"], list(config["synthesis_widths"]))
        self.entropy = EntropyModel(list(config["entropy_widths"]))


class C3(NeuralRepresentation):
    """The trainable model: one independent C3 per patch; a step fits every patch on its own
    frames (the loss is the mean over patches, so each patch sees its own gradient up to a
    common factor) and `rate_term` is lambda * latent bits / pixels of the whole video."""

    interpolation_variants: tuple[str, ...] = ()

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.lam = float(config["lambda"])
        self.noise_fraction = float(config["noise_fraction"])
        self.patches = nn.ModuleList(C3Patch(config) for _ in patch_boxes(config))
        self.mode, self.temperature, self.kumaraswamy_a = "soft", 0.3, 1.75
        self._rate: torch.Tensor | None = None
        self.last_bits: float | None = None

    def on_progress(self, fraction: float) -> None:
        """Linear annealing over the noise phase, then straight-through (C3's schedule)."""
        if fraction < self.noise_fraction:
            f = fraction / self.noise_fraction
            self.mode, self.temperature, self.kumaraswamy_a = "soft", 0.3 + (0.1 - 0.3) * f, 1.75 + (1.0 - 1.75) * f
        else:
            self.mode = "ste"

    def rate_term(self) -> torch.Tensor | None:
        return self._rate

    def quantised_grids(self, p: C3Patch, mode: str) -> list[torch.Tensor]:
        """Each grid in latent units (multiples of Q_STEP once rounded)."""
        out = []
        for g, gain in zip(p.latents, gains(len(p.latents))):
            out.append(quantise(g * (gain / Q_STEP), mode, self.temperature, self.kumaraswamy_a) * Q_STEP)
        return out

    def patch_bits(self, p: C3Patch, grids: list[torch.Tensor]) -> torch.Tensor:
        total = grids[0].new_zeros(())
        for g in grids:
            loc, scale = p.entropy(g)
            total = total + laplace_bits(g / Q_STEP, loc / Q_STEP, scale / Q_STEP).sum()
        return total

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        mode = self.mode if self.training else "round"
        cfg = self.config
        video = None
        bits = None
        for p, (t0, h0, w0) in zip(self.patches, patch_boxes(cfg)):
            grids = self.quantised_grids(p, mode)
            rec = p.synthesis(upsample(grids, p.patch))[0]  # (3, T, H, W)
            b = self.patch_bits(p, grids)
            bits = b if bits is None else bits + b
            if video is None:
                video = rec.new_empty(3, cfg["frames"], cfg["height"], cfg["width"])
            pt, ph, pw = p.patch
            video[:, t0 : t0 + pt, h0 : h0 + ph, w0 : w0 + pw] = rec
        pixels = cfg["frames"] * cfg["height"] * cfg["width"]
        self._rate = self.lam * bits / pixels
        self.last_bits = float(bits.detach())
        return video.permute(1, 0, 2, 3)[idx.to(video.device)]

    @torch.no_grad()
    def rounded_grids(self) -> list[list[torch.Tensor]]:
        """Per patch, the integer symbols of every grid (latent units / Q_STEP, rounded)."""
        return [[torch.round(g * (gain / Q_STEP)) for g, gain in zip(p.latents, gains(len(p.latents)))]
                for p in self.patches]

    @torch.no_grad()
    def estimated_bits(self) -> float:
        """sum(-log2 p) over the rounded latents under the float entropy models (the paper's rate)."""
        total = 0.0
        for p, symbols in zip(self.patches, self.rounded_grids()):
            total += float(self.patch_bits(p, [s * Q_STEP for s in symbols]))
        return total

    @torch.no_grad()
    def export(self, frames_of: Any = None) -> C3Decoder:
        dec = C3Decoder(self.config)
        for dp, p, symbols in zip(dec.patches, self.patches, self.rounded_grids()):
            dp.synthesis.load_state_dict(p.synthesis.state_dict())
            for dst, s in zip(dp.latents, symbols):
                dst.copy_(s * Q_STEP)
        return dec


class DecoderPatch(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.patch = tuple(config["patch"])
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(s), requires_grad=False)
                                        for s in grid_shapes(self.patch, config["num_grids"]))
        self.synthesis = Synthesis(config["num_grids"], list(config["synthesis_widths"]))


class C3Decoder(Decoder):
    """The decoded latents (latent units) and synthesis networks: `forward(idx)` gives frames.
    A patch is synthesised whole (its 3x3x3 convolutions span frames); when decoding, the patches
    of the current block of frames are kept until a frame of another block is asked for."""

    def __init__(self, config: dict[str, Any]):
        super().__init__(config)
        self.patches = nn.ModuleList(DecoderPatch(config) for _ in patch_boxes(config))
        self._cache: dict[int, torch.Tensor] = {}
        self._cache_block = -1

    def _patch_frames(self, i: int, block: int) -> torch.Tensor:
        keep = not torch.is_grad_enabled()
        if keep and self._cache_block == block and i in self._cache:
            return self._cache[i]
        p = self.patches[i]
        rec = p.synthesis(upsample(list(p.latents), p.patch))[0]
        if keep:
            if self._cache_block != block:
                self._cache, self._cache_block = {}, block
            self._cache[i] = rec
        return rec

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        pt, ph, pw = cfg["patch"]
        out = None
        for n, t in enumerate(int(i) for i in idx):
            for i, (t0, h0, w0) in enumerate(patch_boxes(cfg)):
                if t0 <= t < t0 + pt:
                    rec = self._patch_frames(i, t0)
                    if out is None:
                        out = rec.new_empty(len(idx), 3, cfg["height"], cfg["width"])
                    out[n, :, h0 : h0 + ph, w0 : w0 + pw] = rec[:, t - t0]
        return out
