"""The output step every report command shares: render, write, print, exit; and the error report of a failed run.

A run that asked for a machine format (``--format json|junit`` or ``-o report.xml``) always leaves
an artifact in that format: the report, or on an input error (exit 2) an error report, never a stale
or empty file that a CI would publish as the last green run.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlrel_cli.cli.options import Format, Gate, OutputOptions

if TYPE_CHECKING:
    from mlrel_cli.report import Report

STARTED = time.monotonic()
# with no terminal anywhere (a CI log, cron mail) lines may be long: such logs are read wide
NO_TERMINAL_WIDTH = 120
MACHINE_FORMATS = ("json", "junit", "openmetrics")
NOT_REPORT_OUTPUTS = ("init", "retrain-set", "demo")
GATE_EXITS = {Gate.passes: 0, Gate.fails: 1, Gate.exit3: 3}


def terminal_width() -> int:
    """The width to lay tables out for: stdout's terminal, else COLUMNS, else stderr's terminal (``| less``)."""
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        columns_of_stderr = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return NO_TERMINAL_WIDTH
    return columns_of_stderr or NO_TERMINAL_WIDTH  # a terminal that reports no size (0)


def file_format(output: Path, fmt: StrEnum | None) -> str:
    """The format of ``-o``: its suffix, else ``--format``; an unknown suffix without ``--format`` is an error."""
    from mlrel_cli.errors import OutputError
    from mlrel_cli.render import SUFFIXES

    suffix = output.suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if fmt is not None:
        return fmt.value
    known = " ".join(sorted(SUFFIXES))
    raise OutputError(f"unknown report suffix {suffix or '(none)'!r}: use one of {known} or give --format", str(output))


def report_ready(output: Path | None, fmt: Format | None, inputs: tuple[object, ...] = (), force: bool = False) -> None:
    """Check ``-o`` before a command changes anything (a registry): a bad output must not follow a rollback."""
    if output is None:
        return
    from mlrel_cli import outputs

    file_format(output, fmt)
    outputs.plan(output, "report", tuple(str(i) for i in inputs if i is not None), force)


def emit(
    report: Report, opts: OutputOptions, history: Path | None, next_step: Callable[[Report], str | None] | None = None
) -> None:
    """Render, write the report file and the history line, print, and exit with the report's code.

    ``next_step`` gives the one obvious next command for this verdict, if there is one: shown dim
    under the table on a terminal only, never in JSON, JUnit or piped output."""
    from mlrel_cli import outputs
    from mlrel_cli.render import render, verdict_line
    from mlrel_cli.render.json import render_line

    if opts.alerting is not None:
        from mlrel_cli.alerting import alert, failures

        report = alert(report, opts.alerting, history)
        for line in failures(report):
            typer.echo(f"warning: {line}", err=True)
    changes: dict[str, Any] = {"duration_s": round(time.monotonic() - STARTED, 3)}
    if opts.inconclusive is not None:
        changes["inconclusive_exit"] = GATE_EXITS[opts.inconclusive]
    report = dataclasses.replace(report, **changes)
    for note in report.sections.get("notes", ()):
        typer.echo(f"note: {note}", err=True)
    fmt = (opts.fmt or Format.table).value
    target = file_text = None
    if opts.output is not None:
        target = outputs.plan(opts.output, "report", force=opts.force)
        file_text = render(report, file_format(opts.output, opts.fmt))
    # an explicit machine format wins over --quiet: a script asked for JSON and must get it
    quiet = opts.quiet and fmt not in MACHINE_FORMATS
    stdout_text = None if fmt == "table" or quiet else render(report, fmt)
    history_line = render_line(report) if history is not None else None

    if target is not None and file_text is not None:
        for note in outputs.write_text(target, file_text):
            typer.echo(f"note: {note}", err=True)
    if history is not None and history_line is not None:
        outputs.append_history(history, history_line)

    if quiet:
        typer.echo(verdict_line(report))
    elif stdout_text is not None:
        typer.echo(stdout_text, nl=False)
    else:
        from rich.console import Console

        from mlrel_cli.render.table import build

        console = Console(
            no_color=not opts.color,
            force_terminal=opts.color or None,
            highlight=False,
            width=terminal_width(),
            soft_wrap=False,
        )
        console.print(build(report, verbose=opts.verbose, width=console.width))
        hint = next_step(report) if next_step is not None and sys.stdout.isatty() else None
        if hint:
            console.print(f"next: {hint}", style="dim", markup=False, highlight=False)
    raise typer.Exit(report.exit_code)


def rollback_hint(model: str | None) -> Callable[[Report], str | None]:
    """After compare rejects: the command that takes the candidate out of production."""

    def hint(report: Report) -> str | None:
        if report.exit_code != 1:
            return None
        return "mlrel " + shlex.join(["rollback", model or "MODEL", "--reason", "compare rejected the candidate"])

    return hint


def drift_hint(window: str | None, output: Path | None) -> Callable[[Report], str | None]:
    """After drift fails: since when (the window option), or the charts (the HTML report)."""

    def hint(report: Report) -> str | None:
        if report.exit_code != 1:
            return None
        args = [a for a in sys.argv[1:] if a not in ("--no-color",)]
        if window is None:
            return "since when: mlrel " + shlex.join([*args, "--window", "1h"])
        if output is None or output.suffix.lower() not in (".html", ".htm"):
            return "the charts: mlrel " + shlex.join([*args, "-o", "drift.html"])
        return None

    return hint


def error_report(message: str) -> None:
    """After an input error, leave the machine-format artifact the run was asked for: an error report.

    Reads the options of the command being run (``--format``, ``-o``); the file is written only where
    a report may go (not an input, not read-only), so the error about the output itself writes nothing.
    """
    from mlrel_cli.cli.options import click_module
    from mlrel_cli.errors import MlrelError

    ctx = click_module().globals.get_current_context(silent=True)
    if ctx is None or ctx.command is None:
        return
    params = ctx.params
    command = ctx.command_path.removeprefix("mlrel ").strip() or ctx.info_name or "mlrel"
    fmt = params.get("fmt")
    fmt_value = getattr(fmt, "value", fmt)
    output = params.get("output")
    from mlrel_cli.render.errors import render_error

    # init's -o is a policy and retrain-set's a training set: never replaced by an error report
    if isinstance(output, Path) and ctx.info_name not in NOT_REPORT_OUTPUTS:
        try:
            from mlrel_cli import outputs
            from mlrel_cli.render import FORMATS, SUFFIXES

            out_fmt = SUFFIXES.get(output.suffix.lower()) or (fmt_value if fmt_value in FORMATS else None)
            # machine formats only: a CI publishes those, while a Markdown or HTML file may be a person's draft
            if out_fmt in MACHINE_FORMATS:
                # every path named on the command line but the output is an input, checked or not yet
                inputs = [str(v) for name, v in params.items() if name != "output" for v in _paths(v)]
                target = outputs.plan(output, "report", inputs, force=bool(params.get("force")))
                outputs.write_text(target, render_error(command, message, out_fmt))
        except (MlrelError, ImportError):  # the output is itself the problem, or openmetrics lacks its library
            pass
    if fmt_value in MACHINE_FORMATS:
        try:
            text = render_error(command, message, fmt_value)
        except ImportError:  # openmetrics without prometheus_client: the error line says what to install
            return
        typer.echo(text, nl=False)


def _paths(value: object) -> list[object]:
    if isinstance(value, str | Path):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str | Path)]
    return []
