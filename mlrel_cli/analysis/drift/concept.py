"""Concept drift: the performance metric on the labelled rows of each side (and of each window), judged against
its allowed degradation and its noise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from statistics import NormalDist
from typing import Any

import numpy as np

from mlrel_cli.analysis.drift.judge import first_onset, from_us
from mlrel_cli.analysis.drift.proxies import beyond_bounds
from mlrel_cli.engine.interface import Engine
from mlrel_cli.errors import PolicyError
from mlrel_cli.facts.concept import MetricRows, labelled_rows
from mlrel_cli.facts.windows import WindowGrid
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles
from mlrel_cli.payloads.drift import ConceptDrift, ConceptWindow
from mlrel_cli.policy import Policy
from mlrel_cli.report import Status
from mlrel_cli.stats.inference import bootstrap_se
from mlrel_cli.stats.metrics import metric_value
from mlrel_cli.stats.names import METRIC_BY_NAME
from mlrel_cli.tasks import TASK_TABLE, row_metrics

DEFAULT_CONCEPT_METRIC = {task.name: task.primary_metric for task in TASK_TABLE if not task.per_query}


def concept_drift(
    engine: Engine,
    reference: Any,
    current: Log,
    ref_roles: Roles,
    cur_roles: Roles,
    label: str | None,
    policy: Policy,
    grid: WindowGrid | None,
) -> tuple[ConceptDrift | None, str | None]:
    """The metric on both sides (``reference``: the run's reference facts; ``label``: the current log's label
    column, None when it has none), and the task it was judged for."""
    task, ref = reference.labelled_metric(ref_roles, policy)
    if ref is None or label is None or not row_metrics(task):
        return None, task
    metric = policy.drift.concept_metric or DEFAULT_CONCEPT_METRIC[task]
    if task not in METRIC_BY_NAME[metric].tasks:
        raise PolicyError(
            f"drift.concept_metric: '{metric}' does not apply to task '{task}'",
            policy.source_of("drift.concept_metric"),
        )
    ref_rows = ref(task, metric)
    threshold = policy.validate_.performance.decision_threshold
    columns = [cur_roles.prediction, label] + ([grid.column] if grid is not None else [])
    prepare = partial(
        labelled_rows,
        prediction=cur_roles.prediction,
        label=label,
        task=task,
        positive_label=policy.validate_.performance.positive_label,
        grid=grid,
    )
    cur_rows, per_window = engine.labelled_metric(current, columns, prepare, task, metric, threshold, grid)

    def value(truth: np.ndarray, predicted: np.ndarray) -> float:
        return metric_value(task, metric, truth, predicted, threshold)

    errors: dict[int, float] = {}  # the reference's is asked for by every window that breaches

    def se(rows: MetricRows) -> float:
        if id(rows) not in errors:
            errors[id(rows)] = bootstrap_se(value, (rows.truth, rows.predicted), population=rows.population)
        return errors[id(rows)]

    whole = _judge_concept(
        metric,
        ref_rows.value,
        cur_rows.value,
        lambda: float(np.hypot(se(ref_rows), se(cur_rows))),
        ref_rows.rows,
        cur_rows.rows,
        policy,
    )
    if grid is None:
        return whole, task
    windows = _judge_windows(whole, ref_rows, per_window, grid, lambda rows: float(np.hypot(se(ref_rows), se(rows))), policy)
    return _with_onset(replace(whole, windows=windows, onset=first_onset(windows, policy.drift.onset_windows))), task


def _judge_windows(
    whole: ConceptDrift,
    ref: MetricRows,
    per_window: list[MetricRows],
    grid: WindowGrid,
    standard_error: Callable[[MetricRows], float],
    policy: Policy,
) -> tuple[ConceptWindow, ...]:
    """Each window's metric against the reference's, by the proxy metrics' rule: worse than the allowed
    degradation by more than z standard errors (the window's and the reference's) fails, worse within that noise
    warns; a window with fewer labelled rows than the whole log needs is inconclusive."""
    higher = METRIC_BY_NAME[whole.metric].higher_is_better
    low, high = (ref.value - whole.threshold, None) if higher else (None, ref.value + whole.threshold)
    z = float(NormalDist().inv_cdf(policy.drift.confidence))
    min_rows = policy.validate_.performance.min_rows
    out = []
    for start_us, rows in zip(grid.starts_us, per_window, strict=True):
        start = from_us(int(start_us))
        judged = ref.rows >= min_rows and rows.rows >= min_rows and np.isfinite(ref.value) and np.isfinite(rows.value)
        status = Status.INCONCLUSIVE
        if judged:
            status = beyond_bounds(rows.value, float("nan"), low, high, z)  # within the bounds: no noise needed
            if status != Status.PASS:
                status = beyond_bounds(rows.value, standard_error(rows), low, high, z)
        degradation = (ref.value - rows.value) if higher else (rows.value - ref.value)
        out.append(
            ConceptWindow(
                start,
                start + dt.timedelta(microseconds=grid.width_us),
                rows.rows,
                float(rows.value) if judged else None,
                float(degradation) if judged else None,
                status,
            )
        )
    return tuple(out)


def _with_onset(concept: ConceptDrift) -> ConceptDrift:
    """One story, as for a feature: windows that breach in a row (the onset) fail the metric, and the breaching
    value (the worst failing window's degradation) is its degradation, the whole log's kept beside it."""
    failing = [w.degradation for w in concept.windows if w.status == Status.FAIL and w.degradation is not None]
    if concept.onset is None or not failing:
        return concept
    since = f"{concept.onset:%Y-%m-%d %H:%M}"
    if concept.status == Status.FAIL:
        return replace(concept, message=f"{concept.message}, since {since}")
    worst = max(failing)
    message = (
        f"{concept.metric} worse since {since}: by up to {worst:.3g} per window "
        f"(allowed {concept.threshold:.3g}; whole log {concept.reference:.4g} -> {concept.current:.4g})"
    )
    return replace(concept, status=Status.FAIL, degradation=worst, whole_log_degradation=concept.degradation, message=message)


def _judge_concept(
    metric: str,
    ref_value: float,
    cur_value: float,
    standard_error: Callable[[], float],
    n_ref: int,
    n_cur: int,
    policy: Policy,
) -> ConceptDrift:
    """Worse by more than the allowed degradation, and by more than z standard errors: concept drift."""
    spec = policy.drift
    allowed = concept_allowed_degradation(spec.concept_max_degradation, spec.concept_max_relative_degradation, ref_value)
    if min(n_ref, n_cur) < policy.validate_.performance.min_rows:
        return ConceptDrift(
            metric,
            float("nan"),
            float("nan"),
            float("nan"),
            float("nan"),
            allowed,
            Status.INCONCLUSIVE,
            f"too few labelled rows ({n_ref:,} reference, {n_cur:,} current)",
            n_ref,
            n_cur,
        )
    higher = METRIC_BY_NAME[metric].higher_is_better
    degradation = (ref_value - cur_value) if higher else (cur_value - ref_value)
    se = float("nan")
    if degradation > allowed:  # only a breach needs to be told from noise
        se = standard_error()
    z = float(NormalDist().inv_cdf(spec.confidence))
    excess = degradation - allowed
    if not np.isfinite(degradation):
        status, message = Status.INCONCLUSIVE, f"{metric} undefined on these rows"
    elif excess > 0 and (not np.isfinite(se) or excess > z * se):
        status, message = Status.FAIL, f"{metric} {ref_value:.4g} -> {cur_value:.4g}: worse by {degradation:.3g}"
    elif excess > 0:
        status = Status.WARN
        message = f"{metric} {ref_value:.4g} -> {cur_value:.4g}: worse by {degradation:.3g}, within noise (SE {se:.2g})"
    else:
        status, message = Status.PASS, f"{metric} {ref_value:.4g} -> {cur_value:.4g}"
    return ConceptDrift(metric, ref_value, cur_value, degradation, se, allowed, status, message, n_ref, n_cur)


def concept_allowed_degradation(absolute: float | None, relative: float, reference_value: float) -> float:
    """The degradation of the metric allowed before it is concept drift, in the metric's units: the absolute
    limit when the policy sets one, else ``relative`` of the reference's value (an RMSE in dollars and an AUC
    get the same 5 %), so the default does not depend on the target's scale."""
    if absolute is not None:
        return absolute
    return relative * abs(reference_value) if np.isfinite(reference_value) else relative
