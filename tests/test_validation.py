"""Every bad value is refused where it enters (CLI, --config, --set): exit code 2, one line naming
the option, the value and what is allowed, no traceback, nothing written to the store."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from nvbench import registry
from nvbench.cli import main
from nvbench.options import OptionError, check_option, undeclared

SMOKE = ["--preset", "smoke", "--dry-run"]


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*")} if root.exists() else {}


def _refused(capsys, argv: list[str], *expect: str) -> str:
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own errors (e.g. --epochs abc)
        rc = exc.code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (rc, out, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err + out
    for word in expect:
        assert word in lines[0], (word, lines[0])
    return lines[0]


BAD_RUN = [
    (["-m", "hnerv", "--resolution", "0x0"], ["--resolution", "0x0", "HEIGHTxWIDTH"]),
    (["-m", "hnerv", "--seed", "abc"], ["--seed", "abc"]),
    (["-m", "hnerv", "--seed", "-1"], ["--seed", "-1", "0.."]),
    (["-m", "hnerv", "--set", "reduce=0"], ["reduce='0'", ">= 1.0"]),
    (["-m", "hnerv", "--set", "reduce=-1"], ["reduce='-1'"]),
    (["-m", "hnerv", "--set", "reduce=inf"], ["reduce='inf'", "finite"]),
    (["-m", "hnerv", "--set", "reduce=nan"], ["reduce='nan'", "finite"]),
    (["-m", "hnerv", "--set", "embed_hw=0,0"], ["embed_hw='0,0'", ">= 1"]),
    (["-m", "hnerv", "--set", "strides=1,2,3"], ["hnerv", "strides", "do not multiply"]),
    (["-m", "hnerv", "--threads=-2"], ["--threads", "-2", ">= 1"]),
    (["-m", "hnerv", "--threads", "0"], ["--threads", "0"]),
    (["-m", "hnerv", "--device", "nonsense"], ["--device", "nonsense", "cpu, cuda"]),
    (["-m", "hnerv", "--epochs", "0"], ["--epochs", "0", ">= 1"]),
    (["-m", "hnerv", "--epochs", "-1"], ["--epochs", "-1"]),
    (["-m", "hnerv", "--frames", "0"], ["--frames", "0"]),
    (["-m", "hnerv", "--frames", "-3"], ["--frames", "-3"]),
    (["-m", "hnerv", "--crop", "weird"], ["--crop", "weird", "paper, full"]),
    (["-m", "hnerv", "--budget-seconds", "0"], ["--budget-seconds"]),
    (["-m", "hnerv", "--budget-seconds", "-5"], ["--budget-seconds"]),
    (["-m", "hnerv", "--budget-seconds", "nan"], ["--budget-seconds", "nan"]),
    (["-m", "hnerv", "--jobs", "0"], ["--jobs", "0"]),
    (["-m", "hnerv", "--jobs", "-1"], ["--jobs", "-1"]),
    (["-m", "hnerv", "--retry-diverged", "-1"], ["--retry-diverged", "-1", ">= 0"]),
    (["-m", "hnerv", "--epochs", "abc"], ["--epochs", "abc"]),  # argparse's own error, on one line
    (["-m", "hnerv", "-t", "compression", "--set", "bits=0"], ["bits='0'", "1..16"]),
    (["-m", "hnerv", "-t", "compression", "--set", "bits=33"], ["bits='33'", "1..16"]),
    (["-m", "hnerv", "-t", "compression", "--set", "prune=1.5"], ["prune='1.5'"]),
    (["-m", "hnerv", "-t", "compression", "--set", "prune=-0.1"], ["prune='-0.1'"]),
    (["-m", "x264", "-t", "compression", "--set", "crfs=abc"], ["x264", "crfs='abc'", "0..51"]),
    (["-m", "x264", "-t", "compression", "--set", "crfs=99"], ["crfs='99'", "0..51"]),
    (["-m", "x264", "-t", "compression", "--set", "preset=quick"], ["preset='quick'", "medium"]),
    (["-m", "hnerv", "--size", "1000000000000"], ["--size 1000000000000", "needs at least", "GB"]),
    (["-m", "x264", "-t", "compression", "--resolution", "1000000x2000000"], ["--resolution 1000000x2000000",
                                                                             "needs at least"]),
]


@pytest.mark.parametrize("argv,expect", BAD_RUN, ids=[" ".join(a[2:]) for a, _ in BAD_RUN])
def test_bad_run_values_refused_in_one_line(capsys, tmp_path, argv, expect):
    store = tmp_path / "results"
    _refused(capsys, ["run", *argv, *SMOKE, "--results", str(store)], *expect)
    assert not store.exists()  # before any work: not even the store folder


def test_bad_values_refused_without_dry_run_too(capsys, tmp_path):
    store = tmp_path / "results"
    store.mkdir()
    (store / "keep.txt").write_text("x")
    before = _snapshot(store)
    _refused(capsys, ["run", "-m", "hnerv", "--preset", "smoke", "--epochs", "0", "--results", str(store)], "--epochs")
    assert _snapshot(store) == before


def test_cuda_without_cuda_names_what_is_available(capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = _refused(capsys, ["run", "-m", "hnerv", "--device", "cuda", *SMOKE], "--device cuda", "CUDA",
                    "available: cpu")
    assert "Traceback" not in line


def test_memory_refusal_is_from_the_plan_not_a_cap(capsys, monkeypatch):
    """The same size passes when the machine reports enough memory: no fixed cap."""
    from nvbench import checks

    monkeypatch.setattr(checks, "available_memory", lambda device: (10**15, "lots"))
    assert main(["run", "-m", "hnerv", "--size", "1000000000000", *SMOKE]) == 0
    monkeypatch.setattr(checks, "available_memory", lambda device: (10**5, "this machine has 0.0 GB available"))
    _refused(capsys, ["run", "-m", "hnerv", *SMOKE], "needs at least", "0.0 GB available")


def test_estimate_counts_parameters_optimiser_and_a_batch():
    from nvbench.checks import memory_estimate

    assert memory_estimate(1000, 2, 8, 40, 80) == 1000 * 16 + 2 * 40 * 80 * 3 * 4 * 3 + 8 * 40 * 80 * 3


# ------------------------------------------------------------------------- list options


def _keys(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    return [line.split()[0] for line in out.splitlines() if "/" in line]


def test_crfs_sweep_exactly_the_given_values_cli_and_toml(capsys, tmp_path):
    x264 = registry.methods.get("x264")
    opts = x264.resolve_options({"crfs": "51,40"})
    assert x264.qualities("smoke", opts) == [51, 40]
    assert x264.qualities("smoke", x264.resolve_options({"crfs": [51, 40]})) == [51, 40]
    cli = _keys(capsys, ["run", "-m", "x264", "-t", "compression", "--set", "crfs=51,40", *SMOKE])
    cfg = tmp_path / "bench.toml"
    cfg.write_text('method = "x264"\ntask = "compression"\npreset = "smoke"\nset = { crfs = [51, 40] }\n')
    toml = _keys(capsys, ["run", "--config", str(cfg), "--dry-run"])
    assert cli == toml and len(cli) == 1


def test_toml_list_reaches_the_method_as_a_list(tmp_path):
    import argparse

    from nvbench.runconfig import apply_config

    cfg = tmp_path / "bench.toml"
    cfg.write_text('method = "x264"\nset = { crfs = [23, 28, 33], keyint = 12 }\n')
    parser = argparse.ArgumentParser()
    parser.add_argument("--method")
    parser.add_argument("--set", action="append", default=[])
    args = apply_config(parser.parse_args([]), parser, cfg, [])
    assert args.set == ["crfs=23,28,33", "keyint=12"]
    x264 = registry.methods.get("x264")
    assert x264.qualities("cpu", x264.resolve_options(dict(s.split("=") for s in args.set))) == [23, 28, 33]


def test_hnerv_strides_list_option_plans():
    hnerv = registry.methods.get("hnerv")
    cfg = hnerv.plan(8, 40, 80, 24000, {"strides": "5,2,2,1,1"})
    assert cfg["strides"] == [5, 2, 2, 1, 1]


def test_empty_default_list_option_with_declared_type():
    assert check_option("m", "lambdas", "0.5,2", [], types={"lambdas": float}) == [0.5, 2.0]
    assert check_option("m", "crfs", "", [], types={"crfs": int}) == []
    with pytest.raises(OptionError, match="lambdas='x'"):
        check_option("m", "lambdas", "x", [], types={"lambdas": float})


@pytest.mark.parametrize("value,ok", [("1", True), ("16", True), ("0", False), ("17", False), ("1.5", False),
                                      ("true", False)])
def test_int_range_inclusive(value, ok):
    if ok:
        assert check_option("t", "bits", value, 8, rng=(1, 16)) == int(value)
    else:
        with pytest.raises(OptionError, match="an integer in 1..16"):
            check_option("t", "bits", value, 8, rng=(1, 16))


def test_values_of_the_right_type_are_unchanged():
    """Keys of jobs that were valid before stay the same: typed values are returned as given."""
    assert check_option("m", "reduce", 2, 1.2, rng=(1.0, None)) == 2
    assert type(check_option("m", "reduce", 2, 1.2, rng=(1.0, None))) is int
    assert check_option("m", "bits", [8, 6], [8], rng=(1, 16)) == [8, 6]
    assert check_option("m", "flag", "yes", True) is True


def test_choices_suggest_the_closest():
    with pytest.raises(OptionError, match="did you mean 'shared'"):
        check_option("task compression", "pipeline", "sharde", "own", choices=("own", "shared"))


def test_committed_style_key_unchanged_by_validation(capsys):
    """`--set reduce=1.5` keeps the job key it had before option checks existed (the value is
    stored as given)."""
    from nvbench.expand import RunRequest, expand

    job = expand(RunRequest(methods=["hnerv"], preset="smoke", settings={"reduce": "1.5"}))[0]
    assert job.method_options == {"reduce": "1.5"}


def _builtin_plugins():
    out = []
    for kind in ("method", "task"):
        reg = registry.registry(kind)
        for name in reg.names():
            plugin = reg.plugin(name)
            if plugin.distribution == "?":  # registered at run time by a test, not an installed plugin
                continue
            try:
                out.append((kind, name, plugin.load()))
            except Exception:  # unavailable optional dependency
                continue
    return out


@pytest.mark.parametrize("kind,name,cls", _builtin_plugins(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_is_declared(kind, name, cls):
    """Numbers have a range or choices; list options an item type (empty defaults included)."""
    assert undeclared(cls.options, cls.option_choices, cls.option_ranges, cls.option_types) == []
    for key in list(cls.option_ranges) + list(cls.option_choices) + list(cls.option_types):
        assert key in cls.options, f"{name}: declaration of unknown option {key}"


def test_every_default_passes_its_own_declaration():
    for _, name, cls in _builtin_plugins():
        for key, default in cls.options.items():
            assert check_option(name, key, default, default, cls.option_choices.get(key),
                                cls.option_ranges.get(key), cls.option_types) == default


# ------------------------------------------------------------------------- paths


def test_results_under_a_file_or_a_file(capsys, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    _refused(capsys, ["run", "-m", "hnerv", *SMOKE, "--results", str(f)], "--results", "is a file")
    _refused(capsys, ["run", "-m", "hnerv", "--preset", "smoke", "--results", str(f / "store")], "--results",
             "is a file")
    assert f.read_text() == "x"


def _erofs_under(monkeypatch, root: Path):
    real = os.open

    def fake(path, *a, **k):
        if str(path).startswith(str(root)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(os, "open", fake)


def test_results_on_a_read_only_mount(capsys, tmp_path, monkeypatch):
    store = tmp_path / "results"
    store.mkdir()
    _erofs_under(monkeypatch, store)
    _refused(capsys, ["run", "-m", "hnerv", "--preset", "smoke", "--results", str(store)], "--results",
             "Read-only file system")
    assert _snapshot(store) == {}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a chmod'd folder")
def test_results_in_a_chmod_read_only_folder(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _refused(capsys, ["run", "-m", "hnerv", *SMOKE, "--results", str(ro / "store")], "not writable")
    finally:
        ro.chmod(0o755)


def test_report_checks(capsys, tmp_path, monkeypatch):
    f = tmp_path / "afile"
    f.write_text("x")
    _refused(capsys, ["report", "--results", str(tmp_path / "missing")], "--results", "no such folder")
    assert not (tmp_path / "missing").exists()
    store = tmp_path / "store"
    store.mkdir()
    _refused(capsys, ["report", "--results", str(store), "-o", str(f / "x" / "index.html")], "--out", "is a file")
    out = tmp_path / "ro"
    out.mkdir()
    _erofs_under(monkeypatch, out)
    _refused(capsys, ["report", "--results", str(store), "-o", str(out / "index.html")], "--out", "Read-only")


def test_decode_checks(capsys, tmp_path, monkeypatch):
    _refused(capsys, ["decode", str(tmp_path / "missing.nvb"), "-o", str(tmp_path / "out")], "no such file")
    _refused(capsys, ["decode", str(tmp_path), "-o", str(tmp_path / "out")], "is a folder")
    nvb = tmp_path / "x.nvb"
    nvb.write_bytes(b"NVB")
    _refused(capsys, ["decode", str(nvb), "-o", str(tmp_path / "out"), "--threads=-1"], "--threads", "-1")
    _refused(capsys, ["decode", str(nvb), "-o", str(nvb / "out")], "--output", "is a file")
    ro = tmp_path / "ro"
    ro.mkdir()
    _erofs_under(monkeypatch, ro)
    _refused(capsys, ["decode", str(nvb), "-o", str(ro)], "--output", "Read-only")


def test_list_options_shows_each_declaration(capsys):
    assert main(["list", "--options"]) == 0
    out = capsys.readouterr().out
    assert "--set reduce=1.2  (a finite number >= 1.0)" in out
    assert "--set crfs=  (a comma-separated list, each an integer in 0..51)" in out
    assert "--set coder=range  (one of range, huffman)" in out


@pytest.mark.parametrize("text,expect", [
    ('method = "hnerv"\npreset = "smoke"\nepochs = 0\n', ["--epochs", "0"]),
    ('method = "hnerv"\npreset = "smoke"\nepochs = true\n', ["--epochs"]),
    ('method = "hnerv"\npreset = "smoke"\nepochs = "abc"\n', ["epochs", "abc"]),
    ('method = "hnerv"\npreset = "smoke"\nset = { reduce = "nan" }\n', ["reduce='nan'"]),
    ('method = "x264"\ntask = "compression"\npreset = "smoke"\nset = { crfs = [23, 99] }\n', ["crfs='23,99'", "0..51"]),
    ('method = "hnerv"\npreset = "smoke"\njobs = -1\n', ["--jobs", "-1"]),
])
def test_bad_values_in_a_config_file(capsys, tmp_path, text, expect):
    cfg = tmp_path / "bench.toml"
    cfg.write_text(text)
    _refused(capsys, ["run", "--config", str(cfg), "--dry-run", "--results", str(tmp_path / "r")], *expect)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("via", ["cli", "toml"])
def test_x264_run_sweeps_exactly_the_given_crfs(tmp_path, capsys, via):
    """The README's example, really run: every point is one of the given CRFs, nothing else."""
    import json

    store = tmp_path / "results"
    common = ["--preset", "smoke", "--threads", "1", "-q", "--results", str(store)]
    off = {"anchor": "", "vmaf": "false", "lpips": "false"}
    if via == "cli":
        argv = ["run", "-m", "x264", "-t", "compression", "--set", "crfs=51,40",
                *[f for k, v in off.items() for f in ("--set", f"{k}={v}")], *common]
    else:
        cfg = tmp_path / "bench.toml"
        cfg.write_text('method = "x264"\ntask = "compression"\n'
                       'set = { crfs = [51, 40], anchor = "", vmaf = false, lpips = false }\n')
        argv = ["run", "--config", str(cfg), *common]
    assert main(argv) == 0
    (path,) = (store / "jobs").glob("*.json")
    records = json.loads(path.read_text())["records"]
    assert [r["quality"] for r in records] == [51, 40]
    assert all(r["status"] == "ok" for r in records)
