"""mlrel registry ...: show, history, register, promote, set-fallback, record, repair."""

from __future__ import annotations

import getpass
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlrel_cli.cli.emit import report_ready
from mlrel_cli.cli.options import (
    ActorOpt,
    DebugOpt,
    FormatOpt,
    ModelArg,
    NoColorOpt,
    OutputOpt,
    OutputOptions,
    PolicyOpt,
    QuietOpt,
    RegistryOpt,
)
from mlrel_cli.cli.runtime import emit, errors_to_exit_codes

registry_app = typer.Typer(
    help="Record and inspect model versions and every change to what serves traffic.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class Stage(StrEnum):
    canary = "canary"
    production = "production"


def actor_name(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return os.environ.get("MLREL_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def note_repair(reg: object) -> None:
    """Say so on stderr when a command rolled the file registry forward from its ledger (a killed change)."""
    repaired = getattr(reg, "repaired", None)
    if repaired is not None and repaired.needed:
        typer.echo(f"note: {repaired.describe()}", err=True)


def resolve_registry(option: str | None, policy_path: Path | None):
    """--registry, else the policy's registry: (relative to the policy file), else ./registry.yaml."""
    from mlrel_cli.registry import open_registry

    if option:
        return open_registry(option)
    if policy_path is not None:
        from mlrel_cli.policy import load_policy

        policy = load_policy(policy_path)
        if policy.registry:
            location = policy.registry
            if "://" not in location and not Path(location).is_absolute():
                location = str(policy_path.parent / location)
            return open_registry(location)
    return open_registry("registry.yaml")


@registry_app.command("show", epilog="Example: mlrel registry show checkout-fraud --registry samples/registry.yaml")
def show(
    model: ModelArg,
    registry: RegistryOpt = None,
    policy: PolicyOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Which version serves production, the fallback, the canary, and every version."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.registry.reports import show_report

        reg = resolve_registry(registry, policy)
        record = reg.read(model)
        note_repair(reg)
        emit(show_report(reg.location, model, record), OutputOptions(fmt, output, quiet, no_color), None)


@registry_app.command(
    "history",
    epilog="Example: mlrel registry history checkout-fraud --registry samples/registry.yaml --since 2026-11-25T00:00:00Z",
)
def history(
    model: ModelArg,
    since: Annotated[
        str | None, typer.Option("--since", help="Only events after this: a duration (7d, 12h) or an ISO time.")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Only recorded changes of this kind (code, config, data, feature, rule, infra, "
            "flag; model for version events); repeat for several.",
        ),
    ] = None,
    registry: RegistryOpt = None,
    policy: PolicyOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """The append-only history of change events: registrations, promotions, rollbacks, recorded changes."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.errors import MlrelError
        from mlrel_cli.registry.model import CHANGE_KINDS
        from mlrel_cli.registry.reports import history_report

        for name in kind or []:
            if name not in (*CHANGE_KINDS, "model"):
                raise MlrelError(f"--kind '{name}' is not one of {', '.join(CHANGE_KINDS)}, model")
        reg = resolve_registry(registry, policy)
        record = reg.read(model)
        note_repair(reg)
        emit(
            history_report(reg.location, model, record, _since(since), list(kind or [])),
            OutputOptions(fmt, output, quiet, no_color),
            None,
        )


def _since(text: str | None) -> str | None:
    import datetime as dt

    from mlrel_cli.cli.common import parse_time
    from mlrel_cli.durations import parse_duration

    if text is None:
        return None
    moment: dt.datetime | None
    try:
        moment = dt.datetime.now(dt.UTC) - parse_duration(text)
    except ValueError:
        moment = parse_time(text, "--since")
        assert moment is not None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@registry_app.command(
    "register",
    epilog="Example: mlrel registry register checkout-fraud v43 --artifact s3://models/checkout-fraud/v43 "
    "--registry samples/registry.yaml",
)
def register(
    model: Annotated[str, typer.Argument(help="Model name (created if new).")],
    version: Annotated[str, typer.Argument(help="Version name, such as v42.")],
    artifact: Annotated[str, typer.Option("--artifact", help="Where the model artifact lives (URI).")],
    code_version: Annotated[
        str | None, typer.Option("--code-version", help="Git sha or image of the code that built it.")
    ] = None,
    config: Annotated[str | None, typer.Option("--config", help="Reference to its training config.")] = None,
    actor: ActorOpt = None,
    registry: RegistryOpt = None,
    policy: PolicyOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Record a new version as a candidate."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.registry import model as rules
        from mlrel_cli.registry.reports import change_report

        report_ready(output, fmt, (registry, policy))  # before the change: a bad -o must not follow it
        reg = resolve_registry(registry, policy)
        who = actor_name(actor)
        record, event = reg.change(
            model,
            lambda rec: rules.register(rec, model, version, artifact, code_version, config, who, rules.utc_now()),
            create=True,
        )
        note_repair(reg)
        summary = f"registered {model} {version} as a candidate."
        emit(
            change_report("registry register", reg.location, model, record, event, summary),
            OutputOptions(fmt, output, quiet, no_color),
            None,
        )


@registry_app.command(
    "promote",
    epilog="Example: mlrel registry promote checkout-fraud v41 --stage canary --traffic 0.05 --registry samples/registry.yaml",
)
def promote(
    model: ModelArg,
    version: Annotated[str, typer.Argument(help="Version to promote.")],
    stage: Annotated[Stage, typer.Option("--stage", help="canary (a share of traffic) or production.")] = Stage.production,
    traffic: Annotated[
        float | None, typer.Option("--traffic", min=0.0, max=1.0, help="The canary's share of traffic, 0-1.")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote a version that was rolled back.")] = False,
    actor: ActorOpt = None,
    registry: RegistryOpt = None,
    policy: PolicyOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Move a version to canary (with its traffic share, step by step) or to production."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.errors import MlrelError
        from mlrel_cli.registry import model as rules
        from mlrel_cli.registry.reports import change_report

        if stage == Stage.production and traffic is not None:
            raise MlrelError("--traffic applies to --stage canary only (production takes all traffic)")
        report_ready(output, fmt, (registry, policy))  # before the change: a bad -o must not follow it
        reg = resolve_registry(registry, policy)
        who = actor_name(actor)
        record, event = reg.change(
            model,
            lambda rec: rules.promote(rec, model, version, stage.value, traffic, who, rules.utc_now(), reason, force),
        )
        note_repair(reg)
        share = f" at {traffic:.0%} of traffic" if traffic is not None else ""
        summary = f"promoted {model} {version} to {stage.value}{share}."
        emit(
            change_report("registry promote", reg.location, model, record, event, summary),
            OutputOptions(fmt, output, quiet, no_color),
            None,
        )


@registry_app.command(
    "set-fallback", epilog="Example: mlrel registry set-fallback checkout-fraud v41 --registry samples/registry.yaml"
)
def set_fallback(
    model: ModelArg,
    version: Annotated[str, typer.Argument(help="The naive fallback version.")],
    actor: ActorOpt = None,
    registry: RegistryOpt = None,
    policy: PolicyOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Name the naive fallback model that `mlrel rollback --to fallback` switches to."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.registry import model as rules
        from mlrel_cli.registry.reports import change_report

        report_ready(output, fmt, (registry, policy))  # before the change: a bad -o must not follow it
        reg = resolve_registry(registry, policy)
        who = actor_name(actor)
        record, event = reg.change(model, lambda rec: rules.set_fallback(rec, model, version, who, rules.utc_now()))
        note_repair(reg)
        emit(
            change_report("registry set-fallback", reg.location, model, record, event, f"{model} falls back to {version}."),
            OutputOptions(fmt, output, quiet, no_color),
            None,
        )


class Kind(StrEnum):
    code = "code"
    config = "config"
    data = "data"
    feature = "feature"
    rule = "rule"
    infra = "infra"
    flag = "flag"


@registry_app.command(
    "record",
    epilog='Example: mlrel registry record checkout-fraud --kind config --what "fraud threshold 0.7 -> 0.6" '
    '--ref https://git.example/cfg/pull/88 --revert "set threshold back to 0.7"',
)
def record(
    model: Annotated[str, typer.Argument(help="Model name the change affects (created if new).")],
    kind: Annotated[Kind, typer.Option("--kind", help="What changed: code, config, data, feature, rule, infra, flag.")],
    what: Annotated[str, typer.Option("--what", help="What changed, in words.")],
    ref: Annotated[str | None, typer.Option("--ref", help="Commit sha, pull request or ticket URL.")] = None,
    revert: Annotated[str | None, typer.Option("--revert", help="How to undo it (shown in post-mortems).")] = None,
    at: Annotated[str | None, typer.Option("--at", help="When it took effect (ISO time) [default: now].")] = None,
    actor: ActorOpt = None,
    registry: RegistryOpt = None,
    policy: PolicyOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Record a change that is not a model version (a deploy, a config, a rule, a flag) in the model's history."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.registry import model as rules
        from mlrel_cli.registry.reports import change_report

        when = _since_time(at) if at else rules.utc_now()
        reg = resolve_registry(registry, policy)
        who = actor_name(actor)
        rec, event = reg.change(
            model,
            lambda r: rules.record_change(r, kind.value, what, ref, revert, who, when, rules.utc_now()),
            create=True,
        )
        note_repair(reg)
        emit(
            change_report(
                "registry record",
                reg.location,
                model,
                rec,
                event,
                f"recorded a {kind.value} change for {model} at {when}: {what}.",
            ),
            OutputOptions(fmt, output, quiet, no_color),
            None,
        )


def _since_time(text: str) -> str:
    import datetime as dt

    from mlrel_cli.cli.common import parse_time

    moment = parse_time(text, "--at")
    assert moment is not None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@registry_app.command("repair", epilog="Example: mlrel registry repair --registry samples/registry.yaml")
def repair(
    registry: RegistryOpt = None,
    policy: PolicyOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Roll the registry forward from its history ledger after a killed change, and say what was done."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.registry.reports import repair_report

        reg = resolve_registry(registry, policy)
        done = reg.repair()
        emit(repair_report(reg.location, done.describe(), done.needed), OutputOptions(fmt, output, quiet, no_color), None)
