"""The papers' published numbers, as data: drawn beside ours, never mixed with them.

Every table and curve carries its source, its conditions (crop, epochs, GPU) and how it was
obtained (a table of the paper, a CSV its authors committed, or read off a figure); the report marks
each "reported by the paper, not re-run". Transcribed from the papers and their official repositories.
"""

from __future__ import annotations

import re
from typing import Any

REPORTED = "reported by the paper, not re-run"

_UVG_DAVIS_COLS = ["beauty", "blackswan", "bmx-trees", "bosphorus", "dance-twirl", "camel", "honeybee",
                   "jockey", "readysteadygo", "shakendry", "yachtride", "avg."]

PAPER_TABLES: list[dict[str, Any]] = [
    {
        "id": "bunny_sizes", "kind": "sizes", "task": "reconstruction", "dataset": "bunny",
        "title": "Bunny reconstruction vs size, PSNR (dB)",
        "source": "HNeRV paper (CVPR 2023) Table 2",
        "conditions": "Bunny 132 frames, centre crop 640x1280, 300 epochs, RTX 2080 Ti; sizes are stored parameters",
        "note": "printed HNeRV average 33.90 is arithmetically 33.99 (typo in the paper)",
        "columns": ["0.35M", "0.75M", "1.5M", "3M", "avg."],
        "x": [350_000, 750_000, 1_500_000, 3_000_000],
        "rows": {
            "nerv": [26.99, 28.46, 30.87, 33.21, 29.88],
            "enerv": [27.84, 30.95, 32.09, 36.72, 31.90],
            "hnerv": [30.15, 32.81, 35.57, 37.43, 33.90],
        },
    },
    {
        "id": "convergence_075", "kind": "convergence", "task": "convergence", "dataset": "bunny",
        "title": "Bunny convergence at 0.75M, PSNR (dB) vs epochs",
        "source": "HNeRV paper Table 3",
        "conditions": "Bunny crop 640x1280, 0.75M parameters, RTX 2080 Ti",
        "columns": ["300", "600", "1200", "1800", "2400", "3600"],
        "x": [300, 600, 1200, 1800, 2400, 3600],
        "rows": {
            "nerv": [28.46, 29.15, 29.57, 29.73, 29.77, 29.86],
            "enerv": [30.95, 32.07, 32.79, 33.1, 33.36, 33.67],
            "hnerv": [32.81, 33.89, 34.51, 34.73, 34.88, 35.03],
        },
    },
    {
        "id": "convergence_15", "kind": "convergence", "task": "convergence", "dataset": "bunny",
        "title": "Bunny convergence at 1.5M, PSNR (dB) vs epochs",
        "source": "HNeRV paper Fig. 1 (values printed on the authors' project-page figure)",
        "conditions": "Bunny crop 640x1280, 1.5M parameters, RTX 2080 Ti",
        "note": "another version of the figure shows HNeRV 35.19 at 300 epochs",
        "columns": ["300", "600", "1200", "2400", "4800"],
        "x": [300, 600, 1200, 2400, 4800],
        "rows": {
            "nerv": [30.87, 31.68, 32.13, 32.41, 32.63],
            "enerv": [32.09, 33.2, 34.15, 34.76, 34.97],
            "hnerv": [35.57, 36.19, 36.93, 37.27, 37.56],
        },
    },
    {
        "id": "uvg_davis_960", "kind": "per_video", "task": "reconstruction", "dataset": "uvg",
        "title": "UVG + DAVIS regression at 3M, 960x1920, PSNR (dB)",
        "source": "HNeRV paper Table 4",
        "conditions": "7 UVG + 4 DAVIS videos, centre crop 960x1920, 3M parameters, 300 epochs, RTX 2080 Ti",
        "columns": _UVG_DAVIS_COLS,
        "rows": {
            "nerv": [33.25, 28.48, 27.86, 33.22, 26.45, 24.81, 37.26, 31.74, 24.84, 33.08, 28.30, 29.94],
            "hnerv": [33.58, 30.35, 29.98, 34.73, 30.45, 26.71, 38.96, 32.04, 25.74, 34.57, 29.26, 31.49],
        },
    },
    {
        "id": "uvg_davis_480", "kind": "per_video", "task": "reconstruction", "dataset": "uvg",
        "title": "UVG + DAVIS regression at 3M, 480x960, PSNR (dB)",
        "source": "HNeRV paper Table 5",
        "conditions": "7 UVG + 4 DAVIS videos resized to 480x960, 3M parameters, 300 epochs, RTX 2080 Ti",
        "columns": _UVG_DAVIS_COLS,
        "rows": {
            "nerv": [36.27, 29.75, 28.81, 35.07, 29.47, 26.75, 40.76, 32.58, 25.81, 35.33, 30.11, 31.88],
            "hnerv": [36.91, 31.92, 31.27, 36.95, 33.85, 28.85, 42.05, 33.33, 27.07, 36.97, 30.96, 33.65],
        },
    },
    {
        "id": "interpolation", "kind": "bars", "task": "interpolation", "dataset": "uvg",
        "title": "Interpolation (every other frame held out), held-out PSNR (dB)",
        "source": "HNeRV paper Table 7",
        "conditions": "7 UVG + 4 DAVIS videos; size, epochs and resolution not stated by the paper",
        "note": "HNeRV = mean of neighbour embeddings (interp-embed); HNeRV† = held-out frame encoded "
                "(encode-frame); the caption names E-NeRV but the table has no E-NeRV row",
        "columns": ["beauty", "swan", "bmx", "bosph", "dance", "camel", "bee", "jockey", "ready", "shake",
                    "yach", "avg."],
        "rows": {
            "nerv": [28.05, 17.94, 15.55, 30.04, 16.99, 14.83, 36.99, 20.00, 17.02, 29.15, 24.50, 22.82],
            "hnerv (interp-embed)": [30.97, 21.44, 17.35, 34.38, 20.2, 19.93, 38.83, 23.67, 20.90, 32.69, 27.30,
                                     26.15],
            "hnerv† (encode-frame)": [31.10, 21.97, 18.29, 34.38, 20.29, 20.64, 38.83, 23.82, 20.99, 32.61,
                                      27.24, 26.38],
        },
    },
    {
        "id": "inpainting", "kind": "bars", "task": "inpainting", "dataset": "davis",
        "title": "Inpainting, 5 fixed boxes, PSNR (dB)",
        "source": "HNeRV paper Table 8",
        "conditions": "10 DAVIS videos; working resolution and epochs not stated (input PSNRs imply 480x960 "
                      "with 50-px boxes)",
        "columns": ["bike", "b-swan", "bmx", "b-dance", "camel", "c-round", "c-shadow", "cows", "dance-twirl",
                    "dog", "avg."],
        "rows": {
            "input (masked)": [23.14, 20.24, 19.99, 21.36, 17.3, 20.47, 18.92, 19.37, 20.45, 18.39, 19.96],
            "nerv": [30.94, 33.43, 32.07, 27.82, 31.99, 29.09, 31.63, 30.08, 30.45, 33.85, 31.14],
            "IIVI": [31.87, 36.02, 34.36, 27.63, 35.11, 32.61, 33.69, 31.26, 31.44, 35.7, 32.97],
            "hnerv": [31.27, 34.24, 33.95, 27.94, 32.21, 30.88, 33.07, 30.82, 31.21, 34.7, 32.03],
        },
    },
    {
        "id": "decoding_fps", "kind": "table", "task": "reconstruction", "dataset": "bunny",
        "title": "Decoding speed on Bunny, frames per second at matched PSNR",
        "source": "HNeRV paper supplementary Tables 13-15",
        "conditions": "HNeRV (r = 1.5) and DCVC on one RTX 2080 Ti (forward time only); H.264/H.265 decoded by "
                      "ffmpeg on 4 CPU threads (Xeon Silver 4216)",
        "columns": ["PSNR 32", "PSNR 35", "PSNR 37"],
        "rows": {
            "x264 (H.264)": [279.7, 240.9, 192.7],
            "x265 (H.265)": [211.9, 163.2, 132.5],
            "DCVC": [4.7, 4.6, 4.5],
            "hnerv": [395.9, 332.7, 224.8],
        },
    },
]

