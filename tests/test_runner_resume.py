"""A job killed with SIGKILL resumes from its last checkpoint and ends with the same numbers
as an uninterrupted run (CPU, same seed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import runner_plugins  # noqa: E402

from nvbench.cli import main  # noqa: E402
from nvbench.results import Store  # noqa: E402

runner_plugins.register()

EPOCHS = 12
ARGV = ["run", "-m", "hnerv", "-d", "tiny", "--sequence", "alpha", "--preset", "smoke", "--epochs", str(EPOCHS),
        "--threads", "1", "--quiet"]
SCRIPT = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(HERE)!r})
    import runner_plugins
    runner_plugins.register()
    from nvbench.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def only_record(store_dir: Path) -> dict:
    items = Store(store_dir).iter_jobs()
    assert len(items) == 1 and items[0][1] is not None
    return items[0][1]["records"][0]


def test_killed_run_resumes_from_its_checkpoint_with_identical_numbers(tmp_path):
    import torch

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, *ARGV, "--results", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    ckpt = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((killed / "models").glob("*/checkpoint.pt"))
        if found:
            ckpt = found[0]
            break
        time.sleep(0.01)
    assert ckpt is not None, f"no checkpoint appeared: {proc.stderr.read().decode() if proc.poll() else ''}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "jobs").exists() or not list((killed / "jobs").glob("*.json"))  # the job never finished
    at = torch.load(ckpt, map_location="cpu", weights_only=False)["epoch"]
    assert 0 < at < EPOCHS

    assert main([*ARGV, "--results", str(killed)]) == 0  # the rerun resumes
    resumed = only_record(killed)
    assert resumed["resumed_from_epoch"] == at  # from the checkpoint's epoch, not from zero
    assert resumed["epoch"] == EPOCHS and not ckpt.exists()  # finished; the checkpoint is cleaned up

    fresh = tmp_path / "fresh"
    assert main([*ARGV, "--results", str(fresh)]) == 0
    straight = only_record(fresh)
    assert straight["resumed_from_epoch"] == 0
    for field in ("psnr", "psnr_float", "psnr_pooled", "ms_ssim", "train_loss", "params", "epoch"):
        assert resumed[field] == straight[field], field
    assert json.loads(json.dumps(resumed))  # a whole, valid JSON record
