"""Assembling the report: store -> aggregates -> plots -> one self-contained HTML file.

`build_context` gathers everything the template and the text summary show; `write_html`
renders the Jinja2 template shipped in nvbench/report/templates/. Nothing here trains or
decodes a model: sample frames come from the store's artefacts.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import nvbench
from nvbench.records.catalogue import DEFAULT_ANCHOR, load_plugin_metrics
from nvbench.report import aggregate as agg
from nvbench.report import plots, ranking
from nvbench.report.data import ReportData, load_report_data
from nvbench.report.paper_numbers import PAPER_RD, PAPER_TABLES, REPORTED, table

BPP_METHOD = ("bpp = size in bits of the file written by the method (or the codec's bitstream) / (T·H·W) "
              "of the evaluated frames — no channel factor, everything needed to decode counted")


def codec_methods(names: set[str]) -> set[str]:
    """Methods with the CODEC capability (dashed RD curves); unknown plugins are not codecs."""
    from nvbench import registry
    from nvbench.methods import CODEC

    out = set()
    for n in names:
        try:
            if CODEC in registry.methods.get(n).capabilities:
                out.add(n)
        except Exception:  # a store from another install may name methods this one lacks
            continue
    return out


def method_families(names: set[str]) -> dict[str, str]:
    """method -> neural / codec / anchor, from the capabilities each method declares (the style
    of its line in every figure); unknown plugins count as neural."""
    from nvbench import registry
    from nvbench.methods import ANCHOR, CODEC

    out = {}
    for n in names:
        try:
            caps = registry.methods.get(n).capabilities
        except Exception:  # a store from another install may name methods this one lacks
            caps = frozenset()
        out[n] = "codec" if CODEC in caps else "anchor" if ANCHOR in caps else "neural"
    return out


def own_recipes(names: set[str]) -> dict[str, str]:
    """method -> the name of the recipe it declares (the ranking's default condition)."""
    from nvbench import registry

    out = {}
    for n in names:
        try:
            recipe = registry.methods.get(n).recipe
        except Exception:  # a method this install lacks
            continue
        if getattr(recipe, "name", None):
            out[n] = recipe.name
    return out


#: codecs the ranking measures BD-rate against, when the store has their curves
RANK_ANCHORS = (DEFAULT_ANCHOR, "vvenc", "vvc")


def _distinct(records: list[dict[str, Any]], key: str) -> list[tuple[str, int]]:
    counts: dict[str, int] = defaultdict(int)
    for r in records:
        v = r.get(key)
        if v not in (None, ""):
            counts[str(v)] += 1
    return sorted(counts.items())


def conditions(data: ReportData) -> list[tuple[str, str]]:
    """The conditions every number on the page was measured under (value (count of records))."""
    from nvbench.presets import PRESETS

    recs = data.records
    fmt = lambda items: "; ".join(f"{v} ({n})" for v, n in items) or "—"  # noqa: E731
    presets = [(f"{p}: {PRESETS[p].description}" if p in PRESETS else p, n) for p, n in _distinct(recs, "preset")]
    machine = [((f"{r.get('platform')}, {r.get('cpu_count')} CPUs, device {r.get('device')}"
                 + (f", {r['gpu']}" if r.get("gpu") else "")) if r.get("platform") else "not recorded (older job)", 1)
               for r in recs]
    mcount: dict[str, int] = defaultdict(int)
    for m, n in machine:
        mcount[m] += n
    epochs = sorted({str(j.get("job", {}).get("epochs")) for j in data.jobs.values() if j.get("job")})
    started = sorted(str(j.get("provenance", {}).get("started")) for j in data.jobs.values()
                     if j.get("provenance", {}).get("started"))
    return [
        ("presets", fmt(presets)),
        ("crops (centre, native pixels)", fmt(_distinct(recs, "crop"))),
        ("working resolutions", fmt(_distinct(recs, "resolution"))),
        ("colour conversion", fmt(_distinct(recs, "colour"))),
        ("codec colour path", fmt(_distinct(recs, "colour_conversion"))),
        ("codec coding conditions", fmt(_distinct(recs, "coding_conditions"))),  # encoder, version, GOP, threads
        ("codec ffmpeg build", fmt(_distinct(recs, "ffmpeg_version"))),
        ("epochs", ", ".join(epochs) or "—"),
        ("bpp method", BPP_METHOD + (f"; coders: {fmt(_distinct(recs, 'coder'))}" if _distinct(recs, "coder")
                                     else "")),
        ("machine", fmt(sorted(mcount.items()))),
        ("torch", fmt(_distinct(recs, "torch_version"))),
        ("nvbench", fmt(_distinct(recs, "nvbench_version")) + f" (report written by nvbench {nvbench.__version__})"),
        ("git commit", fmt(_distinct(recs, "git_commit"))),
        ("runs", f"{started[0]} … {started[-1]}" if started else "—"),
    ]


def _bars_from(records: list[dict[str, Any]], task: str) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """(dataset, preset) -> group name -> series -> mean PSNR, for interpolation (series =
    split) and inpainting (series = each PSNR column)."""
    out: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)))
    for r in agg.final_records([r for r in records if r.get("task") == task]):
        name = " ".join(str(x) for x in (r["method"], r.get("variant"), r.get("mask")) if x)
        key = (str(r.get("dataset")), str(r.get("preset")))
        if task == "interpolation":
            if agg.is_number(r.get("psnr")):
                out[key][name][str(r.get("split"))].append(r["psnr"])
        else:
            for k, v in r.items():
                if (k == "psnr" or agg.extra_psnr_column(k)) and agg.is_number(v):
                    out[key][name][k].append(v)
    return {k: {n: {s: agg.mean_std(v)[0] for s, v in ser.items()} for n, ser in g.items()}
            for k, g in out.items()}


