"""The metric catalogue: one entry makes a new metric show in the CLI tables, `nvbench compare` and the
report with its header and digits; plugins declare theirs; the built-in tables are unchanged; one
DEFAULT_ANCHOR."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tests_report_store import _rec, _write

from nvbench import registry, table
from nvbench.cli import main
from nvbench.methods import CODEC, MethodPlugin
from nvbench.rd import bd_rows
from nvbench.records import catalogue
from nvbench.records.catalogue import DEFAULT_ANCHOR, Metric, register_metric
from nvbench.report import aggregate as agg

#: a metric nvbench does not know: its name does not start with psnr_, so no fallback can show it
WPSNR = Metric("wpsnr", "WPSNR", 3, "higher", "dB", "weighted PSNR (test)", board=True, quality=True,
               tables=("compression", "reconstruction"))
#: the same, declared by a method plugin instead of registered by hand
PLUGIN_METRIC = Metric("plugin_q", "plugin-Q", 1, "higher", "", "a plugin's own quality (test)", board=True,
                       quality=True, tables=("compression",))


class WpsnrCodec(MethodPlugin):
    """A codec plugin that declares a metric of its own (only its records are used here)."""

    name = "wpsnr-codec"
    capabilities = frozenset({CODEC})
    metrics = (PLUGIN_METRIC,)


@pytest.fixture
def fresh_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics registered by a test stay in the test."""
    monkeypatch.setattr(catalogue, "_METRICS", dict(catalogue._METRICS))


def _records(field: str = "wpsnr") -> list[dict]:
    """x265 and m on one sequence: m needs 0.8x the rate of x265 at equal `field`, while its RGB PSNR
    curve equals x265's at the same rate (BD-rate 0 on psnr, -20 % on `field`)."""
    out = []
    for i, (rate, q) in enumerate([(0.1, 30.0), (0.2, 33.0), (0.4, 36.0), (0.8, 39.0)]):
        out.append(_rec("x265", "compression", 1, variant=f"q{i}", bpp=rate, psnr=q, size_target=None,
                        **{field: q + 0.12345}))
        out.append(_rec("m", "compression", 1, variant=f"b{i}", bpp=0.8 * rate, psnr=30.0 + 3.0 * i - 1.0,
                        **{field: q + 0.12345}))
    out.append(_rec("m", "reconstruction", 1, psnr=30.0, params=1000, **{field: 31.98765}))
    return out


def _store(root: Path, records: list[dict]) -> Path:
    for i, r in enumerate(records):
        _write(root, f"job-{i}", [r])
    return root


def _header_cells(text: str, title: str) -> list[str]:
    """The header line of the CLI table `== title ==` split into its column headers."""
    lines = text.splitlines()
    head = lines[lines.index(f"== {title} ==") + 1]
    return [c.strip() for c in head.split("  ") if c.strip()]


