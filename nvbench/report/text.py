"""`nvbench report --format text`: the leaderboards, BD-rates and what was left out, for a terminal."""

from __future__ import annotations

from typing import Any

from nvbench.report.build import fmt_key, fmt_num


def render_text(ctx: dict[str, Any]) -> str:
    data = ctx["data"]
    lines = [f"nvbench report: {ctx['store']} — {len(data.records)} records from {len(data.jobs)} jobs, "
             f"{len(data.left_out)} left out"]
    lines += [f"note: {n}" for n in data.notes]
    lines.append("")
    for rk in ctx.get("rankings", []):
        lines.append(f"== ranking: {rk.title} ==  (default variant and point per method, mean over seeds; * = best)")
        header = ["method", "family"] + [c.header for c in rk.columns]
        cells = [header] + [[r.method, r.family] + [fmt_num(r.cells[c.key].value, c.digits)
                                                    + ("*" if r.cells[c.key].best else "") for c in rk.columns]
                            for r in rk.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
        for n, r in enumerate(cells):
            lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append("")
    for b in ctx["boards"]:
        lines.append(f"== {b.title} ==  (mean ± std over seeds; * = best)")
        header = list(b.key_columns) + [f"{label}{' ↑' if d == 'up' else ' ↓' if d == 'down' else ''}"
                                         for _, label, d, _ in b.columns] + ["n"]
        cells = [header]
        for row in b.rows:
            line = [fmt_key(row.keys[k], k) for k in b.key_columns]
            for col, _, direction, digits in b.columns:
                c = row.cells[col]
                s = fmt_num(c.mean, digits)
                if c.std is not None and direction:
                    s += f" ± {fmt_num(c.std, max(digits, 2))}"
                line.append(s + ("*" if c.best else ""))
            line.append(str(len(row.seeds)))
            cells.append(line)
        widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
        nk = len(b.key_columns)
        for n, r in enumerate(cells):
            lines.append("  ".join(c.ljust(w) if i < nk else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append("")
    if ctx["bd"]:
        lines.append(f"== BD-rate against {ctx['anchor']} (PCHIP; negative = fewer bits) ==")
        for e in ctx["bd"]:
            rate = f"{e.bd_rate:+.2f} %" if e.bd_rate is not None else "—"
            psnr = f"{e.bd_psnr:+.3f} dB" if e.bd_psnr is not None else "—"
            val = f"{rate}  BD-PSNR {psnr}" + (f"  ({e.why})" if None in (e.bd_rate, e.bd_psnr) else "")
            lines.append(f"  {e.dataset}/{e.sequence} [{e.preset}] {e.method}: {val}")
        lines.append("")
    if data.left_out:
        lines.append("== left out ==")
        for item in data.left_out:
            lines.append(f"  {item.what}: {item.status}: {item.reason}")
        lines.append("")
    lines.append("conditions:")
    lines += [f"  {k}: {v}" for k, v in ctx["conditions"]]
    return "\n".join(lines)
