"""nvbench.optim.Adan against the published update rule, and HNeRV-Boost's loss."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from nvbench.optim import Adan


def reference_adan(theta, grads, lr, betas, eps, wd):
    """Adan (Xie et al. 2022, Algorithm 1) written out with the authors' code's conventions:
    b = 1 - beta_paper, bias-corrected moments, g_0 = g_1 (so the first difference is 0)."""
    b1, b2, b3 = betas
    m = torch.zeros_like(theta)
    v = torch.zeros_like(theta)
    n = torch.zeros_like(theta)
    prev = None
    out = []
    for k, g in enumerate(grads, start=1):
        diff = torch.zeros_like(g) if prev is None else g - prev
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * diff
        n = b3 * n + (1 - b3) * (g + b2 * diff) ** 2
        step = (m / (1 - b1**k) + b2 * v / (1 - b2**k)) / (torch.sqrt(n / (1 - b3**k)) + eps)
        theta = (theta - lr * step) / (1 + lr * wd)
        prev = g
        out.append(theta.clone())
    return out


@pytest.mark.parametrize("wd", [0.0, 0.02])
def test_adan_follows_the_published_rule(wd):
    torch.manual_seed(0)
    target = torch.randn(7, 5, dtype=torch.float64)
    p = torch.nn.Parameter(torch.randn(7, 5, dtype=torch.float64))
    opt = Adan([p], lr=3e-3, betas=(0.98, 0.92, 0.99), eps=1e-8, weight_decay=wd)
    theta0, grads, ours = p.detach().clone(), [], []
    for _ in range(25):
        opt.zero_grad()
        loss = ((p - target) ** 3).abs().sum()  # a non-quadratic loss: the gradient changes every step
        loss.backward()
        grads.append(p.grad.detach().clone())
        opt.step()
        ours.append(p.detach().clone())
    ref = reference_adan(theta0, grads, 3e-3, (0.98, 0.92, 0.99), 1e-8, wd)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert float((ours[-1] - theta0).abs().max()) > 1e-3  # it moved


def test_adan_state_resumes_exactly():
    """The step count lives in the param group, so a checkpointed optimiser resumes the same run."""
    torch.manual_seed(1)
    w = torch.nn.Parameter(torch.randn(4))
    opt = Adan([w], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        (w.sin().sum()).backward()
        opt.step()
    w2 = torch.nn.Parameter(w.detach().clone())
    opt2 = Adan([w2], lr=1e-2)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as from a checkpoint file
    for o, p in ((opt, w), (opt2, w2)):
        o.zero_grad()
        (p.sin().sum()).backward()
        o.step()
    assert torch.equal(w, w2) and opt2.param_groups[0]["step"] == 4


def test_adan_matches_timm_where_installed():
    timm_optim = pytest.importorskip("timm.optim")
    torch.manual_seed(2)
    a = torch.nn.Parameter(torch.randn(6, 3))
    b = torch.nn.Parameter(a.detach().clone())
    oa, ob = Adan([a], lr=3e-3), timm_optim.Adan([b], lr=3e-3)
    for _ in range(20):
        for o, p in ((oa, a), (ob, b)):
            o.zero_grad()
            ((p - 1) ** 4).sum().backward()
            o.step()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_boost_loss_is_the_official_form_with_the_evaluation_window():
    from pytorch_msssim import ms_ssim

    from nvbench.metrics import ms_ssim_window
    from nvbench.train import compute_loss

    torch.manual_seed(3)
    for h, w, win in ((40, 80, 3), (160, 320, 7)):
        assert ms_ssim_window(h, w) == win
        pred, gt = torch.rand(2, 3, h, w), torch.rand(2, 3, h, w)
        l1 = (pred - gt).abs().mean()
        fp, fg = torch.fft.fft2(pred), torch.fft.fft2(gt)
        freq = torch.cat([(fp.real - fg.real).abs().flatten(), (fp.imag - fg.imag).abs().flatten()]).mean()
        want = 60 * (0.7 * l1 + 0.3 * (1 - ms_ssim(pred, gt, data_range=1, win_size=win))) + freq
        got = compute_loss("fusion10_freq", pred, gt)
        assert math.isclose(float(got), float(want), rel_tol=1e-5)
    with pytest.raises(ValueError, match="short side above 32"):
        compute_loss("fusion10_freq", torch.rand(1, 3, 32, 64), torch.rand(1, 3, 32, 64))


def test_boost_recipe():
    from nvbench.recipe import BOOST_RECIPE, SHARED_RECIPE, resolve_recipe
    from representations.hnerv_boost import HNeRVBoostMethod

    r = resolve_recipe("paper", HNeRVBoostMethod.recipe)
    assert r is BOOST_RECIPE and r.optimizer == "adan" and r.lr == 3e-3 and r.batch_size == 1
    assert r.loss == "fusion10_freq" and r.betas == (0.98, 0.92, 0.99)
    assert r.to_dict()["optimizer"] == "adan" and "optimizer" not in SHARED_RECIPE.to_dict()
    assert resolve_recipe("shared", HNeRVBoostMethod.recipe) is SHARED_RECIPE
    # the repo's default lr_type cosine_0.1_1_0.1: 10 % linear warm-up from 0.1*lr, then cosine to 0
    assert r.lr_at(0.0) == pytest.approx(3e-4) and r.lr_at(0.1) == pytest.approx(3e-3)
    assert r.lr_at(0.55) == pytest.approx(1.5e-3) and r.lr_at(1.0) == pytest.approx(0.0, abs=1e-12)
