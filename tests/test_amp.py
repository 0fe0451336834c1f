"""Mixed precision (`--amp`): a job of its own (its key differs, float32 keys are unchanged),
training and decoding under autocast, recorded in every record."""

from __future__ import annotations

import json

import torch

from nvbench.cli import main
from nvbench.expand import RunRequest, expand
from nvbench.train import with_autocast


def test_amp_is_part_of_the_key_and_float32_keys_are_unchanged():
    (fp32,) = expand(RunRequest(methods=["hnerv"], preset="smoke"))
    (bf16,) = expand(RunRequest(methods=["hnerv"], preset="smoke", amp="bf16"))
    assert "amp" not in fp32.identity()  # keys written before --amp reached the key still match
    assert bf16.identity()["amp"] == "bf16" and bf16.key != fp32.key
    assert bf16.label() == fp32.label() + "/bf16"  # the progress lines tell the two apart
    (codec,) = expand(RunRequest(methods=["x264"], tasks=["compression"], preset="smoke", amp="bf16"))
    assert codec.amp is None  # nothing of a classical codec runs under autocast


def test_decode_under_autocast_returns_float32_of_lower_precision():
    conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    x = torch.rand(2, 3, 16, 16)

    def decode(idx):
        return conv(x[idx])

    idx = torch.arange(2)
    assert with_autocast(decode, torch.device("cpu"), None) is decode
    with torch.no_grad():
        y = with_autocast(decode, torch.device("cpu"), "bf16")(idx)
        ref = decode(idx)
    assert y.dtype == torch.float32
    err = (y - ref).abs().max().item()
    assert 0 < err < 0.05  # bfloat16 rounding: different, and close


def test_run_with_bf16_records_it(tmp_path):
    root = tmp_path / "r"
    assert main(["run", "--method", "hnerv", "--preset", "smoke", "--epochs", "2", "--amp", "bf16",
                 "--results", str(root), "--quiet"]) == 0
    (path,) = (root / "jobs").glob("*.json")
    (rec,) = json.loads(path.read_text())["records"]
    assert rec["amp"] == "bf16" and rec["status"] == "ok"
    assert 8 < rec["psnr"] < 40 and rec["decode_fps"] > 0
