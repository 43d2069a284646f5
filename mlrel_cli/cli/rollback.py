"""mlrel rollback: mitigation in one command, safe at 3 a.m."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

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
from mlrel_cli.cli.registry import actor_name, note_repair, resolve_registry
from mlrel_cli.cli.runtime import emit, errors_to_exit_codes

if TYPE_CHECKING:
    from mlrel_cli.policy import Rollback
    from mlrel_cli.registry.model import RollbackPlan

EPILOG = (
    'Example: mlrel rollback checkout-fraud --reason "conversion dropped after v42" --incident INC-2231 '
    "--registry samples/registry.yaml --yes"
)


def rollback(
    model: ModelArg,
    to: Annotated[
        str, typer.Option("--to", help="previous (last good production version), fallback, or a VERSION.")
    ] = "previous",
    reason: Annotated[str | None, typer.Option("--reason", help="Why: recorded in the history.")] = None,
    incident: Annotated[str | None, typer.Option("--incident", help="Incident id, such as INC-2231.")] = None,
    actor: ActorOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Allow a target that was rolled back before.")] = False,
    registry: RegistryOpt = None,
    policy: PolicyOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Move production back to the previous version (or the naive fallback), mark the replaced one
    rolled_back, and record who, when, why and for which incident."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.policy import Rollback, load_policy
        from mlrel_cli.registry import model as rules
        from mlrel_cli.registry.reports import rollback_report

        rules_of = load_policy(policy).rollback if policy is not None else Rollback()
        if not dry_run:
            _require_record(rules_of, reason, incident)
        started = rules.utc_now()  # production moved after this: someone else mitigated first
        report_ready(output, fmt, (registry, policy))
        reg = resolve_registry(registry, policy)
        plan = rules.plan_rollback(reg.read(model), model, to, force)
        note_repair(reg)
        opts = OutputOptions(fmt, output, quiet, no_color)
        if dry_run:
            emit(rollback_report(reg.location, plan, None, dry_run=True), opts, None)
        if not yes:
            _confirm(model, plan)
        change = rules.rollback_change(
            model,
            plan,
            to,
            force,
            confirmed_by_person=not yes,
            actor=actor_name(actor),
            reason=reason or "",
            incident=incident,
            started=started,
            settle_s=rules_of.settle.total_seconds(),
        )
        _record, event = reg.change(model, change)
        done = plan.model_copy(update={"from_version": event.from_version, "to_version": event.to_version})
        emit(rollback_report(reg.location, done, event, dry_run=False), opts, None)


def _require_record(rules: Rollback, reason: str | None, incident: str | None) -> None:
    """The options the policy's rollback rules make required: what the history and the post-mortem will need."""
    from mlrel_cli.errors import MlrelError

    if rules.require_reason and not reason:
        raise MlrelError("--reason is required: say why, for the history and the post-mortem")
    if rules.require_incident and not incident:
        raise MlrelError("--incident is required by the policy (rollback.require_incident)")


def _confirm(model: str, plan: RollbackPlan) -> None:
    """A person at a terminal says yes to this plan; anything else changes nothing."""
    from mlrel_cli.errors import MlrelError

    if not sys.stdin.isatty():
        raise MlrelError("refusing to roll back without confirmation: stdin is not a terminal; pass --yes")
    typer.echo(
        f"Roll {model} back from {plan.from_version} to {plan.to_version} ({plan.target_kind}, "
        f"last in production {plan.last_in_production or 'never'}, code {plan.code_version or 'unknown'})?",
        err=True,
    )
    if not typer.confirm("Proceed", default=False, err=True):
        raise MlrelError("rollback cancelled; nothing was changed")
