"""mlrel demo: a whole incident on bundled data, each command printed before it runs."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from mlrel_cli.cli.options import DebugOpt
from mlrel_cli.cli.runtime import errors_to_exit_codes

# each step: what the story says, the command as a user types it, the exit it must give (None: either pass or fail)
STORY = [
    (
        "A new model version shipped: the registry's history shows v42 promoted at 13:00 UTC.",
        "registry history checkout-fraud --since 2026-11-25T00:00:00Z",
        0,
    ),
    (
        "Before it shipped, yesterday's traffic passed the gate.",
        "validate current.parquet --reference reference.parquet --labels labels.parquet -p policy.yaml "
        "--now 2026-11-24T23:59:00Z -o validate.md",
        0,
    ),
    (
        "After lunch, fraud slips through. Which features moved, and since when?",
        "drift --reference reference.parquet --current incident.parquet -p policy.yaml --window 15m -o drift.html",
        None,
    ),
    (
        "Is v42 worse than v41 on the same day's traffic?",
        "compare --log incident.parquet --baseline v41 --candidate v42 -p policy.yaml -o compare.html",
        1,
    ),
    (
        "Mitigate first: roll back to the last good version.",
        "rollback checkout-fraud --reason 'v42 lets fraud through (compare: roc_auc worse)' --incident INC-2231 "
        "--actor sam --yes",
        0,
    ),
    (
        "Then understand: draft the blameless post-mortem from the facts.",
        "postmortem --incident incident.yaml -p policy.yaml --log incident.parquet --reference reference.parquet "
        "-o POSTMORTEM.md",
        0,
    ),
    (
        "Finally, rehearse the next incident: would an hourly cron job catch these faults within the budget?",
        "drill --log current.parquet --labels labels.parquet --reference reference.parquet -p policy.yaml --every 1h "
        "--faults shift_feature,nan_predictions,traffic_gap -o drill.html",
        1,
    ),
]


EPILOG = "Example: mlrel demo ./mlrel-demo"


def demo(
    directory: Annotated[
        Path | None, typer.Argument(help="Folder to write the demo into [default: a new temporary folder].")
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Walk through a whole incident on bundled sample data: ship, validate, drift, compare, rollback, post-mortem,
    then a drill of the next one."""
    with errors_to_exit_codes(debug):
        from mlrel_cli.samples import write_demo

        folder = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="mlrel-demo-"))
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        write_demo(folder)
        typer.echo(f"mlrel demo: sample logs, a policy, a registry and an incident written to {folder}\n")
        env = {**os.environ, "MLREL_REGISTRY": "registry.yaml", "COLUMNS": os.environ.get("COLUMNS", "100")}
        for step, (story, command, expected) in enumerate(STORY, start=1):
            args = shlex.split(command)
            typer.secho(f"{step}. {story}", bold=True)
            typer.secho(f"$ cd {shlex.quote(str(folder))} && mlrel {shlex.join(args)}", fg="cyan")
            result = subprocess.run([sys.executable, "-m", "mlrel_cli", *args], cwd=folder, env=env, check=False)
            if result.returncode == 2 or (expected is not None and result.returncode != expected):
                raise typer.Exit(2)
            meaning = {0: "pass", 1: "check failed", 3: "inconclusive"}.get(result.returncode, "")
            typer.secho(f"(exit {result.returncode}: {meaning})\n", dim=True)
        written = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.endswith(".lock"))
        typer.echo(f"Done in {time.perf_counter() - started:.1f} s. Files in {folder}:")
        for name in written:
            typer.echo(f"  {name}")
        typer.echo(f"\nOpen the reports: {folder / 'drift.html'} and {folder / 'compare.html'}")
        typer.echo(f"Read the post-mortem draft: {folder / 'POSTMORTEM.md'}")
        typer.echo(f"See the drill's timeline per fault: {folder / 'drill.html'}")
        if sys.stdout.isatty():
            typer.secho("next: on your own data: mlrel init --from YOUR_REFERENCE.parquet -o policy.yaml", dim=True)
