"""SubpixelConv (conv -> activation -> PixelShuffle with (i, j, c)-ordered output channels on
channels_last tensors) computes what nn.Conv2d + nn.PixelShuffle compute, in both layouts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nvbench.nn import SubpixelConv, gelu_, is_channels_last


def reference(m: SubpixelConv, x: torch.Tensor) -> torch.Tensor:
    y = F.conv2d(x.contiguous(), m.weight, m.bias, padding=m.padding)
    return nn.PixelShuffle(m.scale)(F.gelu(y))


@pytest.mark.parametrize("scale,kernel", [(1, 3), (2, 3), (2, 5), (5, 3), (3, 1)])
@pytest.mark.parametrize("channels_last", [True, False])
def test_values_and_gradients_match_conv_then_pixel_shuffle(scale, kernel, channels_last):
    torch.manual_seed(scale * 10 + kernel)
    m = SubpixelConv(6, 5, scale, kernel, activation=gelu_)
    x = torch.randn(2, 6, 7, 9)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y = m(x)
    assert y.shape == (2, 5, 7 * scale, 9 * scale)
    if channels_last and scale > 1:
        assert is_channels_last(y)
    x_ref = x.detach().clone().requires_grad_(True)
    ref = reference(m, x_ref)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(ref)
    y.backward(g)
    got = (x.grad.clone(), m.weight.grad.clone(), m.bias.grad.clone())
    m.zero_grad()
    ref.backward(g)
    for a, b in zip(got, (x_ref.grad, m.weight.grad, m.bias.grad)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_channels_last_output_and_decode_in_place():
    m = SubpixelConv(4, 3, 2, 3, activation=gelu_).eval()
    x = torch.randn(1, 4, 5, 6).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        y = m(x)
    assert is_channels_last(y)  # the next conv gets NHWC without a copy
    torch.testing.assert_close(y, reference(m, x), rtol=1e-5, atol=1e-6)


def test_stored_parameters_keep_pytorch_order():
    """The state dict is that of nn.Conv2d(cin, cout*s^2): files and checkpoints written before
    (and other tools' weights) load unchanged; the (i, j, c) order never reaches the disk."""
    m = SubpixelConv(4, 3, 2, 3)
    plain = nn.Conv2d(4, 12, 3, padding=1)
    assert {k: v.shape for k, v in m.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(m.state_dict())
    x = torch.randn(1, 4, 5, 6).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(m(x), nn.PixelShuffle(2)(plain(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("height,width", [(5, 7), (1, 1), (4, 6)])
@pytest.mark.parametrize("bias", [True, False])
def test_head_over_subpixel_equals_head_after_shuffle(height, width, bias):
    """The decode-time 2x2 cell head on the unshuffled map is the 3x3 head on the shuffled frame
    (zero padding at every border included); training takes the plain path."""
    from nvbench.nn import head_over_subpixel

    torch.manual_seed(height * width + bias)
    sub = SubpixelConv(6, 5, 2, 3, activation=gelu_)
    head = nn.Conv2d(5, 3, 3, padding=1, bias=bias)
    x = torch.randn(2, 6, height, width).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        fused = head_over_subpixel(sub, head, x)
        ref = head(reference(sub, x))
    assert fused.shape == ref.shape == (2, 3, 2 * height, 2 * width)
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # weights changed in place: the cached cell weights are rebuilt
        head.weight.mul_(-2.0)
    with torch.inference_mode():
        torch.testing.assert_close(head_over_subpixel(sub, head, x), head(reference(sub, x)), rtol=1e-5, atol=1e-5)
    x.requires_grad_(True)
    y = head_over_subpixel(sub, head, x)  # autograd on: the plain path, gradients as usual
    y.sum().backward()
    assert x.grad is not None and head.weight.grad is not None


@pytest.mark.parametrize("scale", [2, 3])
def test_one_by_one_head_over_subpixel_equals_head_after_shuffle(scale):
    from nvbench.nn import head_over_subpixel

    torch.manual_seed(scale)
    sub = SubpixelConv(6, 5, scale, 3, activation=gelu_)
    head = nn.Conv2d(5, 3, 1)
    x = torch.randn(2, 6, 4, 7).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        fused = head_over_subpixel(sub, head, x)
        ref = head(reference(sub, x))
    assert fused.shape == ref.shape and is_channels_last(fused)
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale,height,width", [(2, 5, 7), (3, 4, 6)])
def test_one_by_one_head_over_subpixel_trains_as_head_after_shuffle(scale, height, width):
    """The 1x1 head path also runs under autograd (training): output and every gradient equal to
    the head after the shuffled frame, up to float rounding."""
    from nvbench.nn import head_over_subpixel

    torch.manual_seed(scale)
    sub = SubpixelConv(6, 5, scale, 3, activation=gelu_).to(memory_format=torch.channels_last)
    head = nn.Conv2d(5, 3, 1).to(memory_format=torch.channels_last)
    x = torch.randn(2, 6, height, width).contiguous(memory_format=torch.channels_last)
    got = []
    for fn in (lambda t: head_over_subpixel(sub, head, t), lambda t: head(reference(sub, t))):
        sub.zero_grad(set_to_none=True)
        head.zero_grad(set_to_none=True)
        t = x.clone().requires_grad_(True)
        y = fn(t)
        (y * torch.linspace(0.5, 1.5, y.numel()).view_as(y)).sum().backward()
        got.append((y.detach(), t.grad, sub.weight.grad, sub.bias.grad, head.weight.grad, head.bias.grad))
    assert is_channels_last(got[0][0])
    for a, b in zip(*got):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())
