"""`nvbench verify BUNDLE`: accept a submitted store only when every file re-decodes, from its bytes
alone, to the bytes, bpp and metrics its records claim (nvbench.verify)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_verify(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nvbench.errors import NvbenchError
    from nvbench.verify import MSSSIM_TOL, PSNR_TOL, STAMP, verify_bundle

    if not (Path(args.bundle) / "jobs").is_dir():
        raise NvbenchError(f"BUNDLE {args.bundle}: not a results store (no jobs/ folder in it)")
    verdict = verify_bundle(args.bundle, write_stamp=not args.no_stamp)
    for f in verdict.findings:
        if not f.ok:
            print(f"FAIL {f.record}: {f.message}")
        elif args.verbose:
            print(f"ok   {f.record}: {f.message}")
    n_ok = sum(f.ok for f in verdict.findings)
    files = sum(v["files"] for v in verdict.verified.values())
    state = "accepted" if verdict.accepted else "rejected"
    print(f"{args.bundle}: {state} — {n_ok}/{len(verdict.findings)} jobs pass, {files} file(s) re-decoded and "
          f"re-scored (bytes exact, PSNR within {PSNR_TOL} dB, MS-SSIM within {MSSSIM_TOL})"
          + ("" if args.no_stamp else f"; wrote {STAMP}"))
    return 0 if verdict.accepted else 1


def register(sub: Any) -> None:
    p = sub.add_parser("verify", help="re-decode and re-score a submitted store; accept it only if every claim holds")
    p.add_argument("bundle", help="a results store: jobs/*.json and artifacts/<key>/ with the files they name")
    p.add_argument("--no-stamp", action="store_true", help="do not write verified.json into the bundle")
    p.add_argument("-v", "--verbose", action="store_true", help="print the jobs that pass too")
    p.set_defaults(func=cmd_verify)
