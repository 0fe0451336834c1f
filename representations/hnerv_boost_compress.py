"""HNeRV-Boost's own compression pipeline (the official train_nerv_compression.py with
scripts/compression/hnerv_boost.sh), through nvbench's scoring step.

From the trained model: quantisation-aware fine-tuning of everything, encoder included, with
the recipe's loss plus a rate penalty. Every decoder weight and bias has a learned step s
(Scale_T: init (max-min)/(2^b-1), code x/s rounded with a straight-through gradient, no clamp);
the embeddings have a learned step and offset (ScaleBeta_T, initialised on the first batch).
The rate of each tensor is estimated with a Gaussian of its codes' own mean and standard
deviation (codes + U(-1/2, 1/2) noise while training); the penalty lambda * bits / (H*W)
(lambda 0.05, the embeddings' bits of a batch scaled to the whole video) is added while the
estimate exceeds 4 bits per stored parameter. Adan, lr 5e-4 cosine to 0 (cosine_0_1_0.1), 100
epochs of the repo's 300 (recorded as a fraction of the preset's epochs).

The file: each tensor's integer codes (offset to start at 0, as many bits as their range needs)
with its step, entropy-coded by the .nvb range coder; nvbench decodes it from the file alone and
scores those frames. The official code only estimates the size (constriction ANS per tensor with
the same Gaussian); here every byte of a real file counts.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from nvbench.compress.quantize import QuantTensor
from nvbench.nn import NeuralRepresentation
from nvbench.recipe import BOOST_RECIPE, Recipe

#: the repo's compression run: 100 epochs after its 300 of regression
QAT_FRACTION = 100 / 300
QAT_RECIPE = replace(BOOST_RECIPE, name="hnerv-boost-qat", lr=5e-4, warmup=0.0)


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return (x.round() - x).detach() + x


class StepQuantiser(nn.Module):
    """x ~ round(x / s) * s with a learned step s (the official Scale_T, per tensor, signed)."""

    def __init__(self, tensor: torch.Tensor, bits: int):
        super().__init__()
        step = (tensor.max() - tensor.min()).detach().float() / (2**bits - 1)
        self.step = nn.Parameter(step.clamp_min(1e-12).reshape(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = x / self.step
        return code, ste_round(code) * self.step


class StepOffsetQuantiser(nn.Module):
    """x ~ round((x - beta) / s) * s + beta (the official ScaleBeta_T, unsigned), s and beta set
    from the first batch it sees."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits
        self.step = nn.Parameter(torch.ones(1))
        self.beta = nn.Parameter(torch.zeros(1))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not bool(self.ready):
            with torch.no_grad():
                lo, hi = x.min().float(), x.max().float()
                self.step.fill_(float(((hi - lo) / (2**self.bits - 1)).clamp_min(1e-12)))
                self.beta.fill_(float(lo))
                self.ready.fill_(True)
        code = (x - self.beta) / self.step
        return code, ste_round(code) * self.step + self.beta


class _LowerBound(torch.autograd.Function):
    """max(x, 0) whose gradient passes where x >= 0 or where it pushes x up (the official LowerBound)."""

    @staticmethod
    def forward(ctx, x):  # noqa: ANN001
        ctx.save_for_backward(x)
        return x.clamp_min(0.0)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001
        (x,) = ctx.saved_tensors
        return grad * ((x >= 0) | (grad < 0)).to(grad.dtype)


def gaussian_bits(code: torch.Tensor, noisy: bool) -> torch.Tensor:
    """Estimated bits of a tensor's codes under a Gaussian with their own mean and std (the
    official DiffEntropyModel): -log2(P(round(code))) summed, codes + U(-1/2, 1/2) when training."""
    mean, std = code.mean(), code.std().clamp(1e-5, 1e10)
    x = code + torch.empty_like(code).uniform_(-0.5, 0.5) if noisy else code.round()
    dist = torch.distributions.Normal(mean, std)
    probs = dist.cdf(x + 0.5) - dist.cdf(x - 0.5)
    return _LowerBound.apply(-torch.log2(probs + 1e-5)).sum()


