"""C3: patching, the networks' equivalences, the Laplace rate, the real file and its errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nvbench.errors import FormatError
from representations.c3 import C3_RECIPE, REPO_STEPS, C3Method, macs_per_pixel
from tests.conftest import smooth_video


def test_patching_covers_the_whole_video_at_the_presets():
    smoke = C3Method.plan(8, 40, 80, None, {})
    assert smoke["patch"] == [8, 40, 80] and smoke["patches"] == 1
    cpu = C3Method.plan(132, 160, 320, None, {})
    assert cpu["patch"] == [33, 160, 320] and cpu["patches"] == 4  # 4 x 33 frames: the divisors nearest 30x180x240
    for cfg, (t, h, w) in ((smoke, (8, 40, 80)), (cpu, (132, 160, 320))):
        pt, ph, pw = cfg["patch"]
        assert t % pt == 0 and h % ph == 0 and w % pw == 0
        assert cfg["patches"] * pt * ph * pw == t * h * w
    # stored parameters: latents 1 + 1/8 + ... per pixel, plus the networks (62 causal taps only)
    lat = sum(math.ceil(8 / 2**i) * math.ceil(40 / 2**i) * math.ceil(80 / 2**i) for i in range(5))
    assert smoke["params_latents"] == lat
    assert smoke["params_entropy"] == 12 * 62 + 12 + 12 * 12 + 12 + 12 * 2 + 2


def test_c3_takes_no_size_and_a_lambda_knob():
    from nvbench.expand import RunRequest, expand

    assert C3Method.takes_size is False and C3Method.rd_knob == "lambda"
    jobs = expand(RunRequest(methods=["c3"], tasks=["compression", "reconstruction"], preset="smoke"))
    assert [j.size for j in jobs] == [None, None]
    assert C3Method.lambdas({}) == [1e-2, 3e-3, 1e-3, 3e-4]
    assert C3Method.lambdas({"lambdas": "1e-3,2e-2"}) == [1e-3, 2e-2]


def test_macs_count_only_the_causal_taps():
    cfg = C3Method.plan(8, 40, 80, None, {})
    m = macs_per_pixel(cfg)
    assert m["synthesis"] == 5 * 12 + 12 * 12 + 12 * 3 + 2 * 27 * 9
    per_latent = 62 * 12 + 12 * 12 + 12 * 2  # not 125 * 12: masked taps are not computed
    assert m["entropy_model"] == pytest.approx(per_latent * cfg["params_latents"] / (8 * 40 * 80))
    assert 1000 < m["total"] < 5000  # C3 quotes < 5k MACs/pixel with its wider UVG sweep


def test_recipe_schedule_is_c3s():
    assert C3_RECIPE.lr_at(0.0) == pytest.approx(1e-2)
    assert C3_RECIPE.lr_at(C3_RECIPE.noise_fraction / 2) == pytest.approx(5e-3)
    assert C3_RECIPE.lr_at(0.95) == pytest.approx(1e-4)  # straight-through phase
    assert C3_RECIPE.grad_clip == 1e-2 and C3_RECIPE.noise_fraction == pytest.approx(100 / 110)


def test_causal_conv_is_the_masked_conv3d_and_causal():
    from representations.c3_net import causal_conv, causal_kernel, edge_conv3x3x3

    g = torch.randn(6, 7, 9, dtype=torch.float64)
    taps, b = torch.randn(12, 62, dtype=torch.float64), torch.randn(12, dtype=torch.float64)
    ref = F.conv3d(g[None, None], causal_kernel(taps), b, padding=2)[0].transpose(0, 1)
    assert torch.allclose(causal_conv(g, taps, b), ref, atol=1e-12)
    # the output at (3, 4, 5) must not depend on that latent or any later one in raster order
    g2 = g.clone().view(-1)
    g2[3 * 63 + 4 * 9 + 5 :] += 1.0
    assert torch.allclose(causal_conv(g2.view(6, 7, 9), taps, b)[3, :, 4, 5], ref[3, :, 4, 5], atol=1e-12)
    assert not torch.allclose(causal_conv(g2.view(6, 7, 9), taps, b)[3, :, 4, 6], ref[3, :, 4, 6])
    y = torch.randn(2, 3, 5, 6, 7, dtype=torch.float64)
    w, bb = torch.randn(3, 81, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    ref3 = F.conv3d(F.pad(y, (1,) * 6, mode="replicate"), w.view(3, 3, 3, 3, 3), bb)
    got = edge_conv3x3x3(y.transpose(1, 2).reshape(10, 3, 6, 7), w, bb, 2).view(2, 5, 3, 6, 7).transpose(1, 2)
    assert torch.allclose(got, ref3, atol=1e-12)


def test_laplace_bits_match_the_cdf():
    from scipy.stats import laplace

    from representations.c3_net import laplace_bits

    x = torch.tensor([-3.0, 0.0, 0.0, 1.0, 2.0, 7.0], dtype=torch.float64)
    loc = torch.tensor([0.2, 0.0, 0.4, -0.3, 2.1, 0.0], dtype=torch.float64)
    scale = torch.tensor([1.0, 0.1, 2.0, 0.7, 5.0, 0.5], dtype=torch.float64)
    p = laplace.cdf(x + 0.5, loc, scale) - laplace.cdf(x - 0.5, loc, scale)
    assert np.allclose(laplace_bits(x, loc, scale).numpy(), np.minimum(-np.log2(p), 16), atol=1e-9)


@pytest.fixture(scope="module")
def trained():
    """A C3 fitted by the shared loop on a small smooth clip (8 x 32 x 64, lambda 1e-4), 120 steps."""
    from nvbench.train import FrameSource, TrainSettings, seed_everything, train
    from representations.c3_net import C3

    video = smooth_video(8, 32, 64)
    cfg = C3Method.plan(8, 32, 64, None, {"lambda": 1e-4})
    seed_everything(1)
    model = C3(cfg)
    source = FrameSource(video.frames, torch.device("cpu"))
    res = train(model, source, TrainSettings(epochs=120, recipe=C3_RECIPE, seed=1))
    assert res.status == "ok" and res.steps == 120 and res.steps < REPO_STEPS
    assert res.history[-1]["train_psnr"] > res.history[0]["train_psnr"] + 10
    assert all("rate" in h for h in res.history)
    return model.eval(), cfg, source


def _encode(trained):
    """The file as the pipeline writes it (the q-step search, coordinate-wise, then the coder)."""
    from types import SimpleNamespace

    from representations.c3_compress import encode_point

    model, cfg, source = trained
    return encode_point(SimpleNamespace(model=model, config=cfg, source=source), cfg["lambda"], "coordinate")


@pytest.fixture(scope="module")
def encoded(trained):
    return _encode(trained)


def test_file_decodes_to_the_rounded_model(trained, encoded):
    from nvbench.compress.nvb import load_decoder

    model, cfg, source = trained
    data, acct = encoded
    assert len(data) == acct["bytes_header"] + acct["bytes_side"] + acct["bytes_weights"] + acct["bytes_latents"]
    assert acct["bytes_header"] < 600  # JSON header (plan keys + section list), CRCs and framing
    dec, header = load_decoder(data)
    symbols = model.rounded_grids()
    for dp, sp in zip(dec.patches, symbols):
        for lat, s in zip(dp.latents, sp):
            assert torch.equal(lat.detach(), s * 0.2)
    with torch.no_grad():
        frames = dec(torch.arange(8))
    assert frames.shape == (8, 3, 32, 64) and 0 <= float(frames.min()) and float(frames.max()) <= 1
    # the synthesis runs on the file's quantised weights: close to the float model, not equal
    with torch.no_grad():
        ref = model(torch.arange(8))
    assert 0 < float((frames - ref).abs().max()) < 0.1


def test_latent_bytes_are_close_to_the_estimate(encoded):
    """The file's latent section against sum(-log2 p) over the latents under the (quantised)
    entropy model, the rate C3 reports. Measured here: +1.2 % (1564 B against 12362 bits); the
    weights: 1552 B in the file against 1569 B estimated."""
    data, acct = encoded
    est = acct["latent_bits_estimated"]
    gap = acct["bytes_latents"] * 8 / est - 1
    print(f"latent bytes {acct['bytes_latents']} = {acct['bytes_latents'] * 8} bits, estimate {est:.0f} bits, "
          f"gap {100 * gap:+.2f} %; header {acct['bytes_header']} B, side {acct['bytes_side']} B, "
          f"weights {acct['bytes_weights']} B (estimate {acct['weight_bits_estimated'] / 8:.0f} B)")
    assert est > 5000  # enough latents for the comparison to mean something
    assert abs(gap) < 0.03


def test_coordinate_qstep_search_is_close_to_the_grid(trained):
    from representations.c3_compress import qstep_search

    model, cfg, source = trained
    target = source.float(torch.arange(8)).permute(1, 0, 2, 3).contiguous()
    (gw, gb), grid = qstep_search(model, 0, cfg["lambda"], target, "grid")
    (cw, cb), coord = qstep_search(model, 0, cfg["lambda"], target, "coordinate")

    def loss(info):
        return info["mse"] + cfg["lambda"] * (info["latent_bits"] + info["weight_bits"]) / (8 * 32 * 64)

    assert loss(grid) <= loss(coord) <= loss(grid) * 1.05
    assert grid["q_step_weight"] in (5e-5, 1e-4, 5e-4, 1e-3, 3e-3, 6e-3, 1e-2)


@pytest.mark.parametrize("damage", ["truncate", "flip_latents", "flip_header", "empty"])
def test_damaged_files_are_one_format_error(encoded, damage):
    from nvbench.compress.nvb import load_decoder

    data = bytearray(encoded[0])
    if damage == "truncate":
        data = data[: len(data) - 7]
    elif damage == "flip_latents":
        data[-10] ^= 0x40
    elif damage == "flip_header":
        data[30] ^= 0x01
    else:
        data = bytearray()
    with pytest.raises(FormatError):
        load_decoder(bytes(data))
