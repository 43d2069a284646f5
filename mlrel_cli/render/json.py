"""JSON: the stable, documented machine-readable report (docs/reports.md)."""

from __future__ import annotations

import json

from mlrel_cli.report import Report


def render(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_line(report: Report) -> str:
    """One line, for the append-only run history."""
    return json.dumps(report.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