def build_context(root: str | Path, out_dir: str | Path, anchor: str | None = None,
                  with_plots: bool = True) -> dict[str, Any]:
    data = load_report_data(root)
    load_plugin_metrics(data.records)  # the metrics the stored methods and tasks declare: leaderboard columns
    fill_macs(data)
    out_dir = Path(out_dir)
    recs = data.records
    methods = sorted({r["method"] for r in recs})
    codecs = codec_methods(set(methods))
    colours = plots.Colours(methods, [p["method"] for p in PAPER_RD] + [n for t in PAPER_TABLES for n in t["rows"]])
    boards = agg.leaderboards(recs)

    def link(key: str) -> str:
        return Path(os.path.relpath(data.job_path(key), out_dir)).as_posix()

    curves = agg.rd_curves(recs, codecs=codecs)  # the same curves and BD entries as nvbench compare
    avg_curves = agg.average_curves(curves)
    anchor = agg.pick_anchor(curves, anchor)
    bd = agg.bd_entries(curves, anchor) if anchor else []
    traces = agg.convergence_traces(recs)
    families = method_families(set(methods))
    names = {c.name for c in curves}
    bd_by_anchor = {a: (bd if a == anchor else agg.bd_entries(curves, a)) for a in RANK_ANCHORS if a in names}
    rankings = ranking.rankings(recs, bd_by_anchor, families, own_recipes(set(methods)))
    ctx: dict[str, Any] = {
        "title": "nvbench report", "store": str(data.root), "version": nvbench.__version__,
        "data": data, "boards": boards, "link": link, "conditions": conditions(data), "anchor": anchor,
        "bd": bd, "curves": curves, "reported": REPORTED, "paper_tables": PAPER_TABLES, "paper_rd": PAPER_RD,
        "methods": methods, "codecs": sorted(codecs), "traces": traces, "figures": defaultdict(list),
        "frames": [], "rankings": rankings, "families": families, "colours": colours,
        "bd_tables": ({anchor: bd} if anchor and bd else {}) | bd_by_anchor, "board_id": ranking.board_id,
    }
    if not with_plots:
        return ctx
    figs = ctx["figures"]
    # rate-distortion: ours large, the papers' points on the same axes when dataset and resolution match
    by_dp: dict[tuple[str, str], dict[str, list[agg.Curve]]] = defaultdict(lambda: defaultdict(list))
    for c in curves + avg_curves:
        by_dp[(c.dataset, c.preset)][c.sequence].append(c)
    drawn: set[str] = set()
    for (ds, preset), seqs in sorted(by_dp.items()):
        order = (["average"] if "average" in seqs else []) + sorted(s for s in seqs if s != "average")
        for s in order:
            res = {c.resolution for c in seqs[s]}
            paper = plots.matching_paper_curves(ds, res.pop()) if len(res) == 1 and s == order[0] else []
            drawn |= {p["id"] for p in paper}
            note = (f"; hollow markers: {REPORTED} ({', '.join(p['source'] for p in paper)})" if paper else "")
            figs["rd"].append({"id": f"rd-{ds}-{preset}-{s}", "caption": f"{ds} · {s} · preset {preset}{note}",
                               "svg": plots.rd_figure(seqs[s], f"{ds}/{s}", colours, families, paper),
                               "reported": False})
    for ds in sorted({p["dataset"] for p in PAPER_RD}):
        rest = [p for p in PAPER_RD if p["dataset"] == ds and p["id"] not in drawn]
        svg = plots.paper_rd_figure(ds, colours, rest)
        if svg:
            srcs = "; ".join(f"{p['label']}: {p['source']} ({p['obtained']}) — {p['conditions']}" for p in rest)
            figs["rd"].append({"id": f"rd-paper-{ds}", "caption": f"{ds}, {REPORTED}. {srcs}", "svg": svg,
                               "reported": True})
    # RD against complexity (MACs per decoded pixel)
    for rk in rankings:
        pts = complexity_points(recs, rk, families)
        svg = plots.complexity_figure(pts, f"{rk.dataset} · {rk.preset}", colours)
        if svg:
            figs["complexity"].append({"id": f"complexity-{rk.dataset}-{rk.preset}", "reported": False,
                                       "caption": f"{rk.dataset} · preset {rk.preset}: decoder MACs per pixel "
                                                  "(one frame decoded alone; conv + matmul) against reconstruction "
                                                  "PSNR at each size and against BD-rate of the compression curve"})
            figs["complexity"][-1]["svg"] = svg
    svg = plots.paper_complexity_figure(colours)
    if svg:
        quoted = "; ".join(f"{p['label']}: {p['macs_per_pixel'].get('min')}–{p['macs_per_pixel'].get('max')} "
                           f"({p['macs_per_pixel'].get('source')})" for p in PAPER_RD if p.get("macs_per_pixel"))
        figs["complexity"].append({"id": "complexity-paper", "reported": True, "svg": svg,
                                   "caption": f"{REPORTED}: PSNR of each published curve's lowest- and highest-rate "
                                              f"point at the MACs per pixel quoted for them. {quoted}"})
    # convergence
    by_t: dict[tuple[str, str], list[agg.Trace]] = defaultdict(list)
    for t in traces:
        by_t[(t.dataset, t.preset)].append(t)
    for (ds, preset), ts in sorted(by_t.items()):
        figs["convergence"].append({"id": f"convergence-{ds}-{preset}", "caption": f"{ds} · preset {preset}",
                                    "svg": plots.convergence_figure(ts, ds, colours), "reported": False})
    for tid in ("convergence_075", "convergence_15"):
        t = table(tid)
        figs["convergence"].append({"id": f"convergence-paper-{tid}", "reported": True,
                                    "caption": f"{t['title']} — {REPORTED}; {t['source']}; {t['conditions']}",
                                    "svg": plots.paper_lines_figure(t, "epochs", colours, logx=True)})
    # PSNR vs parameters (reconstruction)
    rec_by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        if r.get("task") == "reconstruction":
            rec_by[(str(r.get("dataset")), str(r.get("preset")))].append(r)
    for (ds, preset), rs in sorted(rec_by.items()):
        svg = plots.params_figure(rs, f"{ds} · {preset}", colours)
        if svg:
            figs["params"].append({"id": f"params-{ds}-{preset}", "caption": f"{ds} · preset {preset}", "svg": svg,
                                   "reported": False})
    t = table("bunny_sizes")
    figs["params"].append({"id": "params-paper-bunny", "reported": True,
                           "caption": f"{t['title']} — {REPORTED}; {t['source']}; {t['conditions']}",
                           "svg": plots.paper_lines_figure(t, "stored parameters", colours, logx=True)})
    # interpolation and inpainting bars
    for task, paper_id, ylabel in (("interpolation", "interpolation", plots.PSNR_AXIS),
                                   ("inpainting", "inpainting", plots.PSNR_AXIS)):
        for (ds, preset), groups in sorted(_bars_from(recs, task).items()):
            svg = plots.bars_figure(groups, f"{task} · {ds} · {preset}", ylabel, colours)
            if svg:
                figs[task].append({"id": f"{task}-{ds}-{preset}", "caption": f"{ds} · preset {preset}", "svg": svg,
                                   "reported": False})
        t = table(paper_id)
        groups = {name: {"avg.": vals[-1]} for name, vals in t["rows"].items()}
        figs[task].append({"id": f"{task}-paper", "reported": True,
                           "caption": f"{t['title']} (average) — {REPORTED}; {t['source']}; {t['conditions']}",
                           "svg": plots.bars_figure(groups, t["title"], ylabel, colours, reported=True)})
    # decoded frames: the video with the most methods that saved samples
    by_video: dict[tuple, dict[str, str]] = defaultdict(dict)
    for r in agg.final_records(recs):
        if r.get("has_samples"):
            vid = (r.get("dataset"), r.get("sequence"), r.get("preset"), r.get("resolution"))
            name = " ".join(str(x) for x in (r["method"], r.get("variant"), agg._size(r.get("size_target"))) if x)
            by_video[vid].setdefault(name, str(data.samples_path(r["job_key"])))
    if by_video:
        vid, entries = max(by_video.items(), key=lambda kv: (len(kv[1]), str(kv[0])))
        strip = plots.frame_strip(sorted(entries.items()))
        if strip:
            strip["video"] = f"{vid[0]} · {vid[1]} · preset {vid[2]} · {vid[3]}"
            strip["what"] = "reconstruction, saved sample frames"
            ctx["frames"] = [strip]
    matched = matched_bpp_strip(data, families)
    if matched:
        ctx["frames"].append(matched)
    return ctx


