"""NeRV, nerv-hnerv, E-NeRV and the autoencoder: sizes against docs/methods/, the stored count equal to
the plan's, size floors, positional encoding, index normalisation and the interpolation contract."""

from __future__ import annotations

import math
import re

import pytest
import torch

from nvbench.errors import SizeError
from nvbench.recipe import HNERV_RECIPE, NERV_RECIPE, SHARED_RECIPE, resolve_recipe
from representations.autoencoder import AutoencoderMethod
from representations.enerv import ENeRVMethod
from representations.nerv import NeRVMethod, nerv_grid
from representations.nerv_hnerv import NeRVHNeRVMethod
from representations.nerv_net import normalised_index, positional_encoding

METHODS = [NeRVMethod, NeRVHNeRVMethod, ENeRVMethod, AutoencoderMethod]
PAPER_LADDER = (640, 1280, [350_000, 750_000, 1_500_000, 3_000_000])
CPU_LADDER = (160, 320, [94_000, 188_000, 375_000])
N = 132


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize("name,fc,expected", [("nerv-s", 26, 3_201_905), ("nerv-m", 58, 6_282_001),
                                               ("nerv-l", 112, 12_524_563)])
def test_nerv_paper_sizes_at_l40(name, fc, expected):
    cfg = NeRVMethod.plan(N, 720, 1280, name, {"pe_l": 40})
    assert (cfg["fc_dim"], cfg["fc_hw"], cfg["strides"]) == (fc, [9, 16], [5, 2, 2, 2, 2])
    assert cfg["widths"] == [fc, 96, 96, 96, 96]
    assert cfg["params"] == expected
    assert cfg["width_scaled"] is False
    if name == "nerv-s":  # the torch module has exactly that many parameters
        assert trainable(NeRVMethod.build(cfg)) == expected
    # l = 80 adds 40 * 2 * 512 weights (NeRV-S = 3,242,865; docs/methods/nerv.md)
    assert NeRVMethod.plan(N, 720, 1280, name, {})["params"] == expected + 40_960


@pytest.mark.parametrize("hw,grid,strides", [((720, 1280), (9, 16), (5, 2, 2, 2, 2)),
                                             ((1080, 1920), (9, 16), (5, 3, 2, 2, 2)),
                                             ((640, 1280), (8, 16), (5, 2, 2, 2, 2)),
                                             ((160, 320), (8, 16), (5, 2, 2))])
def test_nerv_grid_is_frame_over_strides(hw, grid, strides):
    gh, gw, s = nerv_grid(*hw, grid_w=16)
    assert (gh, gw) == grid and s == strides
    assert gh * math.prod(s) == hw[0] and gw * math.prod(s) == hw[1]


def test_nerv_width_scaling_below_nerv_s_only():
    small = NeRVMethod.plan(N, 640, 1280, 1_500_000, {})
    assert small["width_scaled"] and 0 < small["width_scale"] < 1
    # every width shrinks by the same factor (rounded): stem, fc_dim and the stage widths
    f = small["width_scale"]
    for got, base in ((small["stem_dim"], 512), (small["fc_dim"], 26), (small["widths"][1], 96)):
        assert abs(got - base * f) <= 0.5 + 1e-3
    big = NeRVMethod.plan(N, 640, 1280, 8_000_000, {})
    assert not big["width_scaled"] and big["stem_dim"] == 512 and big["widths"][1:] == [96] * 4
    assert big["fc_dim"] > 26 and big["params"] <= 8_000_000


@pytest.mark.parametrize("budget,fc,paper", [(350_000, 15, 381_312), (750_000, 30, 756_441),
                                             (1_500_000, 54, 1_507_541), (3_000_000, 91, 2_986_264)])
def test_nerv_hnerv_quadratic_matches_spec(budget, fc, paper):
    cfg = NeRVHNeRVMethod.plan(N, 640, 1280, budget, {})
    assert cfg["fc_dim"] == fc
    assert cfg["strides"] == [5, 4, 2, 2] and cfg["fc_hw"] == [8, 16] and cfg["kernels"] == [3, 3, 3, 3]
    assert cfg["params_paper"] == paper  # HNeRV's count: head excluded
    assert cfg["params"] == paper + cfg["widths"][-1] * 27 + 3