#: how a published curve was obtained (the `obtained` field)
OBTAINED = ("table", "committed CSV", "figure")
#: what kind of method produced it (the `type` field; C3's baselines vocabulary)
TYPES = ("neural-field", "classical", "autoencoder")
#: fields every published curve must carry (see `paper_curve`)
CURVE_FIELDS = ("id", "method", "label", "dataset", "resolution", "type", "source", "reference", "obtained",
                "conditions", "macs_per_pixel", "points", "reported")


def paper_curve(*, id: str, method: str, dataset: str, resolution: str, type: str, source: str, obtained: str,
                conditions: str, points: list[tuple[float, float, float | None]], label: str = "",
                reference: str = "", macs_per_pixel: dict[str, Any] | None = None) -> dict[str, Any]:
    """One published RD curve with its provenance, checked where it is written down.

    method: nvbench's method name when nvbench has the method (its colour on every figure), else the
    paper's name; resolution: "HxW" of the frames the paper scored ("" when it does not say), so the
    report draws it on the same axes as ours only when dataset and resolution match; source: the file
    or table the numbers come from; obtained: one of OBTAINED; points: (bpp, PSNR dB, MS-SSIM or None);
    macs_per_pixel: {"min": int, "max": int | None, "source": str} as published, or None.
    """
    if obtained not in OBTAINED:
        raise ValueError(f"{id}: obtained must be one of {OBTAINED}, not {obtained!r}")
    if type not in TYPES:
        raise ValueError(f"{id}: type must be one of {TYPES}, not {type!r}")
    if resolution and not re.fullmatch(r"\d+x\d+", resolution):
        raise ValueError(f"{id}: resolution must be HxW (e.g. 1080x1920) or empty, not {resolution!r}")
    if not source or not conditions or not points:
        raise ValueError(f"{id}: source, conditions and points are required")
    for pt in points:
        if len(pt) != 3 or not all(isinstance(v, (int, float)) for v in pt[:2]) or pt[0] <= 0:
            raise ValueError(f"{id}: each point is (bpp > 0, PSNR, MS-SSIM or None), not {pt!r}")
    if macs_per_pixel is not None and not ({"min", "source"} <= set(macs_per_pixel)):
        raise ValueError(f"{id}: macs_per_pixel needs min (and max) and source")
    return {"id": id, "method": method, "label": label or method, "dataset": dataset, "resolution": resolution,
            "type": type, "codec": type == "classical", "source": source, "reference": reference,
            "obtained": obtained, "conditions": conditions, "macs_per_pixel": macs_per_pixel,
            "points": [tuple(p) for p in points], "reported": REPORTED}