class BoostQAT(NeuralRepresentation):
    """A trained HNeRV-Boost with quantisers on every stored tensor and a rate term for the loop."""

    hybrid = True

    def __init__(self, model: nn.Module, bits: int, lam: float, target_bits: float):
        super().__init__(model.config)
        self.model = model
        self.lam, self.target_bits = lam, target_bits
        self.names = [n for n, _ in model.decoder.named_parameters()]
        self.quant = nn.ModuleDict({n.replace(".", "__"): StepQuantiser(p, bits)
                                    for n, p in model.decoder.named_parameters()})
        self.embed_quant = StepOffsetQuantiser(bits)
        c = model.config
        self.pixels, self.frames, self.params = c["height"] * c["width"], c["frames"], c["params"]
        self._bits: torch.Tensor | None = None

    def dequantised(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        params = dict(self.model.decoder.named_parameters())
        out, bits = {}, torch.zeros(())
        for n in self.names:
            code, deq = self.quant[n.replace(".", "__")](params[n])
            out[n] = deq
            if self.training:
                bits = bits + gaussian_bits(code, noisy=True)
        return out, bits

    def forward(self, idx: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
        if frames is None:
            raise ValueError("HNeRV-Boost is hybrid: forward needs the frames to encode")
        code, emb = self.embed_quant(self.model.encoder(frames))
        weights, bits = self.dequantised()
        if self.training:  # a batch's embedding bits stand for the whole video's (x N / B)
            bits = bits + gaussian_bits(code, noisy=True) * self.frames / len(frames)
            self._bits = bits
        return functional_call(self.model.decoder, weights, (emb, idx))

    def rate_term(self) -> torch.Tensor | None:
        """lambda * estimated bits / (H*W) while the estimate exceeds target_bits per parameter."""
        if self._bits is None:
            return None
        bits, self._bits = self._bits, None
        if float(bits.detach()) / self.params > self.target_bits:
            return self.lam * bits / self.pixels
        return bits * 0.0

    @torch.no_grad()
    def estimated_bits(self, frames_of: Any) -> float:
        """The deterministic estimate (codes rounded) over the decoder and every frame's embedding."""
        from representations.hnerv_net import all_embeddings

        params = dict(self.model.decoder.named_parameters())
        total = sum(float(gaussian_bits(self.quant[n.replace(".", "__")](params[n])[0], noisy=False))
                    for n in self.names)
        emb = all_embeddings(self.model.encoder, self.frames, frames_of)
        return total + float(gaussian_bits(self.embed_quant(emb)[0], noisy=False))

    @torch.no_grad()
    def quantised_state(self, frames_of: Any) -> tuple[dict[str, QuantTensor], dict[str, np.ndarray]]:
        """{stored name: QuantTensor} for the .nvb writer and the values they decode to."""
        from representations.hnerv_net import all_embeddings

        qts: dict[str, QuantTensor] = {}
        params = dict(self.model.decoder.named_parameters())
        for n in self.names:
            q = self.quant[n.replace(".", "__")]
            qts["net." + n] = _codes(torch.round(params[n].float() / q.step), float(q.step), 0.0)
        emb = all_embeddings(self.model.encoder, self.frames, frames_of)
        eq = self.embed_quant
        qts["embeddings"] = _codes(torch.round((emb - eq.beta) / eq.step), float(eq.step), float(eq.beta))
        return qts, {k: q.dequantise() for k, q in qts.items()}


def _codes(q: torch.Tensor, step: float, offset: float) -> QuantTensor:
    """Integer codes q (value q*step + offset) as .nvb stores them: q - min(q) on as many bits as
    their range needs, with min = min(q)*step + offset and scale = step."""
    q = q.detach().cpu().to(torch.int64).numpy()
    lo = int(q.min())
    span = int(q.max()) - lo + 1
    bits = max(1, math.ceil(math.log2(span)))
    if bits > 16:
        raise ValueError(f"quantised codes span {span} values, more than 16 bits")
    mins = np.array(np.float32(lo) * np.float32(step) + np.float32(offset), np.float32)
    return QuantTensor(q - lo, bits, (), mins.reshape(()), np.array(step, np.float32).reshape(()))


def qat_epochs(preset_epochs: int, override: int) -> int:
    return override if override >= 0 else max(1, round(preset_epochs * QAT_FRACTION))


def compress(run: Any) -> list[dict[str, Any]]:
    """One RD point per bit depth (the repo's: 8): QAT with the rate penalty from the trained
    model, then the real file through the shared scoring step."""
    from nvbench.compress.nvb import encode_decoder
    from nvbench.train import TrainSettings, train

    ctx, fitted = run.ctx, run.fitted
    m = ctx.method
    o = m.resolve_options(ctx.method_options)
    epochs = qat_epochs(ctx.job.epochs, int(o["qat_epochs"]))
    recipe: Recipe = replace(QAT_RECIPE, lr=float(o["qat_lr"]))  # its own, whatever the training recipe was
    records = []
    for bits in [int(b) for b in run.option("bits", [8])]:
        t0 = time.perf_counter()
        model = copy.deepcopy(fitted.model).float()
        qat = BoostQAT(model, bits, float(o["qat_lambda"]), float(o["qat_target_bits"]))
        settings = TrainSettings(epochs=epochs, recipe=recipe, seed=ctx.job.seed, channels_last=ctx.channels_last)
        res = train(qat, fitted.source, settings, callbacks=[ctx.progress] if ctx.progress else [])
        if res.status != "ok":
            records.append(ctx.base_record(**run.base, variant=f"q{bits}", status=res.status, reason=res.reason))
            continue
        qat.eval()
        frames_of = fitted.source.float
        qts, values = qat.quantised_state(frames_of)
        est = qat.estimated_bits(frames_of)
        dec = m.build_decoder(fitted.config)
        dec.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in values.items()})
        data = encode_decoder(dec, m.name, m.version, fitted.config, coder="range", quantised=qts,
                              info={"variant": f"q{bits}", "pipeline": "hnerv-boost qat", "sequence": ctx.job.sequence,
                                    "dataset": ctx.job.dataset, "preset": ctx.job.preset})
        enc = time.perf_counter() - t0
        last = res.history[-1] if res.history else {}
        records.append(run.score(data, f"q{bits}", encode_seconds=enc, extra=dict(
            bits=bits, coder="range", qat_epochs=epochs, qat_fraction=round(QAT_FRACTION, 4),
            qat_lr=recipe.lr, qat_lambda=qat.lam, qat_target_bits=qat.target_bits, qat_seconds=res.train_seconds,
            qat_final_rate=last.get("rate"), estimated_bits_per_param=est / fitted.config["params"],
            tensor_bits=sorted({q.bits for q in qts.values()}))))
    return records
