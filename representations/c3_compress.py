"""C3's compression pipeline (the compression task's per-method seam): a lambda sweep, each
point one training run through the shared loop, then C3's q-step search and the real file.

Each point's record carries the knob (`lambda`), the real bpp (file bytes, header included) and
the paper's estimate (sum of -log2 p of the latents under the float entropy model plus C3's
Laplace estimate of the weights), the bytes of each part of the file, and the training steps
reached against the repository's 110k.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from representations.c3 import REPO_STEPS, macs_per_pixel


def qstep_search(model: Any, index: int, lam: float, target: Any, how: str = "grid"
                 ) -> tuple[tuple[int, int], dict[str, float]]:
    """C3's search for one patch: the (weight, bias) q-step pair with the least MSE (8-bit
    rounded reconstruction) + lambda * (latent + weight bits) / pixels. how='grid': all 7x7
    pairs (C3); 'coordinate': the weight step with the bias step at its finest, then the bias
    step (13 evaluations instead of 49)."""
    import torch
    from torch.func import functional_call

    from representations.c3_codec import Q_STEPS, laplace_rate_bits, quantise_tensor
    from representations.c3_net import Q_STEP, laplace_bits, upsample

    p = model.patches[index]
    symbols = model.rounded_grids()[index]
    grids = [s * Q_STEP for s in symbols]
    pixels = target.shape[1] * target.shape[2] * target.shape[3]
    modules = {"synthesis": p.synthesis, "entropy": p.entropy}
    # each tensor's quantised values and bits at every step (weights use the weight step, biases the bias step)
    table: dict[tuple[str, str], list[tuple[Any, float]]] = {}
    for mname, module in modules.items():
        for k, v in module.state_dict().items():
            cells = []
            for q in Q_STEPS:
                ints, step = quantise_tensor(v, q, q)
                cells.append((ints * step, laplace_rate_bits(ints.cpu().numpy().astype("int64"))))
            table[(mname, k)] = cells
    best: tuple[float, tuple[int, int], dict[str, float]] | None = None
    n = len(Q_STEPS)
    if how == "grid":
        pairs = [[(iw, ib) for iw in range(n) for ib in range(n)]]
    else:  # the second round is built from the first one's best weight step
        pairs = [[(iw, 0) for iw in range(n)], None]
    with torch.no_grad():
        up = upsample(grids, p.patch)
        for round_ in pairs:
            if round_ is None:
                assert best is not None
                round_ = [(best[1][0], ib) for ib in range(1, n)]
            for iw, ib in round_:
                qw, qb = Q_STEPS[iw], Q_STEPS[ib]
                wbits, states = 0.0, {m: {} for m in modules}
                for (mname, k), cells in table.items():
                    value, bits = cells[iw if value_is_weight(cells[0][0]) else ib]
                    states[mname][k] = value
                    wbits += bits
                rec = functional_call(p.synthesis, states["synthesis"], (up,))[0]
                mse = float(((torch.round(rec * 255) / 255 - target) ** 2).mean())
                lbits = 0.0
                for g, s in zip(grids, symbols):
                    loc, scale = functional_call(p.entropy, states["entropy"], (g,))
                    lbits += float(laplace_bits(s, loc / Q_STEP, scale / Q_STEP).sum())
                loss = mse + lam * (lbits + wbits) / pixels
                if best is None or loss < best[0]:
                    best = (loss, (iw, ib), {"mse": mse, "latent_bits": lbits, "weight_bits": wbits,
                                             "q_step_weight": qw, "q_step_bias": qb})
    assert best is not None
    return best[1], best[2]


def value_is_weight(t: Any) -> bool:
    """C3's rule: tensors of rank > 1 are weights, the others biases."""
    return t.dim() > 1


