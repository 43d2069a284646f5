"""Markdown: for a pull-request comment or a post-mortem."""

from __future__ import annotations

from mlrel_cli.payloads.table import Table
from mlrel_cli.render import segments
from mlrel_cli.render.values import fmt_value, scrub, top_offenders
from mlrel_cli.report import Report, Status

ICONS = {
    Status.FAIL: "❌ fail",
    Status.INCONCLUSIVE: "❔ inconclusive",
    Status.WARN: "⚠️ warn",
    Status.PASS: "✅ pass",
    Status.SKIPPED: "➖ skipped",
}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(report: Report) -> str:
    lines = [
        f"## mlrel {report.command}: {ICONS[report.status]}",
        "",
        report.summary,
        "",
    ]
    inputs = {k: v for k, v in report.inputs.items() if isinstance(v, str | int) and v is not None}
    if inputs:
        lines.append(" · ".join(f"**{k}**: `{v}`" for k, v in inputs.items()))
        lines.append("")
    section: Table | None = report.sections.get("table")
    if section and section.rows:
        lines += [f"### {section.title}", "", "| " + " | ".join(section.columns) + " |"]
        lines.append("|" + "---|" * len(section.columns))
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in section.rows]
        lines.append("")
    weak = segments.rows(report)
    if weak:
        lines += [
            f"### {segments.TITLE}",
            "",
            "| " + " | ".join(segments.columns(report)) + " |",
            "|" + "---|" * len(segments.columns(report)),
        ]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in weak]
        lines.append("")
    if not report.checks:
        return scrub("\n".join([*lines, f"<sub>generated {report.generated_at} by mlrel</sub>", ""]))
    lines += ["| status | check | value | limit | details | threshold from |", "|---|---|---:|---:|---|---|"]
    for check in report.ordered_checks():
        detail = check.message
        offenders = top_offenders(check, limit=5)
        if offenders and offenders not in detail:
            detail = f"{detail}; top: {offenders}"
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    ICONS[check.status],
                    f"`{check.name}`",
                    fmt_value(check, check.value),
                    fmt_value(check, check.threshold),
                    detail,
                    check.source or "",
                )
            )
            + " |"
        )
    lines += ["", f"<sub>generated {report.generated_at} by mlrel</sub>", ""]
    # control characters from the data (an ESC, a NUL) would colour a terminal or break a renderer
    return scrub("\n".join(lines))
