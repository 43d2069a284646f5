"""mlrel drift: parse options, call analysis.drift, render."""

from __future__ import annotations

from typing import Annotated

import typer

from mlrel_cli.cli.common import load, outputs_ready
from mlrel_cli.cli.emit import drift_hint
from mlrel_cli.cli.options import (
    DebugOpt,
    EngineOpt,
    ForceOpt,
    FormatOpt,
    HistoryOpt,
    InconclusiveOpt,
    NoColorOpt,
    NotifyOpt,
    OutputOpt,
    OutputOptions,
    PolicyOpt,
    PushgatewayOpt,
    QuietOpt,
    SchedulerOpt,
    VerboseOpt,
)
from mlrel_cli.cli.progress import progress
from mlrel_cli.cli.runtime import emit, errors_to_exit_codes
from mlrel_cli.errors import MlrelError

EPILOG = (
    "Example: mlrel drift --reference samples/reference.parquet --current samples/incident.parquet "
    "-p configs/fraud.yaml --window 15m"
)


def drift(
    reference: Annotated[str, typer.Option("--reference", "-r", help="Reference log (what the model learned from).")],
    current: Annotated[str, typer.Option("--current", "-c", help="Current log (production).")],
    policy: PolicyOpt = None,
    window: Annotated[str | None, typer.Option("--window", "-w", help="Cut the current log by time: 15m, 1h, 1d.")] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", "-l", help="Late labels of the current log, for label and concept drift.")
    ] = None,
    engine: EngineOpt = None,
    scheduler: SchedulerOpt = None,
    history: HistoryOpt = None,
    notify: NotifyOpt = None,
    pushgateway: PushgatewayOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    inconclusive: InconclusiveOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """How far production moved from the reference: per feature, prediction, label and metric, and since when."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.alerting import plan as plan_alerting
        from mlrel_cli.analysis.drift import drift as run_drift
        from mlrel_cli.durations import parse_duration
        from mlrel_cli.facts.profile_log import open_reference
        from mlrel_cli.logs import open_log

        width = None
        if window is not None:
            try:
                width = parse_duration(window)
            except ValueError as exc:
                raise MlrelError(f"--window: {exc}") from None
        loaded = load(policy)
        history_file = outputs_ready(output, history, loaded, policy, (reference, current, labels), force, fmt)
        alerting = plan_alerting(loaded, list(notify or []), pushgateway, history_file)
        ref = open_reference(reference, "reference", loaded)
        cur = open_log(current, "current log")
        label_log = open_log(labels, "labels file") if labels is not None else None
        with progress("drift", quiet) as step:
            report = run_drift(
                ref, cur, loaded, window=width, labels=label_log, progress=step, engine=engine, scheduler=scheduler
            )
        emit(
            report,
            OutputOptions(fmt, output, quiet, no_color, verbose, alerting=alerting, force=force, inconclusive=inconclusive),
            history_file,
            drift_hint(window, output),
        )
