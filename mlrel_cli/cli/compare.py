"""mlrel compare: parse options, call analysis.compare, render."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from mlrel_cli.cli.common import load, outputs_ready
from mlrel_cli.cli.emit import rollback_hint
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
from mlrel_cli.cli.runtime import emit, errors_to_exit_codes


class Mode(StrEnum):
    canary = "canary"
    shadow = "shadow"


EPILOG = "Example: mlrel compare --log samples/incident.parquet --baseline v41 --candidate v42 -p configs/fraud.yaml"


def compare(
    log: Annotated[str | None, typer.Option("--log", help="One log with a model_version column.")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline version (with --log).")] = None,
    candidate: Annotated[list[str] | None, typer.Option("--candidate", help="Candidate version; repeat for several.")] = None,
    baseline_log: Annotated[str | None, typer.Option("--baseline-log", help="The baseline's own log.")] = None,
    candidate_log: Annotated[
        list[str] | None, typer.Option("--candidate-log", help="A candidate's own log; repeat for several.")
    ] = None,
    labels: Annotated[str | None, typer.Option("--labels", "-l", help="Late labels, joined on the id.")] = None,
    mode: Annotated[Mode | None, typer.Option("--mode", help="canary (different requests) or shadow (same requests).")] = None,
    policy: PolicyOpt = None,
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
    """Judge candidate models against the baseline: promote (exit 0), reject (1) or inconclusive (3)."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.alerting import plan as plan_alerting
        from mlrel_cli.analysis.compare import compare_logs, inputs_of
        from mlrel_cli.errors import MlrelError
        from mlrel_cli.logs import open_log

        if log is not None and (baseline_log is not None or candidate_log):
            raise MlrelError("give either --log (with --baseline/--candidate) or --baseline-log/--candidate-log")
        loaded = load(policy)
        history_file = outputs_ready(
            output, history, loaded, policy, (log, baseline_log, *(candidate_log or []), labels), force, fmt
        )
        alerting = plan_alerting(loaded, list(notify or []), pushgateway, history_file)
        one_log = open_log(log, "log") if log is not None else None
        base_log = open_log(baseline_log, "baseline log") if baseline_log is not None else None
        cand_logs = [open_log(p, "candidate log") for p in candidate_log or []]
        label_log = open_log(labels, "labels file") if labels is not None else None
        inputs = inputs_of(one_log, base_log, cand_logs, label_log)
        chosen = mode.value if mode else None
        report = compare_logs(
            loaded, one_log, baseline, list(candidate or []), base_log, cand_logs, label_log, chosen, inputs, engine, scheduler
        )
        opts = OutputOptions(fmt, output, quiet, no_color, verbose, alerting=alerting, force=force, inconclusive=inconclusive)
        emit(report, opts, history_file, rollback_hint(loaded.model))
