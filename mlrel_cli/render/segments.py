"""The report's ``weak_segments`` list as rows of text, shared by the table, Markdown and HTML formats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlrel_cli.payloads.slices import Condition, WeakSegment
from mlrel_cli.report import Report

TITLE = "Weak segments (an association with higher loss, not a cause: docs/segments.md)"
COLUMNS = ("slice", "rows", "metric", "inside", "outside", "delta [interval]", "adjusted p")
# what inside and outside compare, per command
SIDES = {"compare": ("candidate", "baseline"), "postmortem": ("during", "before")}


def columns(report: Report) -> tuple[str, ...]:
    inside, outside = SIDES.get(report.command, ("inside", "outside"))
    return (*COLUMNS[:3], inside, outside, *COLUMNS[5:])


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def of(report: Report) -> Sequence[WeakSegment]:
    """The report's weak segments (validate's, compare's or the post-mortem's), typed."""
    found: Sequence[WeakSegment] = report.sections.get("weak_segments") or ()
    return found


def condition_text(condition: Condition) -> str:
    column, op, value = condition.column, condition.op, condition.value
    if op == "missing":
        return f"{column} is missing"
    if op == "between" and value is not None:
        return f"{_num(value[0])} <= {column} < {_num(value[1])}"
    return f"{column} {op} {_num(value) if isinstance(value, float) else value}"


def slice_text(weak: WeakSegment) -> str:
    return " and ".join(condition_text(c) for c in weak.slice.conditions)


def _signed(value: Any) -> str:
    return "-" if value is None else f"{value:+.3g}"


def rows(report: Report) -> list[list[str]]:
    out = []
    for weak in of(report):
        found = weak.slice
        p = found.adjusted_p
        label = slice_text(weak) + (f" ({weak.candidate})" if weak.candidate else "")
        out.append(
            [
                label,
                f"{found.rows:,}",
                str(weak.metric),
                _num(found.inside),
                _num(found.outside),
                f"{_signed(found.delta)} [{_signed(found.ci_low)}, {_signed(found.ci_high)}]",
                "-" if p is None else f"{p:.2g}",
            ]
        )
    return out
