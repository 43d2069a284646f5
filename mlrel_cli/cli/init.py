"""mlrel init: write a starting policy inferred from a reference log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlrel_cli.cli.options import DebugOpt
from mlrel_cli.cli.runtime import errors_to_exit_codes
from mlrel_cli.errors import OutputError

EPILOG = "Example: mlrel init --from samples/reference.parquet -o policy.yaml"


def init(
    reference: Annotated[Path, typer.Option("--from", help="Reference log to infer the policy from.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the policy here [default: stdout].")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name to record in the policy.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Infer columns, task type, feature kinds, ranges, categories and missing rates from a reference log."""
    with errors_to_exit_codes(debug):
        from mlrel_cli import outputs
        from mlrel_cli.analysis.init import infer_policy
        from mlrel_cli.logs import open_log

        target = None
        if output is not None:
            target = outputs.plan(output, "policy", (str(reference),), force=force)
            if target.real.exists() and not target.in_place and not force:
                raise OutputError("policy file already exists; pass --force to overwrite it", str(output))
        text = infer_policy(open_log(reference, "reference"), model=model)
        if target is None:
            typer.echo(text, nl=False)
        else:
            outputs.write_text(target, text)
            typer.echo(f"wrote {output}; try: mlrel validate {reference} -p {output}", err=True)
