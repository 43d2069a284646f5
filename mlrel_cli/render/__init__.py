"""Report renderers: one module per format, each a function ``Report -> str``.

Renderers only read the Report; every number they print was computed by an
analysis.
"""

from __future__ import annotations

from collections.abc import Callable

from mlrel_cli.report import Report

FORMATS = ("table", "json", "markdown", "junit", "html", "openmetrics")
SUFFIXES = {
    ".json": "json",
    ".md": "markdown",
    ".markdown": "markdown",
    ".xml": "junit",
    ".txt": "table",
    ".html": "html",
    ".htm": "html",
    ".prom": "openmetrics",
}


def renderer(fmt: str) -> Callable[..., str]:
    if fmt == "json":
        from mlrel_cli.render.json import render
    elif fmt == "markdown":
        from mlrel_cli.render.markdown import render
    elif fmt == "junit":
        from mlrel_cli.render.junit import render
    elif fmt == "html":
        from mlrel_cli.render.html import render
    elif fmt == "openmetrics":
        from mlrel_cli.render.openmetrics import render
    elif fmt == "table":
        from mlrel_cli.render.table import render_text as render
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return render


def format_for_path(path: str, default: str) -> str:
    """The format an output file's suffix asks for, or the given one."""
    import os

    return SUFFIXES.get(os.path.splitext(path)[1].lower(), default)


def verdict_line(report: Report) -> str:
    """The one-line verdict of --quiet (no rich import: cron and CI paths stay light)."""
    return f"{report.status.value.upper()}  mlrel {report.command}: {report.summary}"


def render(report: Report, fmt: str) -> str:
    return renderer(fmt)(report)
