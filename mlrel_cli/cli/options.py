"""Options every command shares, as Annotated aliases, and the output step they drive."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    junit = "junit"
    html = "html"
    openmetrics = "openmetrics"


class Engine(StrEnum):
    local = "local"
    dask = "dask"


class Gate(StrEnum):
    """What an inconclusive verdict (not enough data) means to a CI gate."""

    passes = "pass"
    fails = "fail"
    exit3 = "exit3"


PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", "-p", help="Policy YAML file (defaults apply where it is silent, or when omitted)."),
]
FormatOpt = Annotated[
    Format | None,
    typer.Option("--format", "-f", help="Report format on stdout [default: table]."),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Also write the report here; format from the suffix (.json .md .xml .html .txt .prom), else --format.",
    ),
]
EngineOpt = Annotated[
    Engine | None, typer.Option("--engine", help="local (this process) or dask (a cluster) [default: policy engine:].")
]
SchedulerOpt = Annotated[
    str | None, typer.Option("--scheduler", help="Dask scheduler address; without it a local cluster of 2 workers.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the one-line verdict.")]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="Plain text (also when NO_COLOR is set or not a TTY).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="List every check, passing ones included.")]
NotifyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--notify",
        metavar="TARGET",
        help="Tell this target when the status changes (a notify.targets name, or KIND:ENV with KIND webhook, slack "
        "or pagerduty and ENV the variable holding its secret); repeat for several. Needs --history.",
    ),
]
PushgatewayOpt = Annotated[
    str | None, typer.Option("--pushgateway", metavar="URL", help="Push the run's metrics to this Prometheus Pushgateway URL.")
]

ForceOpt = Annotated[bool, typer.Option("--force", help="Replace a read-only report file.")]
InconclusiveOpt = Annotated[
    Gate | None,
    typer.Option(
        "--inconclusive",
        help="Exit code of an inconclusive verdict: pass (0), fail (1) or exit3 (3) [default: exit3].",
    ),
]
HistoryOpt = Annotated[
    Path | None,
    typer.Option("--history", help="Append this run's JSON report as one line to this file (JSON Lines)."),
]

# the registry commands (registry, rollout, rollback)
ModelArg = Annotated[str, typer.Argument(help="Model name.")]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar="MLREL_REGISTRY",
        help="Registry YAML file or MLflow tracking URI [default: policy's registry:, else ./registry.yaml].",
    ),
]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who makes the change [default: the user].")]


@dataclass(frozen=True)
class OutputOptions:
    fmt: Format | None
    output: Path | None
    quiet: bool
    no_color: bool
    verbose: bool = False
    history: Path | None = None
    alerting: Any = None  # mlrel_cli.alerting.Plan: notifications and the Pushgateway

    force: bool = False
    inconclusive: Gate | None = None

    @property
    def color(self) -> bool:
        if self.no_color or os.environ.get("NO_COLOR"):
            return False
        return sys.stdout.isatty()


def click_module():
    """The click typer runs on: its own vendored copy in recent typer, else the click package."""
    try:
        from typer import _click as vendored

        return vendored
    except ImportError:
        import click

        return click
