"""Adan (Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
Models", 2022), the optimiser of HNeRV-Boost's recipe.

torch has no Adan. The maintained PyPI package that carries the authors' implementation (sail-sg)
is timm (`timm.optim.Adan`); it installs cleanly here, but brings huggingface_hub, httpx and
safetensors for one optimiser, and a result should not depend on which extras are installed.
So nvbench runs this one module everywhere: the update of the authors' code line for line
(their `_multi_tensor_adan`, no weight decay by default, no gradient clipping), checked step by
step against the published rule (tests/test_hnerv_boost_adan.py) and against timm's Adan where
timm is installed (`pip install "nvbench[adan-check]"`).

    g_k, diff_k = g_k - g_{k-1} (0 at the first step)
    m_k = b1 m_{k-1} + (1-b1) g_k                    (b1 = 0.98)
    v_k = b2 v_{k-1} + (1-b2) diff_k                 (b2 = 0.92)
    n_k = b3 n_{k-1} + (1-b3) (g_k + b2 diff_k)^2    (b3 = 0.99)
    p  -= lr * (m_k / (1-b1^k) + b2 v_k / (1-b2^k)) / (sqrt(n_k / (1-b3^k)) + eps)
    p  /= 1 + lr * weight_decay
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class Adan(torch.optim.Optimizer):
    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float, float] = (0.98, 0.92, 0.99),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        if lr < 0 or eps < 0 or not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 3:
            raise ValueError(f"Adan: bad lr={lr}, eps={eps} or betas={betas} (three values in [0, 1))")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001 - torch's signature
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2, b3 = group["betas"]
            group["step"] = group.get("step", 0) + 1
            k = group["step"]
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            for p in params:
                st = self.state[p]
                if not st:
                    st["exp_avg"] = torch.zeros_like(p)
                    st["exp_avg_sq"] = torch.zeros_like(p)
                    st["exp_avg_diff"] = torch.zeros_like(p)
                if "neg_pre_grad" not in st or k == 1:
                    st["neg_pre_grad"] = -p.grad.clone()
            m = [self.state[p]["exp_avg"] for p in params]
            n = [self.state[p]["exp_avg_sq"] for p in params]
            v = [self.state[p]["exp_avg_diff"] for p in params]
            neg = [self.state[p]["neg_pre_grad"] for p in params]
            torch._foreach_add_(neg, grads)  # diff_k = g_k - g_{k-1}
            torch._foreach_mul_(m, b1)
            torch._foreach_add_(m, grads, alpha=1 - b1)
            torch._foreach_mul_(v, b2)
            torch._foreach_add_(v, neg, alpha=1 - b2)
            torch._foreach_mul_(neg, b2)  # g_k + b2 diff_k
            torch._foreach_add_(neg, grads)
            torch._foreach_mul_(n, b3)
            torch._foreach_addcmul_(n, neg, neg, value=1 - b3)
            denom = torch._foreach_sqrt(n)
            torch._foreach_div_(denom, math.sqrt(1.0 - b3**k))
            torch._foreach_add_(denom, group["eps"])
            lr, wd = group["lr"], group["weight_decay"]
            torch._foreach_addcdiv_(params, m, denom, value=-lr / (1.0 - b1**k))
            torch._foreach_addcdiv_(params, v, denom, value=-lr * b2 / (1.0 - b2**k))
            if wd:
                torch._foreach_div_(params, 1 + lr * wd)
            torch._foreach_zero_(neg)
            torch._foreach_add_(neg, grads, alpha=-1.0)  # -g_k for the next step
        return loss