def test_enerv_released_config():
    cfg = ENeRVMethod.plan(N, 720, 1280, "released", {})
    assert cfg["fc_hw"] == [9, 16] and cfg["strides"] == [5, 2, 2, 2, 2]
    assert cfg["widths"] == [588, 294, 147, 96, 96] and cfg["up_inner"] == 49
    assert cfg["params_parts"] == {"t_mlp": 213_760, "xy_mlp": 82_176, "trans1": 131_712, "trans2": 590_464,
                                   "toconv": 50_372, "t_branch": 37_120, "modulation": 340_818,
                                   "convs": 11_043_601, "head": 291}
    model = ENeRVMethod.build(cfg)
    # E-NeRV's main.py counts 12,490,602: the trainable weights plus the 288 values of its
    # fixed 9x16 coordinate grid (a requires_grad=False parameter there, recomputed here)
    assert cfg["params_paper"] == 12_490_602
    assert trainable(model) == cfg["params"] == 12_490_602 - 288
    assert not cfg["width_scaled"]


@pytest.mark.parametrize("h,w,sizes", [PAPER_LADDER, CPU_LADDER])
def test_enerv_width_formula_within_3_percent(h, w, sizes):
    for size in sizes:
        cfg = ENeRVMethod.plan(N, h, w, size, {})
        assert abs(cfg["params"] / size - 1) <= 0.03, (size, cfg["params"])
        assert cfg["width_scaled"] and cfg["width_scale"] < 1
    for size in (120_000, 600_000, 2_200_000, 20_000_000):  # and between / above the ladders
        assert abs(ENeRVMethod.plan(N, 640, 1280, size, {})["params"] / size - 1) <= 0.03


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_every_ladder_size_is_reached(method):
    for h, w, sizes in (PAPER_LADDER, CPU_LADDER):
        for size in sizes:
            cfg = method.plan(N, h, w, size, {})
            assert 0.9 * size <= cfg["params"] <= 1.12 * size, (method.name, size, cfg["params"])


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_stored_tensors_are_the_planned_params(method):
    h, w, sizes = CPU_LADDER
    for size in sizes:
        cfg = method.plan(N, h, w, size, {})
        assert method.build_decoder(cfg).stored_parameters() == cfg["params"]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_size_error_names_a_reachable_floor(method):
    with pytest.raises(SizeError) as err:
        method.plan(N, 160, 320, 50, {})
    m = re.search(r"smallest size there is \S+ \((\d+) parameters\)", str(err.value))
    assert m, str(err.value)
    floor = int(m.group(1))
    assert floor > 50
    assert method.plan(N, 160, 320, floor, {})["params"] > 0  # the named floor itself works


def test_autoencoder_split_and_latents():
    for h, w, sizes in (PAPER_LADDER, CPU_LADDER):
        for size in sizes:
            cfg = AutoencoderMethod.plan(N, h, w, size, {})
            assert 0.4 <= cfg["params_latents"] / size <= 0.5
            assert cfg["latent_per_frame"] > 128  # larger than HNeRV's 16x2x4 embedding
            assert cfg["latent_channels"] >= 4 and cfg["latent_hw"][0] * math.prod(cfg["strides"]) == h
            assert cfg["params"] == cfg["params_latents"] + cfg["params_decoder"]


def test_positional_encoding_float64_interleaved():
    t = torch.tensor([0.0, 0.37, 131 / 132], dtype=torch.float64)
    pe = positional_encoding(t, 1.25, 80)
    assert pe.shape == (3, 160) and pe.dtype == torch.float32
    import numpy as np

    ang = np.float64(131 / 132) * (1.25 ** np.arange(80, dtype=np.float64)) * np.pi
    assert torch.allclose(pe[2, 0::2].double(), torch.from_numpy(np.sin(ang)), atol=1e-6)
    assert torch.allclose(pe[2, 1::2].double(), torch.from_numpy(np.cos(ang)), atol=1e-6)
    cat = positional_encoding(t, 1.25, 80, interleaved=False)
    assert torch.equal(cat[:, :80], pe[:, 0::2]) and torch.equal(cat[:, 80:], pe[:, 1::2])
    assert torch.equal(positional_encoding(t, 1.25, 80), pe)  # the same numbers every time


