"""mlrel profile LOG -o FILE (build), mlrel profile show FILE, mlrel profile merge A B ... -o C."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlrel_cli.cli.options import DebugOpt, EngineOpt, PolicyOpt, SchedulerOpt
from mlrel_cli.cli.runtime import errors_to_exit_codes
from mlrel_cli.errors import MlrelError

EPILOG = "Example: mlrel profile build samples/reference.parquet -p configs/fraud.yaml -o ref.mlrel-profile"


class _BuildByDefault(TyperGroup):
    """``mlrel profile LOG ...`` is ``mlrel profile build LOG ...``: a log is not a subcommand's name."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


profile_app = typer.Typer(
    cls=_BuildByDefault,
    help="Summarise a reference log once (mlrel profile LOG -o FILE); show and merge profiles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

OutOpt = Annotated[str, typer.Option("--output", "-o", help="The profile file to write.")]
OverwriteOpt = Annotated[bool, typer.Option("--force", help="Replace an existing file at --output.")]


def _ready(output: str, force: bool, inputs: tuple[str | None, ...]) -> None:
    """Before any work, the rules of every output (docs/reports.md): never an input (not even with --force), not a
    directory, its folder exists; and an existing file only with --force."""
    import os

    from mlrel_cli import outputs

    outputs.plan(output, "profile", inputs, force=force)
    if os.path.exists(output) and not force:
        raise MlrelError(f"--output: {output} exists (give --force to replace it)")


@profile_app.command("build", epilog=EPILOG)
def build(
    log: Annotated[str, typer.Argument(help="Reference log: Parquet file, directory or glob.")],
    output: OutOpt,
    labels: Annotated[str | None, typer.Option("--labels", "-l", help="Late labels of the reference.")] = None,
    policy: PolicyOpt = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Keep each column's exact sorted values (scores equal the raw reference's).")
    ] = False,
    force: OverwriteOpt = False,
    engine: EngineOpt = None,
    scheduler: SchedulerOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Summarise a reference log into a profile --reference takes (`mlrel profile LOG -o FILE` is the same)."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.analysis.profile import profile_log
        from mlrel_cli.cli.common import load
        from mlrel_cli.facts.profile import write_profile
        from mlrel_cli.logs import open_log

        loaded = load(policy)
        _ready(output, force, (log, labels, str(policy) if policy else None, *loaded.files))
        ref = open_log(log, "reference")
        label_log = open_log(labels, "labels file") if labels is not None else None
        built = profile_log(ref, loaded, label_log, exact=exact, engine=engine, scheduler=scheduler)
        write_profile(built, output)
        typer.echo(f"wrote {output}", err=True)


@profile_app.command("show", epilog="Example: mlrel profile show samples/reference.mlrel-profile")
def show(
    file: Annotated[str, typer.Argument(help="A profile file.")],
    as_json: Annotated[bool, typer.Option("--json", help="The metadata and per-column figures as JSON.")] = False,
    debug: DebugOpt = False,
) -> None:
    """What a profile holds: its metadata and one line per column."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.facts.profile import read_profile
        from mlrel_cli.facts.profile_merge import describe

        _refuse_unless_profile(file)
        typer.echo(describe(read_profile(file), as_json))


@profile_app.command(
    "merge",
    epilog="Example: mlrel profile merge samples/reference.mlrel-profile samples/reference.mlrel-profile -o twice.mlrel-profile",
)
def merge(
    files: Annotated[list[str], typer.Argument(help="Profiles built with the same policy and mode.")],
    output: OutOpt,
    force: OverwriteOpt = False,
    debug: DebugOpt = False,
) -> None:
    """One profile of several (seven daily ones into a weekly reference): counts exact, sketches within their bound."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.facts.profile import read_profile, write_profile
        from mlrel_cli.facts.profile_merge import merge_profiles

        if len(files) < 2:
            raise MlrelError("merge needs at least two profiles")
        for file in files:
            _refuse_unless_profile(file)
        _ready(output, force, tuple(files))
        write_profile(merge_profiles([read_profile(f) for f in files], files), output)
        typer.echo(f"wrote {output}", err=True)


def _refuse_unless_profile(file: str) -> None:
    """One line saying what the file is instead: missing, a directory, or no profile."""
    import os

    from mlrel_cli.facts.profile import is_profile
    from mlrel_cli.logs import filesystem_of

    if is_profile(file):
        return
    local = filesystem_of(file)[0] is None
    if local and not os.path.exists(file):
        raise MlrelError("profile not found", file)
    if local and os.path.isdir(file):
        raise MlrelError("a directory, not a profile file", file)
    raise MlrelError("not an mlrel profile (no mlrel.profile metadata: a log, a truncated file or another file)", file)
