"""The Typer app: the root options, and every command registered from its module.

The command modules are plain functions (options in, the analysis called, a
report emitted) that know nothing of this app; the error handler and emit
they share are in cli/runtime.py. Registration order is the order of --help.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlrel_cli import __version__
from mlrel_cli.cli import compare, demo, drift, drill, init, postmortem, registry, retrain, rollback, rollout, validate
from mlrel_cli.cli.runtime import EXIT_USAGE, emit, error_line, errors_to_exit_codes  # noqa: F401 (their old home)

app = typer.Typer(
    name="mlrel",
    help="Reliability checks for machine-learning models in production.\n\n"
    "Exit codes: 0 pass, 1 check failed, 2 usage or input error, 3 inconclusive.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlrel {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """mlrel: validate, drift, compare, rollback, postmortem."""


app.command(epilog=compare.EPILOG)(compare.compare)
app.command(epilog=demo.EPILOG)(demo.demo)
app.command(epilog=drift.EPILOG)(drift.drift)
app.command(epilog=drill.EPILOG)(drill.drill)
app.command(epilog=init.EPILOG)(init.init)
app.command(epilog=postmortem.EPILOG)(postmortem.postmortem)
app.add_typer(registry.registry_app, name="registry")
app.command("retrain-set", epilog=retrain.EPILOG)(retrain.retrain_set)
app.command(epilog=rollback.EPILOG)(rollback.rollback)
app.command(epilog=rollout.EPILOG)(rollout.rollout)
app.command(epilog=validate.EPILOG)(validate.validate)


def main() -> None:
    app()