def test_index_normalisation():
    idx = torch.tensor([0, 5, 9])
    assert normalised_index(idx, 10, "i/N").tolist() == [0.0, 0.5, 0.9]
    assert normalised_index(idx, 10, "i/(N-1)").tolist() == [0.0, 5 / 9, 1.0]
    assert NeRVMethod.index_normalisation == "i/N" and ENeRVMethod.index_normalisation == "i/(N-1)"


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_decoder_reproduces_model_and_interpolation(method):
    torch.manual_seed(0)
    h, w, n = 40, 80, 6
    frames = torch.rand(n, 3, h, w)
    cfg = method.plan(n, h, w, 24_000, {})
    model = method.build(cfg).eval()
    frames_of = lambda idx: frames[idx]  # noqa: E731
    dec = model.export(frames_of).eval()
    idx = torch.tensor([1, 4])
    with torch.no_grad():
        direct = model(idx, frames[idx] if model.hybrid else None)
        assert direct.shape == (2, 3, h, w) and 0 <= direct.min() and direct.max() <= 1
        assert torch.allclose(dec(idx), direct, atol=1e-5)
        rebuilt = method.build_decoder(cfg)
        rebuilt.load_state_dict(dec.state_dict())
        assert torch.allclose(rebuilt.eval()(idx), direct, atol=1e-5)
        if model.hybrid:
            assert set(model.interpolation_variants) == {"encode-frame", "interp-embed"}
            held = torch.tensor([3])
            enc = model.encoder
            expected = model.decoder((enc(frames[[2]]) + enc(frames[[4]])) / 2)
            assert torch.allclose(model.interpolate("interp-embed", held, frames_of, [0, 2, 4]), expected, atol=1e-5)
            assert torch.allclose(model.interpolate("encode-frame", held, frames_of, [0, 2, 4]),
                                  model.decoder(enc(frames[held])), atol=1e-5)
        else:
            assert model.interpolation_variants == ("index",)
            assert torch.allclose(model.interpolate("index", torch.tensor([3]), None, [0, 2, 4]),
                                  dec(torch.tensor([3])), atol=1e-5)
            with pytest.raises(ValueError):
                model.interpolate("interp-embed", torch.tensor([3]), None, [0, 2, 4])


def test_recipes():
    assert NeRVMethod.recipe is NERV_RECIPE and ENeRVMethod.recipe is NERV_RECIPE
    assert (NERV_RECIPE.loss, NERV_RECIPE.lr, NERV_RECIPE.betas, NERV_RECIPE.batch_size) == ("fusion6", 5e-4,
                                                                                              (0.5, 0.999), 1)
    assert NeRVHNeRVMethod.recipe is HNERV_RECIPE and AutoencoderMethod.recipe is HNERV_RECIPE
    for m in METHODS:
        assert resolve_recipe("shared", m.recipe) is SHARED_RECIPE
        assert resolve_recipe("paper", m.recipe) is m.recipe


@pytest.mark.parametrize("name", ["hnerv", "nerv", "nerv-hnerv", "enerv", "autoencoder"])
def test_decoder_skeleton_builds_on_meta_device(name):
    """.nvb decoding checks tensor names and shapes on a meta-device skeleton before allocating
    anything; every representation must build there with the same state as on the CPU."""
    import torch

    from nvbench import registry

    method = registry.methods.get(name)
    config = method.plan(8, 40, 80, 24_000, {})  # the smoke preset's size: every method reaches it
    with torch.device("meta"):
        skeleton = method.build_decoder(config)
    real = method.build_decoder(config)
    assert {k: tuple(v.shape) for k, v in skeleton.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in real.state_dict().items()}


@pytest.mark.parametrize("channels_last", [False, True])
def test_enerv_modulated_instance_norm_matches_instance_norm_then_affine(channels_last):
    from representations.enerv_net import modulated_instance_norm

    torch.manual_seed(0)
    x = torch.randn(3, 5, 6, 7) * 3 + 1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    gb = torch.randn(3, 10)
    gamma, beta = gb.chunk(2, dim=1)
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    got = modulated_instance_norm(x1, gamma, beta)
    ref = torch.nn.functional.instance_norm(x2) * gamma[..., None, None] + beta[..., None, None]
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert got.is_contiguous(memory_format=torch.channels_last) == channels_last  # the layout is kept
    g = torch.randn_like(ref)
    got.backward(g)
    ref.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-5)


