"""SSIM (pytorch-msssim's definition) with a hand-written backward, for training losses.

Same value as ``pytorch_msssim.ssim(x, y, data_range, size_average=True)``: an 11-tap Gaussian
(sigma 1.5) applied separably along H then W with no padding ("valid"), K = (0.01, 0.03), the
SSIM map averaged per channel, then over channels and the batch.

Why: autograd through pytorch-msssim re-runs the transposed filter on all five filtered maps
and a dozen element-wise backward nodes on the full-size products (x*x, y*y, x*y). Here the
forward filters the five maps in one grouped convolution, keeps the filtered maps, and the
backward applies the transposed filter once to three (four, when y needs a gradient) stacked
maps.

Derivation. With G the valid Gaussian filter, mx = G*x, my = G*y, exx = G*(x*x), eyy = G*(y*y),
exy = G*(x*y), and

    A1 = 2 mx my + C1       B1 = mx^2 + my^2 + C1        l  = A1 / B1
    A2 = 2 (exy - mx my) + C2   B2 = (exx - mx^2) + (eyy - my^2) + C2    cs = A2 / B2

S = l * cs and L = mean(S) over its N elements. The partial derivatives of S with respect to the
five filtered maps (chain rule through A1, B1, A2, B2) are

    dS/dexy = 2 A1/(B1 B2) = 2 l/B2          dS/dexx = dS/deyy = -S/B2
    dS/dmx  = 2 my (cs/B1 - l/B2) + 2 mx (S/B2 - S/B1)        (dS/dmy: swap mx and my)

and since exx = G*(x*x) has d exx / dx = 2x through G, the chain rule gives, with G^T the
transposed (full, zero-padded) filter and g = dL_out/dL / N,

    dL/dx = G^T*(g dS/dmx) + x * G^T*(2 g dS/dexx) + y * G^T*(g dS/dexy)
    dL/dy = G^T*(g dS/dmy) + y * G^T*(2 g dS/deyy) + x * G^T*(g dS/dexy)

so the backward needs only the saved mx, my, l, cs, S, B1, B2 and the inputs, and one transposed
filter pass over the stacked maps [g dS/dmx, 2g dS/dexx, g dS/dexy (, g dS/dmy)].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

WIN_SIZE = 11
WIN_SIGMA = 1.5
K1, K2 = 0.01, 0.03


def gaussian_window(size: int = WIN_SIZE, sigma: float = WIN_SIGMA) -> torch.Tensor:
    """The 1-D window as pytorch-msssim builds it (float32, normalised to sum 1)."""
    coords = torch.arange(size, dtype=torch.float) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filters(channels: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    g = gaussian_window().to(like.device, dtype=like.dtype)
    return (g.view(1, 1, -1, 1).expand(channels, 1, -1, 1).contiguous(),
            g.view(1, 1, 1, -1).expand(channels, 1, 1, -1).contiguous())


def _blur(t: torch.Tensor) -> torch.Tensor:
    """Valid separable Gaussian of every channel, along H then W (pytorch-msssim's order)."""
    wh, ww = _filters(t.shape[1], t)
    return F.conv2d(F.conv2d(t, wh, groups=t.shape[1]), ww, groups=t.shape[1])


def _blur_transposed(t: torch.Tensor) -> torch.Tensor:
    """The adjoint of _blur: a full (zero-padded) filter along W then H; the window is symmetric."""
    wh, ww = _filters(t.shape[1], t)
    pad = WIN_SIZE - 1
    t = F.conv2d(t, ww, groups=t.shape[1], padding=(0, pad))
    return F.conv2d(t, wh, groups=t.shape[1], padding=(pad, 0))


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def _rows_by_map(t: torch.Tensor) -> torch.Tensor:
    """A channels_last (B, K, h, w) map re-laid out as [b][h][k][w] (one transpose per row, the
    cheap direction of the copy), returned as a (B, K, h, w) view: its channel slices read runs of
    w contiguous floats, where the NHWC slices read runs of C (3) floats strided by K."""
    return t.permute(0, 2, 1, 3).contiguous().permute(0, 2, 1, 3)


class _SSIM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:  # type: ignore[override]
        b, c, h, w = x.shape
        c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
        x, y = _nhwc(x), _nhwc(y)
        stacked = torch.empty(b, 5 * c, h, w, dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
        parts = stacked.split(c, dim=1)
        parts[0].copy_(x)
        parts[1].copy_(y)
        torch.mul(x, x, out=parts[2])
        torch.mul(y, y, out=parts[3])
        torch.mul(x, y, out=parts[4])
        mx, my, exx, eyy, exy = _rows_by_map(_blur(stacked)).split(c, dim=1)
        mx2, my2, mxy = mx * mx, my * my, mx * my
        b1 = (mx2 + my2).add_(c1)
        b2 = (exx - mx2).add_(eyy - my2).add_(c2)
        lum = (2 * mxy).add_(c1).div_(b1)
        cs = (2 * (exy - mxy)).add_(c2).div_(b2)
        s = lum * cs
        ctx.save_for_backward(x, y, mx, my, lum, cs, s, b1, b2)
        return s.mean((2, 3)).mean()  # per channel, then over channels and the batch

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:  # type: ignore[override]
        x, y, mx, my, lum, cs, s, b1, b2 = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        c = x.shape[1]
        g = grad / s.numel()
        nmaps = 2 + int(need_x) + int(need_y)
        bsz, _, hh, ww = s.shape
        # the maps to filter, written in place into one [b][h][k][w] buffer
        buf = s.new_empty(bsz, hh, nmaps * c, ww).permute(0, 2, 1, 3)
        out = buf.split(c, dim=1)
        u_minus_v = (cs / b1).sub_(lum / b2)  # cs/B1 - l/B2
        q = s / b2
        q_minus_p = q - s / b1  # S/B2 - S/B1
        k = 0
        if need_x:  # g dS/dmx
            torch.mul(torch.addcmul(my * u_minus_v, mx, q_minus_p), 2 * g, out=out[0])
            k = 1
        torch.mul(q, -2 * g, out=out[k])  # 2g dS/dexx
        torch.mul(torch.div(lum, b2), 2 * g, out=out[k + 1])  # g dS/dexy
        if need_y:  # g dS/dmy
            torch.mul(torch.addcmul(mx * u_minus_v, my, q_minus_p), 2 * g, out=out[k + 2])
        t = _blur_transposed(_nhwc(buf)).split(c, dim=1)
        tb, tc = t[k], t[k + 1]
        dx = torch.addcmul(t[0], x, tb).addcmul_(y, tc) if need_x else None
        dy = torch.addcmul(t[k + 2], y, tb).addcmul_(x, tc) if need_y else None
        return dx, dy, None


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of (B,C,H,W) batches x and y, as pytorch_msssim.ssim(..., size_average=True)
    with its default window; frames smaller than the window take pytorch-msssim's own path."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two (B,C,H,W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < WIN_SIZE:
        from pytorch_msssim import ssim as reference

        return reference(x, y, data_range=data_range, size_average=True)
    return _SSIM.apply(x, y, data_range)
