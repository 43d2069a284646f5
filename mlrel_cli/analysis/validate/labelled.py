"""The label checks: coverage, lag, the model's metrics, fairness and proxy metrics, by one of two routes.

``checks_from_rows`` reads the labelled rows whole, in this process (labels
joined from a file, exact ROC AUC, the bootstrap over every row);
``checks_from_parts`` judges the merged parts and the uniform sample that an
engine keeping rows on its workers gathered (plan.py). Both judge with the
same functions (performance.py, fairness.py, ranking.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from mlrel_cli.analysis import weak_segments
from mlrel_cli.analysis.validate.context import Context, human, judge_max, judge_min, label_array, skipped
from mlrel_cli.analysis.validate.fairness import check_fairness, fairness_from_parts
from mlrel_cli.analysis.validate.performance import performance_from_parts, performance_from_rows
from mlrel_cli.analysis.validate.ranking import check_proxy_metrics, proxy_check
from mlrel_cli.facts.columns import LabelCount
from mlrel_cli.logs import infer_task, timestamps_keeping_rows
from mlrel_cli.report import Check


def resolved_task(ctx: Context) -> str | None:
    """The task every check judges by: the declared one, else the one inferred from the predictions and labels
    (a binary classifier leaking raw scores above 1 is still binary by its 0/1 labels)."""
    if ctx.policy.task is not None:
        return ctx.policy.task
    if not ctx.facts.rows_here:
        return ctx.facts.task
    return infer_task(ctx.log.column(ctx.roles.prediction), label_array(ctx))


def checks_from_rows(ctx: Context) -> tuple[list[Check], str | None, list[dict[str, Any]]]:
    """With the rows here: the labels read whole (the log's column or a joined --labels file)."""
    checks, task, segment_rows = _labels_and_performance(ctx)
    fairness = ctx.policy.validate_.fairness
    checks.extend(check_proxy_metrics(ctx))
    if fairness.enabled and fairness.segment:
        checks.extend(check_fairness(ctx, task))
    return checks, task, segment_rows


def _labels_and_performance(ctx: Context) -> tuple[list[Check], str | None, list[dict[str, Any]]]:
    spec = ctx.policy.validate_
    labels = label_array(ctx)
    checks: list[Check] = []
    task = ctx.policy.task
    if labels is None:
        if spec.label_coverage.enabled:
            checks.append(skipped("label_coverage", "no label column and no --labels file"))
        if task is None:
            task = infer_task(ctx.log.column(ctx.roles.prediction), None)
        return checks, task, []

    if spec.label_coverage.enabled:
        checks.append(coverage_check(ctx, LabelCount.of(labels) if ctx.labels is not None else ctx.facts.labels()))
        if ctx.labels is not None and ctx.labels.label_times_us is not None and ctx.roles.timestamp:
            checks.extend(_label_lag_check(ctx))

    prediction = ctx.log.column(ctx.roles.prediction)
    if task is None:
        task = infer_task(prediction, labels)
    if not spec.performance.enabled:
        return checks, task, []
    perf_checks, segment_rows = performance_from_rows(ctx, task, prediction.combine_chunks(), labels)
    return checks + perf_checks, task, segment_rows


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


def _label_lag_check(ctx: Context) -> list[Check]:
    assert ctx.labels is not None and ctx.labels.label_times_us is not None and ctx.roles.timestamp
    cfg = ctx.policy.validate_.label_coverage
    served_us = timestamps_keeping_rows(ctx.log.column(ctx.roles.timestamp), ctx.log.path)
    arrived = ctx.labels.label_times_us
    both = (arrived >= 0) & (served_us >= 0)
    if not both.any():
        return [skipped("label_lag", "no label arrival times")]
    lag_s = (arrived[both] - served_us[both]) / 1e6
    p50, p95 = np.percentile(lag_s, [50, 95])
    max_lag = cfg.max_lag.total_seconds() if cfg.max_lag else None
    return [
        Check(
            name="label_lag",
            status=judge_max(float(p95), max_lag),
            value=float(p95),
            threshold=max_lag,
            message=f"labels arrive after {human(dt.timedelta(seconds=float(p50)))} (median), "
            f"{human(dt.timedelta(seconds=float(p95)))} (p95)",
            details={"p50_seconds": float(p50), "p95_seconds": float(p95), "max_seconds": float(lag_s.max())},
            source=ctx.source("validate.label_coverage.max_lag"),
        )
    ]


def checks_from_parts(ctx: Context) -> tuple[list[Check], str | None, list[dict[str, Any]]]:
    """Where the rows stay on workers: label coverage and the model's metrics, overall and per segment, from merged
    facts; what needs rows together came from a shuffle of the rows between workers (per-query metrics)."""
    spec = ctx.policy.validate_
    checks: list[Check] = []
    segment_rows: list[dict[str, Any]] = []
    task = ctx.facts.task
    if ctx.roles.label is None:
        if spec.label_coverage.enabled:
            checks.append(skipped("label_coverage", "no label column"))
    else:
        if spec.label_coverage.enabled:
            checks.append(coverage_check(ctx, ctx.facts.labels()))
        if spec.performance.enabled:
            found, segment_rows = performance_from_parts(ctx)
            checks.extend(found)
            if spec.weak_segments.enabled:
                checks.append(
                    weak_segments.from_cluster(
                        ctx.facts.weak_segments(), task, spec.weak_segments, ctx.source("validate.weak_segments.max_gap")
                    )
                )
    for name in ctx.policy.proxy_metrics:
        checks.append(proxy_check(ctx, name, ctx.facts.proxy(name)))
    if spec.fairness.enabled and spec.fairness.segment:
        checks.append(fairness_from_parts(ctx, task))
    return checks, task, segment_rows