def matched_bpp_strip(data: ReportData, families: dict[str, str]) -> dict[str, Any] | None:
    """Codecs beside neural methods at matched bpp: on the video with the most methods whose
    compression files are in the store, each method's point nearest (in log bpp) to a common
    target, the geometric mean of the methods' median rates; its file decoded from its bytes
    (nvbench.verify.decode_file), the middle frame shown."""
    import math
    import statistics

    from nvbench.verify import decode_file, resolve_file

    by_video: dict[tuple, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in agg.final_records(data.records):
        if r.get("task") == "compression" and r.get("file") and agg.is_number(r.get("bpp")) and r["bpp"] > 0 \
                and resolve_file(data.root, r["job_key"], r["file"]).is_file():
            by_video[(r.get("dataset"), r.get("sequence"), r.get("preset"), r.get("resolution"))][r["method"]].append(r)
    if not by_video:
        return None
    vid, per = max(by_video.items(), key=lambda kv: (len(kv[1]), str(kv[0])))
    fams = {families.get(m, "neural") for m in per}
    if not {"codec", "neural"} <= fams:  # the point of the view: codecs beside neural methods
        return None
    target = math.exp(statistics.fmean(math.log(statistics.median(r["bpp"] for r in rs)) for rs in per.values()))
    chosen = {m: min(rs, key=lambda r: (abs(math.log(r["bpp"] / target)), r["bpp"])) for m, rs in per.items()}
    try:
        import tempfile

        from nvbench.jobrun import load_video
        from nvbench.verify import _job_of

        r0 = next(iter(chosen.values()))
        video = load_video(_job_of(data.jobs[r0["job_key"]]))
        idx = video.num_frames // 2
        frames = []
        for m, r in sorted(chosen.items(), key=lambda kv: (families.get(kv[0], "neural") == "codec", kv[0])):
            with tempfile.TemporaryDirectory(prefix="nvbench-report-") as tmp:
                dec = decode_file(resolve_file(data.root, r["job_key"], r["file"]), r, data.jobs[r["job_key"]]["job"],
                                  Path(tmp))
            frames.append((f"{m} {r.get('variant')} ({families.get(m, 'neural')}) · {r['bpp']:.4f} bpp", dec[idx]))
    except Exception as exc:  # a dataset not prepared here, a codec missing: the rest of the page stands
        data.notes.append(f"frames at matched bpp left out: {type(exc).__name__}: {exc}")
        return None
    strip = plots.strip_from_frames(video.frames[idx], frames, idx)
    strip["video"] = f"{vid[0]} · {vid[1]} · preset {vid[2]} · {vid[3]}"
    strip["what"] = (f"compression at matched bpp (target {target:.4f} bpp; each method's point nearest to it; "
                     "files decoded from their bytes)")
    return strip


def fill_macs(data: ReportData) -> int:
    """Records of jobs written before nvbench counted macs_per_pixel get it counted here, from the
    job's own plan (the count depends only on the architecture), with the reason saying so.
    Returns how many records were filled."""
    from nvbench import registry
    from nvbench.complexity import complexity_fields

    filled = 0
    for r in data.records:
        if r.get("macs_per_pixel") is not None or r.get("macs_reason"):
            continue
        job = (data.jobs.get(r.get("job_key")) or {}).get("job") or {}
        t, h, w = r.get("frames"), r.get("height"), r.get("width")
        try:
            m = registry.methods.get(str(r["method"]))
        except Exception:  # a method this install lacks
            continue
        if not all(isinstance(v, int) for v in (t, h, w)):
            continue
        f = complexity_fields(m, lambda m=m, t=t, h=h, w=w, job=job: m.plan(t, h, w, job.get("size"),
                                                                            job.get("method_options") or {}), t, h, w)
        r["macs_per_pixel"] = f["macs_per_pixel"]
        r["macs_reason"] = f["macs_reason"] + (" (counted by the report from the job's plan: the job predates the "
                                               "field)" if f["macs_per_pixel"] is not None else "")
        filled += f["macs_per_pixel"] is not None
    return filled


def complexity_points(records: list[dict[str, Any]], rk: ranking.Ranking,
                      families: dict[str, str]) -> list[dict[str, Any]]:
    """Points of the complexity figure: per method and size, mean reconstruction PSNR and MACs per
    pixel; per method, its BD-rate against the ranking's first anchor at the MACs of its
    default-size model."""
    by: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
    for r in agg.final_records(records):
        if (r.get("task") == "reconstruction" and str(r.get("dataset")) == rk.dataset
                and str(r.get("preset")) == rk.preset and agg.is_number(r.get("macs_per_pixel"))):
            by[(r["method"], r.get("size_target"))].append(r)
    pts = []
    for (m, _), rs in sorted(by.items(), key=str):
        pts.append({"method": m, "family": families.get(m, "neural"),
                    "macs": agg.mean_std([r["macs_per_pixel"] for r in rs])[0],
                    "psnr": agg.mean_std([r.get("psnr") for r in rs])[0], "bd_rate": None})
    bd_col = next((c.key for c in rk.columns if c.key.startswith("bd_")), None)
    if bd_col:
        for row in rk.rows:
            macs, bd = row.cells["macs_per_pixel"].value, row.cells[bd_col].value
            if macs is not None and bd is not None:
                pts.append({"method": row.method, "family": row.family, "macs": macs, "psnr": None, "bd_rate": bd})
    return pts


def write_html(root: str | Path, out: str | Path, anchor: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Render the report for the store at `root` into the HTML file `out`."""
    import jinja2

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx = build_context(root, out.parent, anchor)
    env = jinja2.Environment(loader=jinja2.PackageLoader("nvbench.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["num"] = fmt_num
    env.filters["keyfmt"] = fmt_key
    env.filters["paper"] = lambda v: f"{v:.2f}" if isinstance(v, float) and round(v, 2) == v else str(v)
    html = env.get_template("report.html.j2").render(**ctx)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)
    return out, ctx


def fmt_num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if v != v:
            return "–"
        if digits == 0 or abs(v) >= 10000:
            return f"{v:,.0f}"
        return f"{v:.{digits}f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def fmt_key(v: Any, column: str) -> str:
    """A leaderboard key cell: sizes as 94k/1.5M, missing as empty."""
    if v is None:
        return ""
    if column == "size_target" and isinstance(v, (int, float)) and not isinstance(v, bool):
        from nvbench.presets import format_size

        return format_size(int(v))
    return str(v)