def encode_point(fitted: Any, lam: float, how: str = "grid") -> tuple[bytes, dict[str, Any]]:
    """The .nvb bytes of a trained C3 model and its accounting (estimates, q-steps)."""
    import torch

    from representations.c3_codec import encode_file
    from representations.c3_net import patch_boxes

    model, cfg = fitted.model.eval(), fitted.config
    choice, searched = [], []
    for i, (t0, h0, w0) in enumerate(patch_boxes(cfg)):
        pt, ph, pw = cfg["patch"]
        idx = torch.arange(t0, t0 + pt)
        target = fitted.source.float(idx)[:, :, h0 : h0 + ph, w0 : w0 + pw].permute(1, 0, 2, 3).contiguous()
        pair, info = qstep_search(model, i, lam, target.to(next(model.parameters()).device), how)
        choice.append(pair)
        searched.append(info)
    data, acct = encode_file(model, cfg, choice)
    acct["latent_bits_estimated"] = sum(s["latent_bits"] for s in searched)
    acct["weight_bits_estimated_search"] = sum(s["weight_bits"] for s in searched)
    acct["q_steps"] = [[s["q_step_weight"], s["q_step_bias"]] for s in searched]
    return data, acct


def compress(run: Any) -> list[dict[str, Any]]:
    """The compression task's points for C3: one per lambda of `--set lambdas=...` (default
    1e-2, 3e-3, 1e-3, 3e-4), each trained (or taken from the store) by fit_representation."""
    from nvbench.fit import fit_representation

    ctx = run.ctx
    m, v = ctx.method, ctx.video
    pixels = v.num_frames * v.height * v.width
    own = {k: val for k, val in (ctx.method_options or {}).items() if k != "lambdas"}
    macs = macs_per_pixel(run.fitted.config)
    how = str(m.resolve_options(ctx.method_options)["qstep_search"])
    records = []
    for lam in m.lambdas(ctx.method_options):
        if lam == float(run.fitted.config["lambda"]):
            fitted = run.fitted
        else:
            fitted = fit_representation(replace(ctx, method_options={**own, "lambda": lam}))
        res = fitted.result
        steps = int(res.steps)
        train = {"train_seconds": round(res.train_seconds, 3), "epoch": res.epochs_done,
                 "reused_model": fitted.reused}
        point = {"lambda": lam, "steps": steps, "repo_steps": REPO_STEPS, "under_trained": steps < REPO_STEPS,
                 "patch": fitted.config["patch"], "patches": fitted.config["patches"],
                 "patching": fitted.config["patching"], "macs_per_pixel_parts": macs, "qstep_search": how}
        if res.status != "ok":
            records.append(ctx.base_record(**{**run.base, **train}, variant=f"lambda{lam:g}", status=res.status,
                                           reason=res.reason, **point))
            continue
        t0 = time.perf_counter()
        data, acct = encode_point(fitted, lam, how)
        enc = time.perf_counter() - t0
        est_bits = acct["latent_bits_estimated"] + acct["weight_bits_estimated"]
        point.update(
            coder="range (constriction, learned Laplace per latent)",
            bpp_estimated=est_bits / pixels,
            bpp_latents_estimated=acct["latent_bits_estimated"] / pixels,
            bpp_latents_file=acct["bytes_latents"] * 8 / pixels,
            latent_bytes_over_estimate=acct["bytes_latents"] * 8 / max(acct["latent_bits_estimated"], 1e-9) - 1,
            latent_bits_model=acct["latent_bits_model"], latent_bits_estimated=acct["latent_bits_estimated"],
            weight_bits_estimated=acct["weight_bits_estimated"],
            bytes_header=acct["bytes_header"], bytes_side=acct["bytes_side"], bytes_weights=acct["bytes_weights"],
            bytes_latents=acct["bytes_latents"], q_steps=acct["q_steps"],
            train_rate_final=(res.history[-1].get("rate") if res.history else None),
        )
        sub = replace(run, fitted=fitted, base={**run.base, **train})
        rec = sub.score(data, f"lambda{lam:g}", encode_seconds=enc, extra=point)
        # decoding C3 is mostly the latents' range decoding, done while the file is read: the
        # frame rate counts it (score's decode_fps times the synthesis of already decoded latents)
        rec["decode_fps_synthesis"] = rec.get("decode_fps")
        rec["decode_fps"] = v.num_frames / rec["decode_seconds"] if rec.get("decode_seconds") else None
        records.append(rec)
    return records
