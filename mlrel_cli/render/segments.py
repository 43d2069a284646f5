"""The report's ``weak_segments`` list as rows of text, shared by the table, Markdown and HTML formats."""

from __future__ import annotations

from typing import Any

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


def condition_text(condition: dict[str, Any]) -> str:
    column, op, value = condition["column"], condition["op"], condition.get("value")
    if op == "missing":
        return f"{column} is missing"
    if op == "between" and value is not None:
        return f"{_num(value[0])} <= {column} < {_num(value[1])}"
    return f"{column} {op} {_num(value) if isinstance(value, float) else value}"


def slice_text(weak: dict[str, Any]) -> str:
    return " and ".join(condition_text(c) for c in weak["conditions"])


def _signed(value: Any) -> str:
    return "-" if value is None else f"{value:+.3g}"


def rows(report: Report) -> list[list[str]]:
    out = []
    for weak in report.sections.get("weak_segments") or []:
        p = weak.get("adjusted_p")
        label = slice_text(weak) + (f" ({weak['candidate']})" if weak.get("candidate") else "")
        out.append(
            [
                label,
                f"{weak['rows']:,}",
                str(weak["metric"]),
                _num(weak["inside"]),
                _num(weak["outside"]),
                f"{_signed(weak['delta'])} [{_signed(weak['ci_low'])}, {_signed(weak['ci_high'])}]",
                "-" if p is None else f"{p:.2g}",
            ]
        )
    return out
