"""Reports: the store turned into one self-contained HTML page, a terminal summary and exports.

Reads only the store (nvbench.results); never trains or decodes a model.
"""

from __future__ import annotations

__all__ = ["build_context", "write_html", "load_report_data"]


def __getattr__(name: str):
    if name in ("build_context", "write_html"):
        from nvbench.report import build

        return getattr(build, name)
    if name == "load_report_data":
        from nvbench.report.data import load_report_data

        return load_report_data
    raise AttributeError(name)
