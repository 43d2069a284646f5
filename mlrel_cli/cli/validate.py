"""mlrel validate: parse options, call analysis.validate, render."""

from __future__ import annotations

from typing import Annotated

import typer

from mlrel_cli.cli.common import load, outputs_ready, parse_time
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

EPILOG = (
    "Example: mlrel validate samples/current.parquet --reference samples/reference.parquet "
    "--labels samples/labels.parquet -p configs/fraud.yaml --now 2026-11-24T23:59:00Z -o report.json"
)


def validate(
    log: Annotated[str, typer.Argument(metavar="LOG", help="Prediction log: a Parquet file, a directory of them, or a glob.")],
    policy: PolicyOpt = None,
    reference: Annotated[str | None, typer.Option("--reference", "-r", help="Reference log: ranges, categories, schema.")] = None,
    labels: Annotated[str | None, typer.Option("--labels", "-l", help="Late labels (Parquet with id and label columns).")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Judge freshness as of this ISO-8601 time [default: now].")] = None,
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
    """Check a prediction log: schema, missing values, ranges, categories, ids, labels,
    prediction sanity, volume, freshness, downtime, latency, performance and fairness."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.alerting import plan as plan_alerting
        from mlrel_cli.analysis.validate import validate as run_validate
        from mlrel_cli.facts.profile_log import open_reference
        from mlrel_cli.logs import open_log

        as_of = parse_time(now, "--now")
        loaded = load(policy)
        history_file = outputs_ready(output, history, loaded, policy, (log, reference, labels), force, fmt)
        alerting = plan_alerting(loaded, list(notify or []), pushgateway, history_file)
        current = open_log(log, "log")
        ref = open_reference(reference, "reference", loaded) if reference is not None else None
        label_log = open_log(labels, "labels file") if labels is not None else None
        with progress("validate", quiet) as step:
            report = run_validate(
                current, loaded, reference=ref, labels=label_log, now=as_of, progress=step, engine=engine, scheduler=scheduler
            )
        opts = OutputOptions(fmt, output, quiet, no_color, verbose, alerting=alerting, force=force, inconclusive=inconclusive)
        emit(report, opts, history_file)
