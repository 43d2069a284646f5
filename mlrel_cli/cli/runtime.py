"""What every command shares at run time: the one handler that turns errors into exit codes, and emit.

Exit codes: 0 pass (warnings allowed), 1 a check failed, 2 usage or bad input
(and any internal error: a crash must never read as a verdict), 3 inconclusive.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlrel_cli.cli.options import Format, OutputOptions
from mlrel_cli.errors import MlrelError

if TYPE_CHECKING:
    from mlrel_cli.report import Report

EXIT_USAGE = 2


def error_line(text: str) -> None:
    typer.echo(f"error: {text}", err=True)


@contextlib.contextmanager
def errors_to_exit_codes(debug: bool) -> Iterator[None]:
    """Bad input -> one 'error:' line and exit 2; a crash -> exit 2 too, with the traceback under --debug."""
    try:
        yield
    except typer.Exit:
        raise
    except MlrelError as exc:
        if debug:
            traceback.print_exc()
        error_line(str(exc))
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        error_line("interrupted; nothing was written")
        raise typer.Exit(130) from None
    except MemoryError:
        error_line("out of memory (try a smaller window or fewer columns)")
        raise typer.Exit(EXIT_USAGE) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        error_line(f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)")
        raise typer.Exit(EXIT_USAGE) from None


def emit(report: Report, opts: OutputOptions, history: Path | None) -> None:
    """Render, write the report file and the history line, print, and exit with the report's code."""
    from mlrel_cli.outputs import append_history, write_atomic
    from mlrel_cli.render import format_for_path, render, verdict_line
    from mlrel_cli.render.json import render_line

    fmt = (opts.fmt or Format.table).value
    file_text = None
    if opts.output is not None:
        file_fmt = format_for_path(str(opts.output), opts.fmt.value if opts.fmt else "json")
        file_text = render(report, file_fmt)
    stdout_text = None if fmt == "table" or opts.quiet else render(report, fmt)
    history_line = render_line(report) if history is not None else None

    if opts.output is not None and file_text is not None:
        write_atomic(opts.output, file_text)
    if history is not None and history_line is not None:
        append_history(history, history_line)

    if opts.quiet:
        typer.echo(verdict_line(report))
    elif stdout_text is not None:
        typer.echo(stdout_text, nl=False)
    else:
        from rich.console import Console

        from mlrel_cli.render.table import build

        width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
        console = Console(
            no_color=not opts.color,
            force_terminal=opts.color or None,
            highlight=False,
            width=width or shutil.get_terminal_size().columns,
            soft_wrap=False,
        )
        console.print(build(report, verbose=opts.verbose, width=console.width))
    raise typer.Exit(report.exit_code)
