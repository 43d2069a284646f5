"""The terminal report (rich): the verdict first, the worst checks first, then the rest."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from mlrel_cli.payloads import table as payloads
from mlrel_cli.render import segments
from mlrel_cli.render.values import fmt_value, scrub, sparkline, top_offenders
from mlrel_cli.report import Check, Report, Status

STYLES = {
    Status.FAIL: "bold red",
    Status.INCONCLUSIVE: "bold magenta",
    Status.WARN: "yellow",
    Status.PASS: "green",
    Status.SKIPPED: "dim",
}
WINDOW_STYLES = {"fail": "red", "warn": "yellow", "inconclusive": "magenta", "pass": "green"}
# beyond this many checks, the passing ones are counted instead of listed (unless verbose)
MAX_ROWS = 25


def _short_time(value: object) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text[:16].replace("T", " ")


# below this width the details go under each check instead of in a column of their own
NARROW = 100


def _plain(value: object) -> Text:
    """A cell from the data: control characters escaped, so an ESC in a value cannot colour the line."""
    return Text(scrub(str(value).replace("\n", " ").replace("\t", " ")))


def _detail(check: Check) -> str:
    detail = check.message
    offenders = top_offenders(check, limit=3)
    if offenders and offenders not in detail:
        detail = f"{detail}; top: {offenders}"
    if check.details.get("onset") and "drifted from" not in detail and "since" not in detail:
        detail = f"{detail} since {_short_time(check.details['onset'])}"
    return detail


def _windows(check: Check, width: int) -> Text:
    scores = check.details.get("window_scores") if check.details else None
    if not scores:
        return Text("")
    threshold = check.threshold if isinstance(check.threshold, int | float) else None
    line = sparkline(scores, check.details.get("window_status", []), threshold, bool(check.details.get("is_test")), width=width)
    return Text.assemble(*((char, WINDOW_STYLES.get(status, "")) for char, status in line))


def build(report: Report, verbose: bool = False, width: int = 120) -> Group:
    """The verdict, then one row per check; narrower than ``NARROW`` columns, each check's details
    go on the lines under its name (the check column wraps), so rows never spill into 3-7 lines."""
    header = Text.assemble(
        (f" {report.status.value.upper()} ", STYLES[report.status] + " reverse"),
        "  ",
        (f"mlrel {report.command}", "bold"),
        _plain(f"  {report.summary}"),
    )
    checks = report.ordered_checks()
    shown = checks
    hidden = 0
    if not verbose and len(checks) > MAX_ROWS:
        shown = [c for c in checks if c.status not in (Status.PASS, Status.SKIPPED)]
        hidden = len(checks) - len(shown)
    parts: list[Any] = [header, Text("")]
    if shown:
        parts.append(_checks_table(shown, width))
    if hidden:
        parts.append(Text(f"{hidden} more checks passed or were skipped (--verbose lists them)", style="dim"))
    parts.extend(_command_tables(report))
    if not report.checks:
        return Group(*parts)
    tally = ", ".join(f"{n} {name}" for name, n in report.counts().items() if n)
    parts.append(Text(f"checks: {tally}", style="dim"))
    return Group(*parts)


def _checks_table(shown: list[Check], width: int) -> Table:
    with_windows = any(c.details.get("window_scores") for c in shown if c.details)
    narrow = width < NARROW
    spark_width = 16 if narrow else 32
    table = Table(show_header=True, header_style="bold", expand=False, pad_edge=False, box=None)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=not narrow, overflow="fold")
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("limit", justify="right", no_wrap=True)
    if with_windows:
        table.add_column("windows", no_wrap=True)
    if not narrow:
        table.add_column("details", overflow="fold")
    for check in shown:
        name = _plain(check.name)
        if narrow:
            name = Text.assemble(name, "\n", Text(_plain(_detail(check)).plain, style="dim"))
        cells = [
            Text(check.status.value, style=STYLES[check.status]),
            name,
            _plain(fmt_value(check, check.value)),
            _plain(fmt_value(check, check.threshold)),
        ]
        if with_windows:
            cells.append(_windows(check, spark_width))
        if not narrow:
            cells.append(_plain(_detail(check)))
        table.add_row(*cells)
    return table


def _titled(title: str, columns: Iterable[str], rows: Iterable[Iterable[Text]]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for cells in rows:
        table.add_row(*cells)
    return table


def _command_tables(report: Report) -> list[Table]:
    """The command's own table (registry show, drill, retrain-set) and the weak segments, under the checks."""
    out = []
    section: payloads.Table | None = report.sections.get("table")
    if section and section.rows:
        out.append(_titled(section.title, section.columns, ((_plain(cell) for cell in row) for row in section.rows)))
    weak = segments.rows(report)
    if weak:
        out.append(_titled(segments.TITLE, segments.columns(report), ((Text(cell) for cell in row) for row in weak)))
    return out


def render_text(report: Report, color: bool = False, width: int = 120, verbose: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
    )
    console.print(build(report, verbose=verbose, width=width))
    return buffer.getvalue()
