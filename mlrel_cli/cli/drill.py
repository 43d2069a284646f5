"""mlrel drill: parse options, call analysis.drill, render."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from mlrel_cli.cli.common import load, outputs_ready, parse_time
from mlrel_cli.cli.options import (
    DebugOpt,
    FormatOpt,
    HistoryOpt,
    NoColorOpt,
    OutputOpt,
    OutputOptions,
    PolicyOpt,
    QuietOpt,
    VerboseOpt,
)
from mlrel_cli.cli.progress import progress
from mlrel_cli.cli.runtime import emit, errors_to_exit_codes
from mlrel_cli.errors import MlrelError

EPILOG = (
    "Example: mlrel drill --log samples/current.parquet --labels samples/labels.parquet "
    "--reference samples/reference.parquet -p configs/fraud.yaml --every 1h -o drill.html"
)


def drill(
    log: Annotated[str, typer.Option("--log", help="A healthy prediction log to inject the faults into (never modified).")],
    policy: PolicyOpt = None,
    reference: Annotated[
        str | None, typer.Option("--reference", "-r", help="Reference log [default: the healthy rows before --at].")
    ] = None,
    labels: Annotated[str | None, typer.Option("--labels", "-l", help="Late labels of the log, joined on the id.")] = None,
    every: Annotated[
        str | None,
        typer.Option("--every", help="Cron cadence: checks run on each new window this long [default: drill.every, 5m]."),
    ] = None,
    faults: Annotated[str, typer.Option("--faults", help="all, or a comma-separated list of fault names.")] = "all",
    at: Annotated[
        str | None, typer.Option("--at", help="Inject at this ISO-8601 time [default: mid-log, on the window grid].")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the injectors: the same seed gives the same drill.")] = 0,
    history: HistoryOpt = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Rehearse incidents: inject each fault into a copy of a healthy log, replay the policy's checks as a
    cron job would, and report per fault whether it was caught, by which check, how fast, and within budget."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.analysis.drill import available_faults
        from mlrel_cli.analysis.drill import drill as run_drill
        from mlrel_cli.logs import open_log

        width = _cadence(every)
        injected = parse_time(at, "--at")
        names = _fault_names(faults)
        loaded = load(policy)
        history_file = outputs_ready(output, history, loaded, policy)
        registry = available_faults()  # before reading: a build without injectors fails at once
        healthy = open_log(log, "log")
        ref = open_log(reference, "reference") if reference is not None else None
        label_log = open_log(labels, "labels file") if labels is not None else None
        with progress("drill", quiet) as step:
            report = run_drill(
                healthy,
                loaded,
                reference=ref,
                labels=label_log,
                every=width,
                names=names,
                at=injected,
                seed=seed,
                progress=step,
                registry=registry,
            )
        emit(report, OutputOptions(fmt, output, quiet, no_color, verbose), history_file)


def _cadence(every: str | None) -> dt.timedelta | None:
    """--every as a duration; None for the policy's drill.every."""
    from mlrel_cli.durations import parse_duration

    if every is None:
        return None
    try:
        return parse_duration(every)
    except ValueError as exc:
        raise MlrelError(f"--every: {exc}") from None


def _fault_names(faults: str) -> list[str] | None:
    """--faults as the names listed; None for all."""
    if faults.strip() == "all":
        return None
    names = [n.strip() for n in faults.split(",") if n.strip()]
    if not names:
        raise MlrelError("--faults: name at least one fault, or all")
    return names