def test_a_new_metric_is_one_catalogue_entry(fresh_catalogue: None, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    recs = _records()
    root = _store(tmp_path / "store", recs)
    # without the entry nothing shows it
    assert "WPSNR" not in table.render_by_task(recs)
    assert "wpsnr" not in [c[0] for c in agg.metric_columns(recs)]
    assert main(["compare", "--results", str(root), "--metric", "wpsnr"]) == 2
    assert "--metric wpsnr: expected one of" in capsys.readouterr().err

    register_metric(WPSNR)
    # CLI tables: the catalogue's header, 3 digits; before the status column of the default columns
    text = table.render_by_task(recs)
    assert "WPSNR" in _header_cells(text, "compression")
    assert _header_cells(text, "reconstruction")[-2:] == ["WPSNR", "status"]
    assert "30.123" in text and "31.988" in text and "30.12 " not in text
    # nvbench compare: the points table shows it and it is a quality axis for BD-rate
    assert main(["compare", "--results", str(root), "--metric", "wpsnr", "--anchor", "x265"]) == 0
    out = capsys.readouterr().out
    assert "WPSNR" in out.splitlines()[0] and "39.123" in out
    assert "against x265 on wpsnr" in out
    bd = {r["method"]: r for r in bd_rows(recs, "x265", "wpsnr")}
    assert bd["m"]["bd_rate"] == pytest.approx(-20.0, abs=1e-6)
    assert "-20.00" in out
    assert {r["method"]: r for r in bd_rows(recs, "x265")}["m"]["bd_rate"] != pytest.approx(-20.0, abs=0.5)
    # the report: a leaderboard column with the catalogue's header, direction and digits
    assert ("wpsnr", "WPSNR", agg.UP, 3) in agg.metric_columns(recs)
    board = next(b for b in agg.leaderboards(recs) if b.task == "reconstruction")
    assert ("wpsnr", "WPSNR", agg.UP, 3) in board.columns
    assert board.rows[0].cells["wpsnr"].mean == pytest.approx(31.98765)
    from nvbench.report.build import build_context
    from nvbench.report.text import render_text

    page = render_text(build_context(root, tmp_path, with_plots=False))
    assert "WPSNR ↑" in page and "31.988" in page


def test_a_plugin_declares_its_metrics(fresh_catalogue: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(registry.methods, "_plugins", dict(registry.methods._scan()))
    registry.methods.register("wpsnr-codec", "tests.test_metric_catalogue:WpsnrCodec")
    recs = [r | {"method": "wpsnr-codec"} if r["method"] == "m" else r for r in _records("plugin_q")]
    root = _store(tmp_path / "store", recs)
    assert catalogue.metric("plugin_q") is None
    # compare reads the store alone: loading the stored methods registers what they declare
    assert main(["compare", "--results", str(root), "--metric", "plugin_q"]) == 0
    out = capsys.readouterr().out
    assert catalogue.metric("plugin_q") == PLUGIN_METRIC
    assert "plugin-Q" in out.splitlines()[0] and "-20.00" in out
    assert ("plugin_q", "plugin-Q", agg.UP, 1) in agg.metric_columns(recs)


def test_register_metric_rules(fresh_catalogue: None) -> None:
    assert register_metric(WPSNR) is WPSNR
    register_metric(Metric(**{**WPSNR.__dict__}))  # the same entry again: a no-op
    other = Metric("wpsnr", "wPSNR", 2, "higher")
    with pytest.raises(ValueError, match="already registered"):
        register_metric(other)
    register_metric(other, replace=True)
    assert catalogue.metric("wpsnr").header == "wPSNR"
    with pytest.raises(ValueError, match="better"):
        Metric("x", "x", 2, "up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quality axis"):
        Metric("x", "x", 2, "lower", quality=True)
    # a plugin declaring a metric that clashes with a built-in fails to load, with the reason
    with pytest.raises(ValueError, match="'psnr' is already registered"):
        catalogue.register_declared(type("Clash", (), {"metrics": (Metric("psnr", "P", 1, "higher"),)}))


def test_builtin_tables_are_the_ones_before_the_catalogue() -> None:
    """The headers and digits the CLI printed before the catalogue existed (the committed
    leaderboard's tables print the same text)."""
    assert table.task_columns("compression") == [
        ("method", "method", 0), ("variant", "point", 0), ("size_target", "size", 0), ("bpp", "bpp", 4),
        ("psnr", "PSNR", 2), ("psnr_y", "PSNR-Y", 2), ("psnr_yuv", "PSNR-YUV", 2), ("ms_ssim", "MS-SSIM", 4),
        ("vmaf", "VMAF", 2), ("file_bytes", "bytes", 0), ("coder", "coder", 0), ("encode_seconds", "enc s", 2),
        ("decode_seconds", "dec s", 2), ("decode_fps", "dec fps", 1)]
    assert table.task_columns("reconstruction") == [
        ("method", "method", 0), ("variant", "variant", 0), ("task", "task", 0), ("split", "split", 0),
        ("size_target", "size", 0), ("params", "params", 0), ("ppp", "ppp", 4), ("epoch", "epoch", 0),
        ("psnr", "PSNR", 2), ("ms_ssim", "MS-SSIM", 4), ("bpp", "bpp", 4), ("train_seconds", "train s", 1),
        ("decode_fps", "decode fps", 1), ("status", "status", 0)]
    assert table.task_columns("convergence") == [
        ("method", "method", 0), ("size_target", "size", 0), ("params", "params", 0), ("epoch", "epoch", 0),
        ("train_seconds", "train s", 1), ("budget_seconds", "budget s", 0), ("psnr", "PSNR", 2),
        ("psnr_float", "PSNR float", 2), ("ms_ssim", "MS-SSIM", 4), ("status", "status", 0)]
    assert table.task_columns("inpainting") == [
        ("method", "method", 0), ("mask", "mask", 0), ("mask_side_px", "box px", 0), ("mask_fraction", "masked", 4),
        ("size_target", "size", 0), ("params", "params", 0), ("epoch", "epoch", 0), ("psnr", "PSNR", 2),
        ("psnr_masked", "PSNR masked", 2), ("psnr_raw", "PSNR raw", 2), ("ms_ssim", "MS-SSIM", 4),
        ("status", "status", 0)]
    assert table.task_columns("interpolation") == [
        ("method", "method", 0), ("variant", "variant", 0), ("split", "split", 0), ("size_target", "size", 0),
        ("params", "params", 0), ("epoch", "epoch", 0), ("frames_evaluated", "frames", 0), ("psnr", "PSNR", 2),
        ("psnr_float", "PSNR float", 2), ("ms_ssim", "MS-SSIM", 4), ("index_normalisation", "index t", 0),
        ("status", "status", 0)]
    everything = [{k: 1.5 for k in ("psnr", "psnr_float", "psnr_pooled", "psnr_masked", "psnr_raw", "psnr_y",
                                    "psnr_yuv", "ms_ssim", "lpips", "vmaf", "params", "bpp", "train_seconds",
                                    "decode_fps", "macs_per_pixel", "psnr_u", "psnr_ceiling_yuv420")}]
    up, down, none = agg.UP, agg.DOWN, agg.NONE
    assert agg.metric_columns(everything) == [
        ("psnr", "PSNR dB", up, 2), ("psnr_float", "PSNR float", up, 2), ("psnr_pooled", "PSNR pooled", up, 2),
        ("psnr_masked", "PSNR masked", up, 2), ("psnr_raw", "PSNR raw", up, 2), ("psnr_y", "PSNR y", up, 2),
        ("psnr_yuv", "PSNR yuv", up, 2), ("ms_ssim", "MS-SSIM", up, 4), ("lpips", "LPIPS", down, 4),
        ("vmaf", "VMAF", up, 2), ("params", "params", none, 0), ("bpp", "bpp", down, 4),
        ("train_seconds", "train s", down, 1), ("decode_fps", "decode fps", up, 1)]


def test_psnr_columns_follow_psnr_whatever_else_is_present() -> None:
    """The old rule put the other psnr_* columns at index 3, i.e. after MS-SSIM and VMAF when a
    store had no psnr_float/psnr_pooled; now they follow the PSNR columns, and one the catalogue
    lacks still gets a column, named from its field."""
    recs = [{"psnr": 30.0, "ms_ssim": 0.9, "vmaf": 80.0, "psnr_y": 31.0, "bpp": 0.1, "psnr_foo_bar": 29.0}]
    assert [c[0] for c in agg.metric_columns(recs)] == ["psnr", "psnr_y", "psnr_foo_bar", "ms_ssim", "vmaf", "bpp"]
    assert ("psnr_foo_bar", "PSNR foo bar", agg.UP, 2) in agg.metric_columns(recs)


def test_one_default_anchor() -> None:
    """The literal "x265" appears in the engine once: DEFAULT_ANCHOR. Every default reads it."""
    root = Path(catalogue.__file__).parents[1]
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "x265":
                found.append(path.relative_to(root).as_posix())
    assert found == ["records/catalogue.py"]
    from nvbench.report.build import RANK_ANCHORS
    from nvbench.tasks.compression import CompressionTask

    assert CompressionTask.options["anchor"] == DEFAULT_ANCHOR == RANK_ANCHORS[0]
    curves = [agg.Curve(name, "", "d", "s", "p", [0.1, 0.2], [30.0, 31.0], [None, None], codec=True)
              for name in ("aom", "x264", DEFAULT_ANCHOR)]
    assert agg.pick_anchor(curves, None) == DEFAULT_ANCHOR
    assert agg.pick_anchor(curves[:2], None) == "x264"
