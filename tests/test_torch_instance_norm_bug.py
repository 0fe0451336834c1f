"""A PyTorch CPU autograd bug that made E-NeRV stall under its own recipe (leaderboard commit 86081d0).

`F.instance_norm` returns a wrong input gradient on the CPU when the batch is 1 and the incoming
gradient is channels_last: it reads the gradient's memory as if it were NCHW (the wrong values are
exactly those of the gradient reinterpreted that way). float64 is affected too; batch 2 is exact.
E-NeRV's recipe trains at batch 1 and nvbench trains channels_last, so the convolution after every
instance norm handed it such a gradient: about 42 % of the parameter gradients had the wrong sign.
Commit 6f349b8 replaced `F.instance_norm` by nvbench's own `modulated_instance_norm` (for speed) and
so removed the bug's path; tests/test_nerv_family.py holds the regression test of that norm.

These tests document torch's behaviour. On a torch version listed in BUGGY the correct-gradient
test is an expected, strict failure: if it ever passes there, the list is wrong. On any other version
it asserts the correct gradient, so a torch that still has the bug fails it (add it to BUGGY; nvbench
must then keep avoiding `F.instance_norm` under channels_last batch-1 training)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

BUGGY = {"2.14.1"}  # measured here (CPU); torch.__version__ without the local build tag
TORCH = torch.__version__.split("+")[0]


def grads(batch: int, channels_last_grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input gradient of F.instance_norm for the given gradient layout, the NCHW reference, the
    incoming gradient), all float64."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 5, 6, 7, dtype=torch.float64, generator=g)
    grad_out = torch.randn(batch, 5, 6, 7, dtype=torch.float64, generator=g)
    got, ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    incoming = grad_out.contiguous(memory_format=torch.channels_last) if channels_last_grad else grad_out
    F.instance_norm(got).backward(incoming)
    F.instance_norm(ref).backward(grad_out)
    return got.grad, ref.grad, grad_out


@pytest.mark.xfail(TORCH in BUGGY, strict=True,
                   reason=f"torch {TORCH}: F.instance_norm at batch 1 reads a channels_last gradient as NCHW")
def test_instance_norm_batch1_channels_last_gradient_is_correct():
    got, ref, _ = grads(1, channels_last_grad=True)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(TORCH not in BUGGY, reason="the mechanism measured on the versions in BUGGY")
def test_wrong_gradient_is_the_incoming_gradient_read_as_nchw():
    got, ref, grad_out = grads(1, channels_last_grad=True)
    assert (got - ref).abs().max() > 1.0  # not rounding: a different gradient
    cl = grad_out.contiguous(memory_format=torch.channels_last)
    as_nchw = torch.as_strided(cl, cl.shape, grad_out.stride())  # its memory, read with NCHW strides
    x = torch.randn(1, 5, 6, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x.requires_grad_(True)
    F.instance_norm(x).backward(as_nchw.contiguous())
    torch.testing.assert_close(got, x.grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch,channels_last_grad", [(1, False), (2, True), (3, True)])
def test_instance_norm_gradient_is_exact_elsewhere(batch, channels_last_grad):
    got, ref, _ = grads(batch, channels_last_grad)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)