def test_enerv_norm_batch1_channels_last_gradient_matches_nchw_float64():
    """The regression test of the E-NeRV stall (leaderboard commit 86081d0): at batch 1 with a
    channels_last incoming gradient, torch's F.instance_norm returns a wrong input gradient
    (tests/test_torch_instance_norm_bug.py). nvbench's norm must be exact there, in float64 against
    an NCHW reference written out by hand."""
    from representations.enerv_net import modulated_instance_norm

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 5, 6, 7, dtype=torch.float64, generator=g) * 3 + 1
    gamma, beta = torch.randn(1, 5, dtype=torch.float64, generator=g), torch.randn(1, 5, dtype=torch.float64,
                                                                                   generator=g)
    grad_out = torch.randn(1, 5, 6, 7, dtype=torch.float64, generator=g)
    for x_layout in (torch.contiguous_format, torch.channels_last):
        xs = [x.clone().contiguous(memory_format=x_layout).requires_grad_(True), x.clone().requires_grad_(True)]
        gs = [gamma.clone().requires_grad_(True), gamma.clone().requires_grad_(True)]
        bs = [beta.clone().requires_grad_(True), beta.clone().requires_grad_(True)]
        got = modulated_instance_norm(xs[0], gs[0], bs[0])
        got.backward(grad_out.contiguous(memory_format=torch.channels_last))
        mean = xs[1].mean(dim=(2, 3), keepdim=True)
        var = ((xs[1] - mean) ** 2).mean(dim=(2, 3), keepdim=True)
        ref = (xs[1] - mean) / torch.sqrt(var + 1e-5) * gs[1][..., None, None] + bs[1][..., None, None]
        ref.backward(grad_out)
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
        for a, b in ((xs[0].grad, xs[1].grad), (gs[0].grad, gs[1].grad), (bs[0].grad, bs[1].grad)):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_batch1_channels_last_parameter_gradients_match_nchw(method):
    """What the training loop does (model and frames channels_last, NeRV's batch 1) gives the same
    parameter gradients as NCHW; 86081d0's E-NeRV had ~41 % of them with the wrong sign here."""
    import copy

    torch.manual_seed(0)
    h, w, n = 40, 80, 6
    cfg = method.plan(n, h, w, 24_000, {})
    frames = torch.rand(n, 3, h, w)
    model = method.build(cfg)
    idx = torch.tensor([3])
    grads = []
    for channels_last in (False, True):
        m = copy.deepcopy(model)
        x = frames[idx]
        if channels_last:
            m.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        out = m(idx, x if m.hybrid else None)
        (out - x).abs().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None]))
    nchw, cl = grads
    assert nchw.abs().max() > 0
    torch.testing.assert_close(cl, nchw, rtol=1e-3, atol=1e-6 * nchw.abs().max().item())


def test_positional_encoding_precisions_follow_the_official_code():
    """float32 (NeRV's and E-NeRV's `pos * b**i * math.pi` on a float32 index) and float32-freq (HNeRV's
    float64 index times `b ** torch.arange(l) * pi` in float32) are different numbers from float64 at
    the high levels; each is the same for a frame alone or in a batch (training = decoding)."""
    import numpy as np

    t = torch.tensor([0.0, 0.37, 131 / 132], dtype=torch.float64)
    pe32 = positional_encoding(t, 1.25, 80, precision="float32")
    ang32 = (np.float32(131 / 132) * (1.25 ** np.arange(80)).astype(np.float32)) * np.float32(np.pi)
    assert ang32.dtype == np.float32
    assert torch.allclose(pe32[2, 0::2].double(), torch.from_numpy(np.sin(ang32.astype(np.float64))), atol=1e-6)
    bases = 1.25 ** torch.arange(80) * math.pi  # HNeRV's PositionEncoding, verbatim
    assert bases.dtype == torch.float32
    pe_h = positional_encoding(t, 1.25, 80, interleaved=False, precision="float32-freq")
    assert torch.allclose(pe_h[2, :80].double(), torch.sin(t[2] * bases.double()), atol=1e-7)
    pe64 = positional_encoding(t, 1.25, 80)
    # the low levels agree with float64, the top ones are unrelated numbers
    assert torch.allclose(pe32[:, :20], pe64[:, :20], atol=1e-4)  # levels 0-9 (sin, cos interleaved)
    assert torch.allclose(pe_h[:, :10], pe64[:, 0:20:2], atol=1e-4)  # levels 0-9 (all sin first)
    assert (pe32[:, 140:] - pe64[:, 140:]).abs().max() > 0.5  # levels 70-79
    assert (pe_h[:, 70:80] - pe64[:, 140::2]).abs().max() > 0.5
    for prec in ("float32", "float32-freq", "float64"):
        batch = positional_encoding(t, 1.25, 80, precision=prec)
        alone = torch.cat([positional_encoding(t[i : i + 1], 1.25, 80, precision=prec) for i in range(3)])
        assert torch.equal(batch, alone)
    with pytest.raises(ValueError, match="float32, float32-freq, float64"):
        positional_encoding(t, 1.25, 80, precision="half")


@pytest.mark.parametrize("method,precision", [(NeRVMethod, "float32"), (NeRVHNeRVMethod, "float32-freq"),
                                              (ENeRVMethod, "float32")], ids=lambda m: getattr(m, "name", m))
def test_each_method_records_its_official_pe_precision(method, precision):
    from nvbench.errors import NvbenchError
    from representations.nerv_net import pe_precision

    cfg = method.plan(N, 160, 320, 94_000, {})
    assert cfg["pe_precision"] == precision == method.options["pe_precision"]
    assert method.version == "2"  # v1 computed it in float64: other numbers, so other job keys
    assert pe_precision({}) == "float64"  # a v1 config (.nvb files written then) decodes as it was trained
    assert method.plan(N, 160, 320, 94_000, {"pe_precision": "float64"})["pe_precision"] == "float64"
    with pytest.raises(NvbenchError, match=r"pe_precision='half' is not one of float32, float32-freq, float64"):
        method.plan(N, 160, 320, 94_000, {"pe_precision": "half"})
