"""mlrel rollout: one step of a gradual rollout, judged from the canary log; meant for cron or a CI loop."""

from __future__ import annotations

from typing import Annotated

import typer

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

EPILOG = (
    "Example: mlrel rollout checkout-fraud --candidate v42 --log samples/incident.parquet --labels samples/labels.parquet "
    "-p configs/fraud.yaml --registry samples/registry.yaml --dry-run"
)


def rollout(
    model: ModelArg,
    candidate: Annotated[str, typer.Option("--candidate", help="The version being rolled out.")],
    log: Annotated[str, typer.Option("--log", help="Canary log: both versions' predictions, with model_version.")],
    labels: Annotated[str | None, typer.Option("--labels", "-l", help="Late labels, joined on the id.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the decision; record nothing.")] = False,
    actor: ActorOpt = None,
    registry: RegistryOpt = None,
    policy: PolicyOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Judge the current rollout step and record the decision: advance or promote (exit 0), hold (3), reject (1)."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.cli.common import load
        from mlrel_cli.logs import open_log
        from mlrel_cli.rollout import rollout_step

        loaded = load(policy)
        reg = resolve_registry(registry, policy)
        report = rollout_step(
            reg,
            model,
            candidate,
            open_log(log, "canary log"),
            open_log(labels, "labels file") if labels else None,
            loaded,
            actor_name(actor),
            dry_run,
        )
        note_repair(reg)
        emit(report, OutputOptions(fmt, output, quiet, no_color), None)
