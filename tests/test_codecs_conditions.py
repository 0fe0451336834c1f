"""Classical codecs under stated coding conditions: VVenC and libaom at the smoke preset through the
compression task, conditions and provenance in the records, GOP structures as the decoder sees them,
same bytes from two encodes, and option checks."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from conftest import smooth_video

from nvbench.expand import RunRequest, expand
from nvbench.matrix import run_matrix
from nvbench.options import OptionError
from nvbench.results import Store
from representations.ffmpeg_codecs import (
    AOMMethod,
    SVTAV1Method,
    VVenCMethod,
    X264Method,
    X265Method,
    ffmpeg_encoders,
    intra_frames,
    planes_bytes,
    vvc_irap_count,
)

ALL = [X264Method, X265Method, SVTAV1Method, AOMMethod, VVenCMethod]


def _need(method):
    if method.unavailable_reason():
        pytest.skip(f"{method.name}: {method.unavailable_reason()}")


@pytest.mark.parametrize("method", [VVenCMethod, AOMMethod], ids=lambda m: m.name)
def test_smoke_compression_run_records_conditions(method, tmp_path):
    _need(method)
    store = Store(tmp_path)
    settings = {"vmaf": "false", "lpips": "false", "anchor": method.name}
    jobs = expand(RunRequest(methods=[method.name], tasks=["compression"], preset="smoke", settings=settings))
    payload = run_matrix(jobs, store)[0]
    recs = payload["records"]
    assert [r["status"] for r in recs] == ["ok"] * 3, [r.get("reason") for r in recs]
    recs.sort(key=lambda r: r["bpp"])
    assert [r["quality"] for r in recs] == sorted(method.qualities("smoke", {}), reverse=True)
    psnrs = [r["psnr"] for r in recs]
    assert psnrs == sorted(psnrs) and psnrs[-1] > psnrs[0] + 3  # more bits, better frames
    for r in recs:
        assert r["file_bytes"] * 8 / (8 * 40 * 80) == pytest.approx(r["bpp"])
        assert r["gop"] == "ra" and r["encoder_threads"] == 1 and r["encoder"] == method.encoder
        assert r["encoder_version"] != "not reported" and r["encoder_version"] in r["coding_conditions"]
        assert r["decoder"] == method.decoder and r["coding_bit_depth"] == method.bit_depth
        assert r["intra_pictures"] >= 1 and r["ffmpeg_version"].startswith("ffmpeg version")
    prov = payload["provenance"]
    assert prov["codec"]["encoder_version"] == recs[0]["encoder_version"] and prov["codec"]["encoder_threads"] == 1
    assert prov["ffmpeg"]["version"] == recs[0]["ffmpeg_version"] and prov["cpu_model"]


def test_vvenc_defaults_state_the_field_conditions():
    o = VVenCMethod.resolve_options({})
    assert (o["preset"], o["gop"], o["keyint"], o["threads"], o["tune"]) == ("medium", "ra", 32, 1, "psnr")
    args = VVenCMethod.encoder_args(37, o)
    assert args[args.index("-qpa") + 1] == "0" and "IntraPeriod=32:Threads=1" in args
    assert AOMMethod.encoder_args(40, AOMMethod.resolve_options({}))[:8] == [
        "-c:v", "libaom-av1", "-cpu-used", "4", "-crf", "40", "-b:v", "0"]
    # the committed x264/x265 conditions: the encoders' own GOP, preset medium, now one thread
    assert X264Method.encoder_args(33, X264Method.resolve_options({})) == [
        "-c:v", "libx264", "-preset", "medium", "-crf", "33", "-threads", "1"]
    assert X265Method.encoder_args(33, X265Method.resolve_options({}))[-1] == "log-level=error:info=0:pools=1"


@pytest.mark.parametrize("method", ALL, ids=lambda m: m.name)
def test_gop_structures_as_the_decoder_sees_them(method, tmp_path):
    _need(method)
    v = smooth_video(8, 40, 80).frames
    q = method.qualities("smoke", {})[1]
    seen = {}
    for gop, keyint in (("ra", 4), ("ai", 0), ("ld", 0)):
        opts = {"gop": gop, "keyint": keyint}
        (tmp_path / gop).mkdir()
        out = method.decode(method.encode(v, q, tmp_path / gop, opts), v.shape[:3], tmp_path, opts)
        seen[gop] = out.info
        assert out.rgb.shape == v.shape
    assert seen["ai"]["intra_pictures"] == 8
    assert seen["ra"]["intra_pictures"] == 2 and seen["ld"]["intra_pictures"] == 1
    if seen["ra"]["intra_frames"] is not None:
        assert seen["ra"]["intra_frames"] == [0, 4] and seen["ai"]["intra_frames"] == list(range(8))


@pytest.mark.parametrize("method", ALL, ids=lambda m: m.name)
def test_same_bytes_from_two_encodes(method, tmp_path):
    """The default conditions (a fixed thread count) give the same stream twice; x264 with its
    thread count left to the core count is what made committed bytes machine-dependent."""
    _need(method)
    v = smooth_video(6, 48, 96).frames
    q = method.qualities("smoke", {})[1]
    digests = []
    for i in (1, 2):
        (tmp_path / str(i)).mkdir()
        digests.append(hashlib.sha256(method.encode(v, q, tmp_path / str(i), {}).read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_x264_bytes_depend_on_its_thread_count(tmp_path):
    """Why threads are fixed by default: x264's frame threads change its decisions (measured on Bunny:
    29,696 B at 1-2 threads vs 29,372 B at 3+ at CRF 33)."""
    if "libx264" not in ffmpeg_encoders():
        pytest.skip("no libx264")
    v = smooth_video(24, 96, 160).frames
    frames = []
    for t in (1, 4):  # the decoded frames, not the bytes: x264's settings text names its thread count
        (tmp_path / str(t)).mkdir()
        path = X264Method.encode(v, 30, tmp_path / str(t), {"threads": t})
        frames.append(X264Method.decode(path, v.shape[:3], tmp_path, {}).rgb)
    assert not np.array_equal(frames[0], frames[1])


def test_options_are_checked_where_they_enter():
    with pytest.raises(OptionError, match="gop"):
        VVenCMethod.resolve_options({"gop": "lowdelay"})
    with pytest.raises(OptionError, match="preset"):
        AOMMethod.resolve_options({"preset": "9"})
    with pytest.raises(OptionError, match="threads"):
        X264Method.resolve_options({"threads": "-1"})
    assert X265Method.resolve_options({"gop": "ld", "threads": "2"})["threads"] == 2


def test_missing_encoder_is_unavailable_with_the_reason(monkeypatch):
    import representations.ffmpeg_codecs as fc

    monkeypatch.setattr(fc, "ffmpeg_encoders", lambda: frozenset({"libx264"}))
    assert "no libvvenc encoder" in VVenCMethod.unavailable_reason()
    monkeypatch.setattr(fc, "ffmpeg_encoders", lambda: frozenset({"libvvenc"}))
    monkeypatch.setattr(fc, "ffmpeg_coders", lambda kind="encoders": frozenset())
    assert "no vvc decoder" in VVenCMethod.unavailable_reason()


def test_ten_bit_path_is_exact_and_parsers():
    rng = np.random.default_rng(0)
    Y, U, V = (rng.integers(0, 256, s, dtype=np.uint8) for s in ((2, 4, 6), (2, 2, 3), (2, 2, 3)))
    wide = np.frombuffer(planes_bytes(Y, U, V, 10), "<u2")
    assert wide.size == Y.size + U.size + V.size and np.array_equal(wide[:24] >> 2, Y[0].ravel())
    assert np.array_equal((wide.astype(np.int32) + 2) >> 2, np.frombuffer(planes_bytes(Y, U, V), np.uint8))
    # H.266 NAL headers: type in the top 5 bits of the second byte (IDR_N_LP 8, CRA 9, TRAIL 0, SPS 15)
    stream = b"".join(b"\x00\x00\x01" + bytes([0, t << 3 | 1]) + b"\xaa" for t in (15, 8, 0, 0, 9, 1))
    assert vvc_irap_count(stream) == 2
    log = "[Parsed_showinfo_0 @ 0x1] n:   0 pts: 0 iskey:1 type:I\n[x] n:   1 pts: 1 iskey:0 type:B\n" \
          "[x] n:  12 pts: 3 iskey:0 type:I\n"
    assert intra_frames(log) == [0, 12]


def test_several_anchors_in_the_run_and_in_compare(tmp_path, capsys):
    from nvbench.cli import main
    from nvbench.expand import add_companion_jobs

    jobs = expand(RunRequest(methods=["x264"], tasks=["compression"], preset="smoke",
                             settings={"anchor": "x265,vvenc"}))
    assert [j.method for j in add_companion_jobs(jobs, Store(tmp_path / "empty"))] == ["x265", "vvenc", "x264"]
    store = Store(tmp_path / "s")
    for i, (m, f) in enumerate((("x265", 1.0), ("vvenc", 0.5), ("hnerv", 2.0))):
        recs = [{"method": m, "task": "compression", "status": "ok", "bpp": f * r, "psnr": q, "dataset": "d",
                 "sequence": "s", "preset": "cpu", "height": 8, "width": 8, "frames": 2}
                for r, q in [(0.1, 30), (0.2, 33), (0.4, 36), (0.8, 39)]]
        store.write(f"k{i}", {"records": recs})
    assert main(["compare", "--results", str(tmp_path / "s"), "--anchor", "x265,vvenc", "--no-points"]) == 0
    out = capsys.readouterr().out
    assert "against x265" in out and "against vvenc" in out
    assert "-50.00" in out and "100.00" in out  # vvenc vs x265; hnerv vs vvenc: four times the bits


def test_report_conditions_block_lists_the_coding_conditions():
    """The committed leaderboard's codec jobs: the report states every codec's conditions."""
    from pathlib import Path

    from nvbench.report.build import conditions
    from nvbench.report.data import load_report_data

    rows = dict(conditions(load_report_data(Path(__file__).resolve().parents[1] / "reports" / "leaderboard")))
    text = rows["codec coding conditions"]
    for piece in ("libvvenc", "intra period 32", "libaom-av1", "cpu-used 4", "libx265", "1 thread"):
        assert piece in text, (piece, text)
    assert rows["codec ffmpeg build"].startswith("ffmpeg version")


def test_x264_simd_level_is_a_recorded_condition(tmp_path):
    """`simd` pins x264's SIMD level (its frames depend on it), so another machine with that level
    gives the same bytes; the default leaves x264's detection alone (the committed keys)."""
    o = X264Method.resolve_options({"simd": "avx2"})
    assert X264Method.encoder_args(33, o)[-2:] == ["-x264-params", "asm=MMX2,SSE2Fast,SSSE3,SSE4.2,AVX,FMA3,BMI2,AVX2"]
    assert "-x264-params" not in X264Method.encoder_args(33, X264Method.resolve_options({}))
    c = X264Method.coding_conditions(33, {"simd": "avx2"})
    assert c["encoder_simd"] == "limited to avx2" and c["coding_conditions"].endswith("SIMD limited to avx2")
    with pytest.raises(OptionError, match="simd"):
        X264Method.resolve_options({"simd": "avx9"})
    if "libx264" not in ffmpeg_encoders():
        pytest.skip("no libx264")
    v = smooth_video(6, 48, 96).frames
    runs = []
    for i in (1, 2):
        (tmp_path / str(i)).mkdir()
        runs.append(X264Method.encode(v, 30, tmp_path / str(i), {"simd": "sse2"}).read_bytes())
    assert runs[0] == runs[1]


def test_run_anchor_flag_adds_anchors_outside_the_job_key(tmp_path, capsys):
    """`nvbench run --anchor vvenc`: the anchor's job is added and the summary has its BD table, while
    the requested job keeps the key it has without the flag (x265, the option's default, stays)."""
    from nvbench.cli import main

    _need(VVenCMethod)
    settings = {"vmaf": "false", "lpips": "false"}
    key = expand(RunRequest(methods=["x264"], tasks=["compression"], preset="smoke", settings=settings))[0].key
    argv = ["run", "-m", "x264", "-t", "compression", "--preset", "smoke", "--anchor", "vvenc", "--quiet",
            "--threads", "1", "--results", str(tmp_path), "--set", "vmaf=false", "--set", "lpips=false"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "against x265" in out and "against vvenc" in out
    methods = {p["job"]["method"]: k for k, p in ((f.stem, __import__("json").loads(f.read_text()))
                                                   for f in (tmp_path / "jobs").glob("*.json"))}
    assert set(methods) == {"x264", "x265", "vvenc"} and methods["x264"] == key
    assert main(["run", "-m", "x264", "-t", "compression", "--anchor", "vvenx", "--dry-run"]) == 2
