"""mlrel retrain-set: draw a new training set from labelled production logs, with a manifest."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mlrel_cli.cli.common import load
from mlrel_cli.cli.options import DebugOpt, FormatOpt, NoColorOpt, OutputOptions, PolicyOpt, QuietOpt
from mlrel_cli.cli.runtime import emit, errors_to_exit_codes


class Strategy(StrEnum):
    recent = "recent"
    upsample = "upsample-weak-segments"
    season = "season"
    segment = "segment"


EPILOG = (
    "Example: mlrel retrain-set --log samples/incident.parquet -p configs/fraud.yaml -o train.parquet "
    "--strategy upsample-weak-segments --factor 3"
)


def retrain_set(
    log: Annotated[str, typer.Option("--log", help="Labelled production log (file, directory or glob).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The training set to write (Parquet).")],
    policy: PolicyOpt = None,
    labels: Annotated[str | None, typer.Option("--labels", "-l", help="Late labels, joined on the id.")] = None,
    strategy: Annotated[Strategy | None, typer.Option("--strategy", help="[default: policy retrain.strategy]")] = None,
    last: Annotated[str | None, typer.Option("--last", help="recent: the newest window, such as 7d.")] = None,
    rows: Annotated[int | None, typer.Option("--rows", help="recent: the newest N labelled rows.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="season: from this ISO time.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="season: until this ISO time (excluded).")] = None,
    weekdays: Annotated[str | None, typer.Option("--weekdays", help="season: such as sat,sun.")] = None,
    segment_column: Annotated[str | None, typer.Option("--segment-column", help="segment: the column.")] = None,
    value: Annotated[list[str] | None, typer.Option("--value", help="segment: a value to keep; repeat.")] = None,
    segments: Annotated[
        str | None, typer.Option("--segments", help="upsample: segment columns, comma-separated [default: policy].")
    ] = None,
    factor: Annotated[float | None, typer.Option("--factor", help="upsample: repeat the weak segments this often.")] = None,
    target_share: Annotated[
        float | None, typer.Option("--target-share", help="upsample: make each weak segment this share of the set.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="[default: policy retrain.seed, 0]")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Draw a new training set (recent, upsample-weak-segments, season, segment) and record how it was made."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.analysis.retrain import retrain_set as run
        from mlrel_cli.analysis.retrain import spec_with
        from mlrel_cli.logs import open_log

        loaded = load(policy)
        spec = spec_with(
            loaded,
            strategy=strategy.value if strategy else None,
            last=last,
            rows=rows,
            start=start,
            end=end,
            weekdays=weekdays.split(",") if weekdays else None,
            segment_column=segment_column,
            values=value,
            segments=segments.split(",") if segments else None,
            factor=factor,
            target_share=target_share,
            seed=seed,
        )
        report = run(
            open_log(log, "log"),
            loaded,
            spec,
            output,
            labels=open_log(labels, "labels file") if labels is not None else None,
            force=force,
        )
        emit(report, OutputOptions(fmt, None, quiet, no_color), None)
