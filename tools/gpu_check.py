"""The paper-scale speed check for a machine with a GPU (issue 9), as one prepared script.

    python tools/gpu_check.py --device cuda --epochs 10 [--amp bf16] [--results DIR]

Trains HNeRV 1.5M on Big Buck Bunny at the paper preset (640x1280, 132 frames) for a short
schedule through `nvbench run` (the same code path as every benchmark job), then decodes the
stored decoder at batch 1 and 16 and prints one JSON line with s/epoch, PSNR and decode fps,
beside the paper's figures (about 8 s per epoch and 333 decode fps on an RTX 2080 Ti, 300
epochs). On a CPU (`--device cpu --preset smoke --size 24k`) it is the same code on a toy scale;
tests/test_speed.py runs it that way.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from nvbench import registry
from nvbench.cli import main as nvbench_main
from nvbench.metrics import measure_fps
from nvbench.train import pick_device, with_autocast

PAPER = {"seconds_per_epoch": 8.0, "decode_fps": 333.0, "psnr_300_epochs": 35.0, "gpu": "RTX 2080 Ti"}


def run(args: argparse.Namespace) -> dict:
    results = Path(args.results or tempfile.mkdtemp(prefix="nvbench-gpu-check-"))
    argv = ["run", "--method", "hnerv", "--task", "reconstruction", "--preset", args.preset, "--size", args.size,
            "--epochs", str(args.epochs), "--device", args.device, "--results", str(results), "--quiet", "--force"]
    if args.amp:
        argv += ["--amp", args.amp]
    if nvbench_main(argv) != 0:
        raise SystemExit("nvbench run failed")
    (job,) = sorted((results / "jobs").glob("*.json"), key=lambda p: p.stat().st_mtime)[-1:]
    payload = json.loads(job.read_text())
    (rec,) = payload["records"]
    job_id = payload["provenance"]["config"]  # the job's identity; the decoder's config is its plan
    method = registry.methods.get("hnerv")
    config = method.plan(rec["frames"], rec["height"], rec["width"], rec["size_target"], job_id["method_options"])
    device = pick_device(args.device)
    dec = method.build_decoder(config)
    dec.load_state_dict(torch.load(results / "artifacts" / payload["key"] / "decoder.pt", map_location="cpu"))
    dec = dec.to(device).eval()
    if device.type == "cpu":
        dec = dec.to(memory_format=torch.channels_last)
    decode = with_autocast(dec, device, args.amp)
    fps = {f"decode_fps_batch{b}": measure_fps(decode, rec["frames"], device, batch_size=b) for b in (1, 16)}
    gpu = torch.cuda.get_device_name(0) if device.type == "cuda" else None
    return {
        "device": str(device), "gpu": gpu, "amp": args.amp, "preset": args.preset, "size": args.size,
        "resolution": rec["resolution"], "frames": rec["frames"], "params": rec["params"], "epochs": rec["epoch"],
        "seconds_per_epoch": rec["train_seconds"] / max(1, rec["epoch"]), "psnr": rec["psnr"],
        "job_decode_fps_batch8": rec["decode_fps"], **fps, "paper": PAPER, "results": str(results),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--size", default="1.5M")
    ap.add_argument("--amp", choices=["bf16", "fp16"])
    ap.add_argument("--results", help="store folder (default: a new temporary folder)")
    args = ap.parse_args()
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
