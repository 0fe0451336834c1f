"""Verifying a submitted store (a bundle: jobs/*.json + the .nvb / codec files they point to).

Every job's schema and provenance are checked (its key is recomputed from its configuration);
every file a record names is re-decoded from its bytes alone (`.nvb` the reference way of
`nvbench decode`, codec bitstreams by the codec's own decoder), re-scored against the dataset the
job names, and compared with the claim:

- bytes exact: the file's size equals `file_bytes`, and `bpp` equals its bits / (T*H*W) (to
  BPP_REL_TOL, float printing only);
- metrics within a tolerance for float decoding on another machine: |PSNR| <= PSNR_TOL dB,
  |MS-SSIM| <= MSSSIM_TOL. Frames that differ in a few last bits from the claimed checksum
  (`frames_sha256`) but score within the tolerance pass with a note.

A bundle is accepted only when every job passes. The result is written to `verified.json` in the
bundle; `nvbench report` marks the rows whose job file is unchanged since (its sha256 is recorded).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PSNR_TOL = 0.01  # dB
MSSSIM_TOL = 1e-4
BPP_REL_TOL = 1e-9
STAMP = "verified.json"
#: provenance fields a job must carry to be checked
PROVENANCE_REQUIRED = ("nvbench_version", "git_commit", "torch_version", "device", "started", "dataset_checksum")


@dataclass
class Finding:
    record: str  # job label / variant
    ok: bool
    message: str


@dataclass
class Verdict:
    bundle: Path
    findings: list[Finding] = field(default_factory=list)
    verified: dict[str, dict[str, Any]] = field(default_factory=dict)  # job key -> stamp entry

    @property
    def accepted(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    def fail(self, record: str, message: str) -> None:
        self.findings.append(Finding(record, False, message))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_file(bundle: Path, key: str, recorded: str) -> Path:
    """A record's file inside the bundle: artifacts/<job key>/<name> (the path recorded at run
    time is relative to where the run was started, so only its name is trusted)."""
    return bundle / "artifacts" / key / Path(str(recorded)).name


def decode_file(path: Path, rec: dict[str, Any], job: dict[str, Any], workdir: Path) -> Any:
    """uint8 frames (T,H,W,3) of a record's file, from its bytes alone."""
    if path.suffix == ".nvb":
        from nvbench.compress.nvb import decode_frames

        return decode_frames(path)
    from nvbench import registry

    method = registry.methods.get(str(rec["method"]))
    shape = (int(rec["frames"]), int(rec["height"]), int(rec["width"]))
    return method.decode(path, shape, workdir, job.get("method_options") or {}).rgb


def _job_of(payload: dict[str, Any]) -> Any:
    from nvbench.jobs import Job

    j = dict(payload["job"])
    j.pop("schema", None)
    for k in ("crop", "resolution"):
        if j.get(k) is not None:
            j[k] = tuple(j[k])
    return Job(**j)


def check_job(payload: dict[str, Any], name: str) -> list[str]:
    """Schema and provenance problems of one job file (empty: fine)."""
    from nvbench.jobs import SCHEMA_VERSION, digest
    from nvbench.records import record_problems

    problems = []
    if payload.get("schema") != SCHEMA_VERSION:
        problems.append(f"schema {payload.get('schema')!r}, this nvbench verifies schema {SCHEMA_VERSION}")
    if not isinstance(payload.get("job"), dict) or not isinstance(payload.get("records"), list):
        return problems + ["no 'job' configuration or no 'records' list"]
    if digest(payload["job"]) != payload.get("key") or name != payload.get("key"):
        problems.append(f"key {payload.get('key')!r} is not the digest of its configuration "
                        f"({digest(payload['job'])}) or not its file name")
    prov = payload.get("provenance") or {}
    missing = [f for f in PROVENANCE_REQUIRED if not prov.get(f)]
    if missing:
        problems.append(f"provenance lacks {', '.join(missing)}")
    if prov.get("dataset_checksum") != payload["job"].get("source_checksum"):
        problems.append("provenance dataset_checksum differs from the job's source_checksum")
    for n, rec in enumerate(payload["records"]):
        wrong = record_problems(rec)  # the typed record: common fields, vocabularies, field types
        if wrong:
            problems.append(f"record {n}: {'; '.join(wrong)}")
        elif any(rec.get(k) != payload["job"].get(k) for k in ("method", "task", "dataset", "sequence", "preset",
                                                             "seed")):
            problems.append(f"record {n} names another method/task/dataset/sequence/preset/seed than its job")
    return problems


def _close(a: Any, b: Any, tol: float) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(float(a) - float(b)) <= tol


