"""The Typer app: the root options, and every command registered from its module.

The command modules are plain functions (options in, the analysis called, a
report emitted) that know nothing of this app; the error handler and emit
they share are in cli/runtime.py. Registration order is the order of --help.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from mlrel_cli.cli import compare, demo, drift, drill, init, postmortem, profile, registry, retrain, rollback, rollout, validate
from mlrel_cli.cli.runtime import EXIT_USAGE, emit, error_line, errors_to_exit_codes  # noqa: F401 (their old home)

app = typer.Typer(
    name="mlrel",
    help="Reliability checks for machine-learning models in production.\n\n"
    "Exit codes: 0 pass, 1 check failed, 2 usage or input error, 3 inconclusive.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,  # our own --show-completion/--install-completion, which honour the SHELL given
    rich_markup_mode=None,
)


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"
    pwsh = "pwsh"


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("mlrel")
        except PackageNotFoundError:
            installed = "unknown (not installed as a package)"
        typer.echo(f"mlrel {installed}")
        raise typer.Exit(0)


def _show_completion(value: Shell | None) -> None:
    if value is not None:
        from typer._completion_shared import get_completion_script

        typer.echo(get_completion_script(prog_name="mlrel", complete_var="_MLREL_COMPLETE", shell=value.value))
        raise typer.Exit(0)


def _install_completion(value: Shell | None) -> None:
    if value is not None:
        from typer._completion_shared import install

        shell, path = install(shell=value.value, prog_name="mlrel", complete_var="_MLREL_COMPLETE")
        typer.echo(f"{shell} completion installed in {path}; it takes effect in a new shell")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    show_completion: Annotated[
        Shell | None,
        typer.Option(
            "--show-completion",
            metavar="SHELL",
            callback=_show_completion,
            is_eager=True,
            help="Print SHELL's completion script.",
        ),
    ] = None,
    install_completion: Annotated[
        Shell | None,
        typer.Option(
            "--install-completion",
            metavar="SHELL",
            callback=_install_completion,
            is_eager=True,
            help="Install completion for SHELL.",
        ),
    ] = None,
) -> None:
    """mlrel: validate, drift, compare, rollback, postmortem."""


app.command(epilog=compare.EPILOG)(compare.compare)
app.command(epilog=demo.EPILOG)(demo.demo)
app.command(epilog=drift.EPILOG)(drift.drift)
app.command(epilog=drill.EPILOG)(drill.drill)
app.command(epilog=init.EPILOG)(init.init)
app.command(epilog=postmortem.EPILOG)(postmortem.postmortem)
app.add_typer(profile.profile_app, name="profile")
app.add_typer(registry.registry_app, name="registry")
app.command("retrain-set", epilog=retrain.EPILOG)(retrain.retrain_set)
app.command(epilog=rollback.EPILOG)(rollback.rollback)
app.command(epilog=rollout.EPILOG)(rollout.rollout)
app.command(epilog=validate.EPILOG)(validate.validate)


def main() -> None:
    """Run the app; click's usage errors (a missing argument, a bad choice) become the one ``error:`` line too."""
    from mlrel_cli.cli.options import click_module

    click = click_module()
    if "_MLREL_COMPLETE" in os.environ:  # the shell asks for completions: typer's shell classes answer
        from typer.completion import completion_init

        completion_init()
    try:
        code = app(standalone_mode=False, prog_name="mlrel")
    except click.exceptions.NoArgsIsHelpError as exc:
        typer.echo(exc.format_message(), err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        error_line(" ".join(exc.format_message().split()).rstrip(".") + hint)
        sys.exit(EXIT_USAGE)
    except typer.Abort:
        error_line("interrupted; nothing was written")
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        error_line(" ".join(exc.format_message().split()))
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
