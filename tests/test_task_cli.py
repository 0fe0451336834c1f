"""The three tasks through `nvbench run`: a table per task, one DataFrame, options routed."""

from __future__ import annotations

from _task_fixtures import register

from nvbench.cli import main
from nvbench.results import load


def test_run_prints_a_table_per_task_and_records_load_together(tmp_path, capsys):
    register()
    res = tmp_path / "res"
    code = main(["run", "-m", "hnerv,nerv,neighbour-average,masked-input", "-t", "convergence,interpolation,inpainting",
                 "-d", "tiny-smooth", "--preset", "smoke", "--frames", "4", "--results", str(res), "-q",
                 "--set", "mask=central"])
    out = capsys.readouterr().out
    assert code == 0
    for task in ("convergence", "interpolation", "inpainting"):
        assert f"== {task} ==" in out
    assert "PSNR masked" in out and "interp-embed" in out and "budget s" in out
    assert "masked-input/convergence: not applicable: masked-input has none of the capabilities" in out
    df = load(res)
    assert set(df["task"]) == {"convergence", "interpolation", "inpainting"}
    ok = df[df.status == "ok"]
    assert set(zip(ok.method, ok.task)) == {
        ("hnerv", "convergence"), ("hnerv", "interpolation"), ("hnerv", "inpainting"),
        ("nerv", "convergence"), ("nerv", "interpolation"), ("nerv", "inpainting"),
        ("neighbour-average", "interpolation"), ("masked-input", "inpainting")}
    held = df[(df.split == "held-out") & (df.status == "ok")]
    assert set(zip(held.method, held.variant)) == {
        ("hnerv", "interp-embed"), ("hnerv", "encode-frame"), ("nerv", "index"), ("neighbour-average", "")}
    assert set(df[df.method == "nerv"]["index_normalisation"].dropna()) == {"i/N"}
    assert (df[df.task == "inpainting"].dropna(subset=["mask"])["mask"] == "central").all()
    assert sorted(df[(df.method == "hnerv") & (df.task == "convergence")]["epoch"]) == [1, 2]
    na = df[df.status == "not_applicable"]
    assert len(na) == 4 and na["reason"].str.contains("capabilities").all()


def test_unknown_or_bad_task_option_is_one_line(tmp_path, capsys):
    register()
    args = ["run", "-m", "masked-input", "-t", "inpainting", "-d", "tiny-smooth", "--preset", "smoke",
            "--results", str(tmp_path), "-q"]
    assert main(args + ["--set", "mask=objekt"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "did you mean 'object'" in err
    assert main(args + ["--set", "masks=central"]) == 2
    assert "unknown option" in capsys.readouterr().err