def verify_bundle(bundle: str | Path, write_stamp: bool = True) -> Verdict:
    """Check every job of the bundle; see the module docstring for what passes."""
    import tempfile

    from nvbench.compress.pipeline import frames_digest, rgb_metrics
    from nvbench.jobrun import load_video
    from nvbench.results import Store

    bundle = Path(bundle)
    verdict = Verdict(bundle)
    store = Store(bundle)
    jobs = store.iter_jobs()
    if not jobs:
        verdict.fail(str(bundle), "no job files in jobs/")
    for path, payload, problem in jobs:
        if payload is None:
            verdict.fail(path.name, problem)
            continue
        label = str(payload.get("label") or path.stem)
        problems = check_job(payload, path.stem)
        if problems:
            verdict.fail(label, "; ".join(problems))
            continue
        job = _job_of(payload)
        prov = payload.get("provenance") or {}
        files_ok, checked, notes = True, 0, []
        video = None
        for rec in payload["records"]:
            if rec.get("status") != "ok" or not rec.get("file"):
                continue
            name = f"{label}/{rec.get('variant') or '-'}"
            f = resolve_file(bundle, payload["key"], rec["file"])
            if not f.is_file():
                verdict.fail(name, f"file {f.relative_to(bundle)} is missing from the bundle")
                files_ok = False
                continue
            size = f.stat().st_size
            pixels = int(rec["frames"]) * int(rec["height"]) * int(rec["width"])
            if size != rec.get("file_bytes"):
                verdict.fail(name, f"file {f.name} has {size} bytes, the record claims {rec.get('file_bytes')}")
                files_ok = False
                continue
            bpp = size * 8 / pixels
            if not (isinstance(rec.get("bpp"), (int, float)) and math.isclose(rec["bpp"], bpp, rel_tol=BPP_REL_TOL)):
                verdict.fail(name, f"bpp {rec.get('bpp')!r} claimed, the file gives {bpp!r}")
                files_ok = False
                continue
            if video is None:
                video = load_video(job)
                if prov.get("video_checksum") and video.checksum() != prov["video_checksum"]:
                    verdict.fail(label, "the dataset here gives other frames than the job scored "
                                        f"(video checksum {video.checksum()[:12]} vs {prov['video_checksum'][:12]})")
                    files_ok = False
                    break
            try:
                with tempfile.TemporaryDirectory(prefix="nvbench-verify-") as tmp:
                    frames = decode_file(f, rec, payload["job"], Path(tmp))
            except Exception as exc:  # a file that does not decode is a failed claim, not a crash
                verdict.fail(name, f"file {f.name} does not decode: {type(exc).__name__}: {exc}")
                files_ok = False
                continue
            if tuple(frames.shape[:3]) != (int(rec["frames"]), int(rec["height"]), int(rec["width"])):
                verdict.fail(name, f"decode gives frames of shape {tuple(frames.shape)}")
                files_ok = False
                continue
            got = rgb_metrics(video, frames)
            bad = [f"{k} claimed {rec.get(k)!r}, re-scored {got[k]:.4f}" for k, tol in
                   (("psnr", PSNR_TOL), ("ms_ssim", MSSSIM_TOL))
                   if got.get(k) is not None and rec.get(k) is not None and not _close(rec.get(k), got[k], tol)]
            if bad or (got.get("psnr") is not None and rec.get("psnr") is None):
                verdict.fail(name, "decode differs: " + ("; ".join(bad) or "no PSNR claimed"))
                files_ok = False
                continue
            if rec.get("frames_sha256") and frames_digest(frames) != rec["frames_sha256"]:
                notes.append(f"{rec.get('variant')}: frames differ from the claimed checksum, metrics within tolerance")
            checked += 1
        if files_ok:
            what = f"{checked} file(s) re-decoded and re-scored" if checked else "no file to re-decode (schema only)"
            verdict.findings.append(Finding(label, True, what + (f"; {'; '.join(notes)}" if notes else "")))
            if checked:
                verdict.verified[payload["key"]] = {"job_sha256": sha256_file(path), "files": checked,
                                                    "notes": notes}
    if write_stamp:
        stamp = {"accepted": verdict.accepted, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "tolerance": {"psnr_db": PSNR_TOL, "ms_ssim": MSSSIM_TOL, "bpp_rel": BPP_REL_TOL, "bytes": "exact"},
                 "jobs": verdict.verified if verdict.accepted else {}}
        from nvbench import __version__

        stamp["nvbench_version"] = __version__
        (bundle / STAMP).write_text(json.dumps(stamp, indent=2))
    return verdict


def verified_jobs(root: str | Path) -> set[str]:
    """Keys of the jobs an accepted `verified.json` vouches for whose job file is unchanged since."""
    root = Path(root)
    try:
        stamp = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(stamp, dict) or not stamp.get("accepted"):
        return set()
    out = set()
    for key, entry in (stamp.get("jobs") or {}).items():
        p = root / "jobs" / f"{key}.json"
        if p.is_file() and isinstance(entry, dict) and sha256_file(p) == entry.get("job_sha256"):
            out.add(key)
    return out
