"""The label checks: coverage, lag, the model's metrics, fairness and proxy metrics.

One route on every engine: the engine gathered the facts (plan.py; the labels
file joined by the engine, the labelled rows' metrics from every row locally
or from merged parts and a sample on Dask), and these functions judge them
(performance.py, fairness.py, ranking.py).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from mlrel_cli.analysis.validate.context import Context, human, judge_max, judge_min, skipped
from mlrel_cli.analysis.validate.fairness import check_fairness
from mlrel_cli.analysis.validate.performance import check_performance
from mlrel_cli.analysis.validate.ranking import proxy_check
from mlrel_cli.facts.columns import LabelCount
from mlrel_cli.payloads.validate import SegmentRow
from mlrel_cli.report import Check, Status


def resolved_task(ctx: Context) -> str | None:
    """The task every check judges by: the declared one, else the one inferred from the predictions and labels
    (a binary classifier leaking raw scores above 1 is still binary by its 0/1 labels)."""
    return ctx.facts.task


def label_checks(ctx: Context) -> tuple[list[Check], str | None, list[SegmentRow]]:
    """Label coverage and lag, the model's metrics overall and per segment, proxy metrics and fairness."""
    spec = ctx.policy.validate_
    checks: list[Check] = []
    segment_rows: list[SegmentRow] = []
    task = ctx.facts.task
    if ctx.facts.label is None:
        if spec.label_coverage.enabled:
            checks.append(skipped("label_coverage", "no label column and no --labels file"))
        if spec.performance.enabled and spec.performance.metrics:
            checks.append(_no_labels(ctx))
    else:
        if spec.label_coverage.enabled:
            checks.append(coverage_check(ctx, ctx.facts.labels()))
            lag = ctx.facts.label_lag()
            if lag is not None:
                checks.append(_label_lag_check(ctx, lag))
        if spec.performance.enabled:
            found, segment_rows = check_performance(ctx, task)
            checks.extend(found)
    for name in ctx.policy.proxy_metrics:
        checks.append(proxy_check(ctx, name, ctx.facts.proxy(name)))
    if spec.fairness.enabled and spec.fairness.segment:
        checks.append(check_fairness(ctx, task))
    return checks, task, segment_rows


def _no_labels(ctx: Context) -> Check:
    """Metrics the policy bounds cannot be judged before their labels arrive: inconclusive, never a silent pass."""
    column = ctx.policy.columns.label
    return Check(
        name="performance",
        status=Status.INCONCLUSIVE,
        value=0,
        threshold=ctx.policy.validate_.performance.min_rows,
        message=f"no labels to judge {', '.join(ctx.policy.validate_.performance.metrics)}: the log has no label column "
        f"'{column}' and no --labels file was given (labels not arrived yet?)",
        source=ctx.source("validate.performance.metrics"),
    )


def coverage_check(ctx: Context, labels: LabelCount) -> Check:
    cfg = ctx.policy.validate_.label_coverage
    coverage = labels.labelled / labels.rows if labels.rows else 0.0
    return Check(
        name="label_coverage",
        status=judge_min(coverage, cfg.min_fraction, cfg.warn_below),
        value=coverage,
        threshold=cfg.min_fraction,
        message=f"{coverage:.1%} of predictions have a label ({labels.labelled:,} of {labels.rows:,})",
        details={"labelled": labels.labelled, "rows": labels.rows, "warn_below": cfg.warn_below},
        source=ctx.source("validate.label_coverage"),
    )


def _label_lag_check(ctx: Context, lag_s: np.ndarray) -> Check:
    """How long labels take to arrive (p95 against ``label_coverage.max_lag``)."""
    if not len(lag_s):
        return skipped("label_lag", "no label arrival times")
    cfg = ctx.policy.validate_.label_coverage
    p50, p95 = np.percentile(lag_s, [50, 95])
    max_lag = cfg.max_lag.total_seconds() if cfg.max_lag else None
    return Check(
        name="label_lag",
        status=judge_max(float(p95), max_lag),
        value=float(p95),
        threshold=max_lag,
        message=f"labels arrive after {human(dt.timedelta(seconds=float(p50)))} (median), "
        f"{human(dt.timedelta(seconds=float(p95)))} (p95)",
        details={"p50_seconds": float(p50), "p95_seconds": float(p95), "max_seconds": float(lag_s.max())},
        source=ctx.source("validate.label_coverage.max_lag"),
    )
