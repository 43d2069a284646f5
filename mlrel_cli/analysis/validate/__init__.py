"""``mlrel validate``: the gate before a change ships and the first look during an incident.

Read top to bottom: ``validate`` opens the engine and gathers the facts the
enabled checks need (facts.py: the plan, then the engine builds them), then
every check of spec 2.1 judges them (columns.py, traffic.py, labelled.py with
performance.py, fairness.py and ranking.py), and the Report is built here.
"""

from __future__ import annotations

import datetime as dt

from mlrel_cli.analysis import weak_segments
from mlrel_cli.analysis.validate import labelled
from mlrel_cli.analysis.validate.columns import check_duplicates, check_feature, check_prediction, check_schema
from mlrel_cli.analysis.validate.context import Context, Progress, Setup
from mlrel_cli.analysis.validate.plan import gather
from mlrel_cli.analysis.validate.traffic import check_latency, check_time, choose_window
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import resolve_roles
from mlrel_cli.payloads.validate import SegmentRow
from mlrel_cli.policy import Policy, check_metrics_fit_the_task
from mlrel_cli.report import Check, Report, Status, overall_status

__all__ = ["choose_window", "validate"]


def validate(
    log: Log,
    policy: Policy,
    reference: Log | None = None,
    labels: Log | None = None,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
    engine: str | None = None,
    scheduler: str | None = None,
) -> Report:
    """Run every enabled check of the policy's ``validate`` section on the log."""
    from mlrel_cli.engine import check_engine, open_engine

    engine = check_engine(engine or policy.engine, labels=labels, scheduler=scheduler)
    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    reference_roles = resolve_roles(reference, policy) if reference is not None else None
    setup = Setup(
        log=log,
        policy=policy,
        roles=roles,
        reference=reference,
        reference_roles=reference_roles,
        labels=labels,
        now=now or dt.datetime.now(dt.UTC),
        progress=progress or (lambda _step: None),
    )
    with open_engine(engine, scheduler, policy.engine_timeout) as opened:
        ctx = Context(**vars(setup), facts=gather(setup, opened))
    checks, task, segment_rows = _run_checks(ctx)

    check_metrics_fit_the_task(policy, task, prefix="validate.")  # a bound on another task's metric is never judged
    status = overall_status(checks)
    inputs = {
        "log": log.path,
        "rows": log.num_rows,
        "files": len(log.files),
        "reference": reference.path if reference else None,
        "labels": labels.path if labels else None,
        "policy": list(policy.files),
        "task": task,
        "features": roles.features,
        "not_checked": roles.skipped,
        "engine": engine,
    }
    return Report(
        command="validate",
        status=status,
        summary=_summary(status, checks, log.num_rows),
        checks=tuple(checks),
        inputs=inputs,
        sections={"segments": segment_rows, "weak_segments": weak_segments.rows_of(checks)},
    )


def _run_checks(ctx: Context) -> tuple[list[Check], str | None, list[SegmentRow]]:
    spec = ctx.policy.validate_
    checks: list[Check] = []
    if spec.schema_.enabled:
        checks.extend(check_schema(ctx))
    for name, kind in ctx.roles.features.items():
        checks.extend(check_feature(ctx, name, kind))
    if spec.prediction.enabled:
        checks.extend(check_prediction(ctx))
    if spec.duplicates.enabled:
        checks.extend(check_duplicates(ctx))
    checks.extend(check_time(ctx))
    if spec.latency.enabled:
        checks.extend(check_latency(ctx))
    label_checks, task, segment_rows = labelled.label_checks(ctx)
    return checks + label_checks, task, segment_rows


def _summary(status: Status, checks: list[Check], rows: int) -> str:
    failed = [c.name for c in checks if c.status == Status.FAIL]
    inconclusive = [c.name for c in checks if c.status == Status.INCONCLUSIVE]
    warned = [c.name for c in checks if c.status == Status.WARN]
    head = f"{len(checks)} checks on {rows:,} rows"
    if status == Status.FAIL:
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        return f"{head}: {len(failed)} failed ({', '.join(failed[:3])}{more})."
    if status == Status.INCONCLUSIVE:
        return f"{head}: not enough data to judge {', '.join(inconclusive[:3])}."
    if status == Status.WARN:
        return f"{head}: all passed, {len(warned)} with warnings ({', '.join(warned[:3])})."
    return f"{head}: all passed."
