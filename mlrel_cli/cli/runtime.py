"""What every command shares at run time: the one handler that turns errors into exit codes, and emit (cli/emit.py).

Exit codes: 0 pass (warnings allowed), 1 a check failed, 2 usage or bad input
(and any internal error: a crash must never read as a verdict), 3 inconclusive.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator

import typer

from mlrel_cli.cli.emit import emit, error_report  # noqa: F401 (emit: the commands import it from here)
from mlrel_cli.errors import MlrelError

EXIT_USAGE = 2


def error_line(text: str) -> None:
    """The one line on stderr; control characters from the data are shown escaped, never obeyed by the terminal."""
    from mlrel_cli.render.values import scrub

    typer.echo(f"error: {scrub(text)}", err=True)


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
        error_report(str(exc))
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
        message = f"internal error: {type(exc).__name__}: {exc}"
        error_report(message)
        error_line(f"{message} (run again with --debug for the traceback)")
        raise typer.Exit(EXIT_USAGE) from None