#: Published rate-distortion curves, "reported by the paper, not re-run". Other curves are added
#: here with `paper_curve(...)` (one call per curve; ids unique; tests/test_report.py checks them).
PAPER_RD: list[dict[str, Any]] = [
    paper_curve(
        id="hnerv_uvg", method="hnerv", label="HNeRV", dataset="uvg", resolution="960x1920", type="neural-field",
        source="HNeRV code checkpoints/uvg_results.csv (paper Fig. 6)", obtained="committed CSV",
        reference="https://arxiv.org/abs/2304.02633",
        conditions="UVG 7 videos, crop 960x1920, unweighted mean over videos; 300 epochs; the third point "
                   "does not match the per-video CSV (unverified)",
        points=[(0.0139, 32.77, 0.9166), (0.0339, 34.39, 0.9409), (0.0498, 35.49, 0.9539)],
    ),
    paper_curve(
        id="nerv_uvg", method="nerv", label="NeRV", dataset="uvg", resolution="1080x1920", type="neural-field",
        source="NeRV code checkpoints/psnr_bpp_results.csv", obtained="committed CSV",
        reference="https://arxiv.org/abs/2110.13903",
        conditions="UVG, one model on all 7 concatenated videos, 1080x1920, pruning + 8-bit + Huffman",
        points=[(0.01347, 31.28, 0.9035), (0.02099, 32.53, 0.9224), (0.03245, 33.69, 0.9357),
                (0.04754, 34.71, 0.9464), (0.06673, 35.57, 0.9565), (0.07585, 35.84, 0.9562),
                (0.12730, 36.59, 0.9622), (0.14613, 36.87, 0.9638), (0.24969, 37.86, 0.9692)],
    ),
    paper_curve(
        id="dcvc_uvg", method="DCVC", label="DCVC", dataset="uvg", resolution="960x1920", type="autoencoder",
        source="HNeRV paper Fig. 6", obtained="figure", reference="https://arxiv.org/abs/2109.15047",
        conditions="UVG, crop 960x1920; codec settings not given; read off the figure (±0.003 bpp, ±0.1 dB)",
        points=[(0.025, 34.05, None), (0.038, 35.2, None), (0.059, 36.35, None), (0.097, 37.45, None)],
    ),
    paper_curve(
        id="c3_uvg", method="c3", label="C3 (Adaptive)", dataset="uvg", resolution="1080x1920", type="neural-field",
        source="C3 code baselines/uvg.py, entry 'C3 (Adaptive)' (a Python dict of bpp and PSNR committed by the "
               "authors; meta.source 'Our experiments')", obtained="committed CSV",
        reference="https://arxiv.org/abs/2312.02753",
        conditions="UVG 7 videos at 1080x1920, mean over videos; one model per patch of frames (patch size and "
                   "entropy-model variant chosen per lambda), ~110k steps each; bpp from the entropy model's "
                   "estimate (no file written), PSNR of the rounded reconstruction",
        macs_per_pixel={"min": 0, "max": 5000, "source": "C3 README: 'less than 5k MACs/pixel for decoding' on UVG"},
        points=[(0.01594833859347827, 32.925598689488005, None), (0.02268396719193247, 33.96687752859933, None),
                (0.033139908094155894, 35.02668489728655, None), (0.05459793865953716, 36.327970777239116, None),
                (0.08459428009726773, 37.44999258858817, None), (0.12762070219697697, 38.36397443498884, None),
                (0.25398065725859764, 39.704908643450054, None), (0.44254081146819296, 40.794677189418245, None)],
    ),
    paper_curve(
        id="hinerv_uvg", method="hinerv", label="HiNeRV", dataset="uvg", resolution="1080x1920",
        type="neural-field", source="HiNeRV code results/new/uvg_results.xlsx, column 'Average' (this code's "
        "version, which its README says improves slightly on the paper's)", obtained="committed CSV",
        reference="https://arxiv.org/abs/2306.09818",
        conditions="UVG 7 videos at 1080x1920 (600 frames; ShakeNDry 300), one model per video, sizes S/M/L/XL/XXL, "
                   "300 epochs + 60 pruning + 30 QAT epochs, 6-8 bit files; unweighted mean over videos "
                   "(run-to-run spread 0.01-0.19 dB per the author, HiNeRV issue 15)",
        points=[(0.014971, 34.7956, 0.9559), (0.029914, 36.2419, 0.9660), (0.058329, 37.5138, 0.9726),
                (0.115857, 38.7186, 0.9779), (0.227143, 39.8090, 0.9823)],
    ),
    paper_curve(
        id="hinerv_uvg_original", method="hinerv", label="HiNeRV (paper version)", dataset="uvg",
        resolution="1080x1920", type="neural-field",
        source="HiNeRV code results/original/uvg_results.xlsx, column 'Average' (the NeurIPS 2023 paper's runs)",
        obtained="committed CSV", reference="https://arxiv.org/abs/2306.09818",
        conditions="as hinerv_uvg, with the implementation of the paper",
        points=[(0.014886, 34.5318, 0.9551), (0.029743, 36.0126, 0.9653), (0.058029, 37.4502, 0.9725),
                (0.115429, 38.6016, 0.9778), (0.226157, 39.6261, 0.9822)],
    ),
]


def tables_for(task: str | None = None) -> list[dict[str, Any]]:
    return [t for t in PAPER_TABLES if task is None or t["task"] == task]


def table(table_id: str) -> dict[str, Any]:
    for t in PAPER_TABLES:
        if t["id"] == table_id:
            return t
    raise KeyError(table_id)
