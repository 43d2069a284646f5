"""mlrel postmortem: draft a blameless post-mortem from the logs, the registry and the run history."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlrel_cli.cli.common import history_path, load
from mlrel_cli.cli.options import DebugOpt, NoColorOpt, PolicyOpt, QuietOpt
from mlrel_cli.cli.runtime import errors_to_exit_codes

if TYPE_CHECKING:
    from mlrel_cli.outputs import Target
    from mlrel_cli.report import Report


class PostmortemFormat(StrEnum):
    markdown = "markdown"
    json = "json"
    html = "html"
    openmetrics = "openmetrics"


EPILOG = (
    "Example: mlrel postmortem --incident configs/incident-example.yaml -p configs/fraud.yaml "
    "--log samples/incident.parquet --reference samples/reference.parquet --registry samples/registry.yaml "
    "-o POSTMORTEM.md"
)


def postmortem(
    incident: Annotated[Path, typer.Option("--incident", help="Incident YAML: id, title, severity, known times.")],
    policy: PolicyOpt = None,
    log: Annotated[str | None, typer.Option("--log", help="Prediction log covering before and during.")] = None,
    labels: Annotated[str | None, typer.Option("--labels", "-l", help="Late labels, joined on the id.")] = None,
    reference: Annotated[str | None, typer.Option("--reference", "-r", help="Reference log, for drift at the onset.")] = None,
    registry: Annotated[
        str | None, typer.Option("--registry", envvar="MLREL_REGISTRY", help="Registry file or MLflow URI.")
    ] = None,
    history: Annotated[
        Path | None, typer.Option("--history", help="Run history (JSON Lines) of validate, drift, compare.")
    ] = None,
    fmt: Annotated[
        PostmortemFormat | None,
        typer.Option("--format", "-f", help="markdown, json, html or openmetrics (the times) [default: markdown]."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the draft here (and the chart beside it, as PNG).")
    ] = None,
    quiet: QuietOpt = False,
    no_color: NoColorOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Draft a blameless post-mortem: impact, timeline, onset, times to detect and mitigate, root-cause candidates."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.analysis.postmortem import load_incident
        from mlrel_cli.analysis.postmortem import postmortem as run_postmortem
        from mlrel_cli.cli.registry import resolve_registry
        from mlrel_cli.facts.profile_log import open_reference
        from mlrel_cli.logs import open_log

        fmt_value = fmt.value if fmt is not None else "markdown"
        facts = load_incident(incident)
        loaded = load(policy)
        sources = (str(incident), log, labels, reference, registry, str(policy) if policy else None, *loaded.files)
        sources = (*sources, str(history) if history else None)
        targets = _plan_outputs(output, fmt, fmt_value, sources) if output is not None else None
        reg = None
        if registry is not None or loaded.registry is not None:
            reg = resolve_registry(registry, policy)
        report = run_postmortem(
            facts,
            loaded,
            open_log(log, "log") if log is not None else None,
            labels=open_log(labels, "labels file") if labels is not None else None,
            reference=open_reference(reference, "reference", loaded) if reference is not None else None,
            registry=reg,
            history=history_path(history, loaded, policy),
        )
        _emit_draft(report, fmt_value, output, targets, quiet, no_color)
        raise typer.Exit(report.exit_code)


def _plan_outputs(
    output: Path, fmt: PostmortemFormat | None, fmt_value: str, sources: tuple[str | None, ...]
) -> tuple[Target, Target | None]:
    """The draft's file and, for a markdown draft, its chart's, checked before any work (an unknown suffix
    without --format is an error)."""
    from mlrel_cli import outputs
    from mlrel_cli.cli.emit import file_format
    from mlrel_cli.render import format_for_path

    file_format(output, fmt)
    target = outputs.plan(output, "post-mortem", sources, force=True)
    chart_target = None
    if format_for_path(str(output), fmt_value) == "markdown":
        chart_target = outputs.plan(output.with_suffix(".png"), "post-mortem chart", sources, force=True)
    return target, chart_target


def _emit_draft(
    report: Report, fmt_value: str, output: Path | None, targets: tuple[Target, Target | None] | None, quiet: bool, no_color: bool
) -> None:
    """The draft written (with its chart) or printed; with -o, the verdict and the metric's line on the terminal."""
    from mlrel_cli import outputs
    from mlrel_cli.render import format_for_path, renderer, verdict_line
    from mlrel_cli.render.postmortem import draw_chart, metric_line
    from mlrel_cli.render.postmortem import render as render_markdown

    target, chart_target = targets if targets is not None else (None, None)
    chart = None
    if chart_target is not None and outputs.write_with(chart_target, lambda tmp: draw_chart(report, str(tmp))):
        chart = chart_target.path.name
    out_format = format_for_path(str(output), fmt_value) if output is not None else fmt_value
    text = render_markdown(report, chart) if out_format == "markdown" else renderer(out_format)(report)
    if target is not None:
        outputs.write_text(target, text)
    if quiet:
        typer.echo(verdict_line(report))
    elif output is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(verdict_line(report))
        line = metric_line(report)
        if line is not None:
            from rich.console import Console

            Console(highlight=False, no_color=no_color or None).print(line)
        typer.echo(f"wrote {output}" + (f" and {output.with_suffix('.png')}" if chart else ""))
