"""The metric catalogue: one entry per measured record field, read by every place that shows one.

The CLI tables (`nvbench.table`), `nvbench compare` and the report (leaderboards, ranking) take a
metric's header, digits and better direction from here, so a new metric is one entry (a line in
BUILTIN below, or `register_metric` / a plugin's `metrics` ClassVar) plus the code that computes
it. A method or task plugin declaring `metrics = (Metric(...), ...)` has them registered when the
registry loads its class. Pure Python: importing this never imports torch or pandas.

Also here: DEFAULT_ANCHOR, the codec every BD-rate is measured against unless told otherwise
(the compression task's `anchor` option, `nvbench compare`, `nvbench report`, the ranking).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Better = Literal["higher", "lower"] | None

#: the BD-rate anchor when none is named (x265: the codec every built-in store has)
DEFAULT_ANCHOR = "x265"
#: the BD quality axis when none is named (RGB PSNR on 8-bit frames)
DEFAULT_QUALITY = "psnr"


@dataclass(frozen=True)
class Metric:
    """What a record field measures and how it is shown.

    board: a column of the report's leaderboards (when some record of the board has a number);
    quality: may be the quality axis of BD-rate (`nvbench compare --metric`; higher must be better);
    tables: CLI task tables that show it beyond the task's own `table_columns` (when some row has
    a value; "*" = every task), so a plugin's metric reaches the terminal without editing a task.
    """

    name: str  # the record field
    header: str  # CLI tables and `nvbench compare`
    digits: int
    better: Better
    unit: str = ""
    description: str = ""
    report_header: str = ""  # the report's leaderboard header where it differs from `header`
    board: bool = False
    quality: bool = False
    tables: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower", None):
            raise ValueError(f"metric {self.name}: better must be 'higher', 'lower' or None, not {self.better!r}")
        if self.quality and self.better != "higher":
            raise ValueError(f"metric {self.name}: a BD quality axis must be better when higher")
        if not isinstance(self.digits, int) or self.digits < 0:
            raise ValueError(f"metric {self.name}: digits must be an int >= 0, not {self.digits!r}")

    @property
    def label(self) -> str:
        """The header the report shows."""
        return self.report_header or self.header


def _m(name: str, header: str, digits: int, better: Better, unit: str, description: str, **kw: Any) -> Metric:
    return Metric(name, header, digits, better, unit, description, **kw)


#: the built-in metrics, in the report's column order
BUILTIN: tuple[Metric, ...] = (
    _m("psnr", "PSNR", 2, "higher", "dB", "RGB PSNR of the output rounded to 8 bits, mean over frames",
       report_header="PSNR dB", board=True, quality=True),
    _m("psnr_float", "PSNR float", 2, "higher", "dB", "RGB PSNR of the unrounded output (clamped to [0, 1])",
       board=True),
    _m("psnr_pooled", "PSNR pooled", 2, "higher", "dB", "RGB PSNR of the MSE pooled over all values of all frames",
       board=True, quality=True),
    _m("psnr_masked", "PSNR masked", 2, "higher", "dB", "inpainting: PSNR inside the masked region", board=True),
    _m("psnr_raw", "PSNR raw", 2, "higher", "dB", "inpainting: PSNR of the raw output over the full frame", board=True),
    _m("psnr_y", "PSNR-Y", 2, "higher", "dB", "PSNR of the luma plane of BT.709 limited-range 4:2:0",
       report_header="PSNR y", board=True, quality=True),
    _m("psnr_yuv", "PSNR-YUV", 2, "higher", "dB", "(6 PSNR-Y + PSNR-U + PSNR-V) / 8 of the 4:2:0 planes",
       report_header="PSNR yuv", board=True, quality=True),
    _m("ms_ssim", "MS-SSIM", 4, "higher", "", "MS-SSIM of the rounded RGB output, mean over frames",
       board=True, quality=True),
    _m("lpips", "LPIPS", 4, "lower", "", "LPIPS (AlexNet) distance", board=True),
    _m("vmaf", "VMAF", 2, "higher", "", "VMAF (libvmaf's default model)", board=True, quality=True),
    _m("params", "params", 0, None, "", "stored parameters of the model", board=True),
    _m("bpp", "bpp", 4, "lower", "bit/pixel", "file bits / (frames x height x width)", board=True),
    _m("train_seconds", "train s", 1, "lower", "s", "training wall-clock", board=True),
    _m("decode_fps", "decode fps", 1, "higher", "frame/s", "frames decoded per second", board=True),
    _m("ppp", "ppp", 4, None, "param/pixel", "parameters per pixel of the video"),
    _m("file_bytes", "bytes", 0, "lower", "B", "size of the file that is decoded and scored"),
    _m("encode_seconds", "enc s", 2, "lower", "s", "encoding wall-clock of one RD point"),
    _m("decode_seconds", "dec s", 2, "lower", "s", "decoding wall-clock of one RD point"),
    _m("macs_per_pixel", "MACs / pixel", 0, "lower", "MAC/pixel",
       "decoder multiply-accumulates per output pixel, one frame decoded alone"),
)

_METRICS: dict[str, Metric] = {m.name: m for m in BUILTIN}


def register_metric(metric: Metric, *, replace: bool = False) -> Metric:
    """Add a metric (plugins: declare `metrics = (Metric(...),)` on the class instead). The same
    entry twice is a no-op; another definition under a taken name raises unless `replace`."""
    if not isinstance(metric, Metric):
        raise TypeError(f"register_metric takes a Metric, not {type(metric).__name__}")
    old = _METRICS.get(metric.name)
    if old is not None and old != metric and not replace:
        raise ValueError(f"metric {metric.name!r} is already registered as {old}; pass replace=True to change it")
    _METRICS[metric.name] = metric
    return metric


def register_declared(obj: Any) -> None:
    """Register the `metrics` a plugin class declares (called by the registry when it loads one)."""
    for m in getattr(obj, "metrics", None) or ():
        register_metric(m)


def metric(name: str) -> Metric | None:
    """The catalogue entry of a record field, None when it is not a registered metric."""
    return _METRICS.get(name)


def axis_label(name: str) -> str:
    """A figure axis for a record field: the metric's header and its unit, e.g. "PSNR (dB)"."""
    m = _METRICS.get(name)
    if m is None:
        return name
    return f"{m.header} ({m.unit})" if m.unit else m.header


def metrics() -> list[Metric]:
    """Every registered metric: the built-ins in their order, then registered ones."""
    return list(_METRICS.values())


def board_metrics() -> list[Metric]:
    return [m for m in _METRICS.values() if m.board]


def quality_metrics() -> list[str]:
    """Names that may be the BD quality axis (`nvbench compare --metric`)."""
    return [m.name for m in _METRICS.values() if m.quality]


def table_extras(task: str) -> list[Metric]:
    """Metrics that ask to be shown in the CLI table of `task` (see Metric.tables)."""
    return [m for m in _METRICS.values() if task in m.tables or "*" in m.tables]


def load_plugin_metrics(records: Iterable[Mapping[str, Any]]) -> None:
    """Load the method and task plugins the records name, so the metrics they declare are
    registered (a store read alone, as by `nvbench compare`). Unavailable plugins are skipped."""
    from nvbench import registry

    recs = list(records)
    for kind in ("method", "task"):
        for name in sorted({str(r.get(kind)) for r in recs if r.get(kind)}):
            try:
                registry.registry(kind).get(name)
            except Exception:  # a plugin this install lacks or cannot load: its records still show
                continue
