"""Before/after speed of git revisions, measured in one run (rounds alternate between them).

    python tools/speed_ab.py aaede5b HEAD --methods hnerv,nerv --rounds 3 [--no-retain REV]

Each revision is checked out into a temporary git worktree; every measurement runs in a fresh
process importing that worktree's code, with the same timing harness (best of 5 windows) and
the same host-allocator setting unless --no-retain names the revision that runs without it.
The shared machine drifts by 1.5x over minutes (noise only ever adds time), so rounds alternate
A, B, A, B... and the table gives the best of each over the rounds, and the ratio of bests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# The harness is written out here rather than imported from nvbench.speed: it runs against old
# revisions, which may not have that module or the same API.
SNIPPET = r"""
import json, sys, time, ctypes
if sys.argv[1] == "1":
    libc = ctypes.CDLL("libc.so.6"); libc.mallopt(-3, 1 << 30); libc.mallopt(-1, (1 << 31) - 1)
import torch
from nvbench import registry
from nvbench.train import compute_loss

def best(fn, seconds=2.0, repeats=5):
    fn(); fn()
    out = float("inf")
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn(); n += 1
            dt = time.perf_counter() - t0
            if dt >= seconds / repeats:
                break
        out = min(out, dt / n)
    return out

res = {}
for name in sys.argv[2].split(","):
    m = registry.methods.get(name)
    cfg = m.plan(132, 160, 320, 94000, {})
    cl = torch.channels_last
    model = m.build(cfg).to(memory_format=cl)
    r = m.recipe
    bs = r.batch_size
    x = torch.rand(bs, 3, 160, 320).contiguous(memory_format=cl)
    idx = torch.arange(bs)
    hy = getattr(model, "hybrid", False)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr, betas=r.betas)
    def step():
        loss = compute_loss(r.loss, model(idx, x if hy else None).float(), x)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    train = bs / best(step)
    model.eval()
    frames_of = lambda i: torch.rand(len(i), 3, 160, 320).contiguous(memory_format=cl)
    dec = model.export(frames_of).eval().to(memory_format=cl)
    d = torch.arange(8)
    def decode():
        with torch.inference_mode():
            dec(d)
    res[name] = {"train_fps": train, "decode_fps": 8 / best(decode)}
print(json.dumps(res))
"""


def add_worktrees(repo: Path, specs: list[str], tmp: Path) -> dict[str, Path]:
    """REV or REV=LABEL -> {label: a detached git worktree of REV under tmp} (remove_worktrees undoes it)."""
    trees: dict[str, Path] = {}
    for spec in specs:
        rev, _, label = spec.partition("=")
        label = label or rev
        path = tmp / label.replace("/", "_")
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(path), rev],
                       check=True, capture_output=True)
        trees[label] = path
    return trees


def remove_worktrees(repo: Path, trees: dict[str, Path]) -> None:
    for path in trees.values():
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)], capture_output=True)


def code_env(path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process that imports nvbench from the checkout at `path`."""
    return {**(os.environ if env is None else env), "PYTHONPATH": str(path)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("revisions", nargs="+", help="git revisions (a label may follow as REV=LABEL)")
    ap.add_argument("--methods", default="hnerv,nerv")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-retain", action="append", default=[], help="label measured with glibc defaults")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp(prefix="speed-ab-"))
    trees = add_worktrees(repo, args.revisions, tmp)
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    try:
        for rnd in range(args.rounds):
            for label, path in trees.items():
                env = code_env(path)
                retain = "0" if label in args.no_retain else "1"
                out = subprocess.run([sys.executable, "-c", SNIPPET, retain, args.methods], env=env, cwd=path,
                                     check=True, capture_output=True, text=True).stdout
                runs[label].append(json.loads(out.strip().splitlines()[-1]))
                print(f"round {rnd + 1} {label}: {runs[label][-1]}", file=sys.stderr)
    finally:
        remove_worktrees(repo, trees)
    first = next(iter(trees))
    print(f"{'method':12s} {'revision':24s} {'train f/s':>10s} {'x':>6s} {'decode f/s':>11s} {'x':>6s}")
    for name in args.methods.split(","):
        base = {k: max(r[name][k] for r in runs[first]) for k in ("train_fps", "decode_fps")}
        for label in trees:
            med = {k: max(r[name][k] for r in runs[label]) for k in ("train_fps", "decode_fps")}
            print(f"{name:12s} {label:24s} {med['train_fps']:10.1f} {med['train_fps'] / base['train_fps']:6.2f} "
                  f"{med['decode_fps']:11.1f} {med['decode_fps'] / base['decode_fps']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
