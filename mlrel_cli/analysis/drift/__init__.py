"""``mlrel drift``: how far production moved from the reference, in which features, and since when.

Read top to bottom: the plan (plan.py: which columns, with which method),
the facts from the engine (each column's summary on both sides, per window
with ``--window``; the reference's from analysis/reference.py, the one seam
for a profile), the judge (judge.py, pure: a score against its threshold and the
score an unchanged log of the same size reaches by chance, unseen
categories, the missing-rate change, the onset), then the prediction, the
label, the performance metric (concept.py) and proxy metrics (proxies.py),
and the Report (verdict.py). The verdict is the policy's: a drifted critical
feature, too large a share of drifted features, or a degraded metric fails
the run. The analysis never asks which engine it runs on.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any

from mlrel_cli.analysis.drift.concept import concept_drift
from mlrel_cli.analysis.drift.judge import breach_verdict, correct_tests, judge_column
from mlrel_cli.analysis.drift.plan import MISSING_FROM_CURRENT, TEXT_LIKE, ColumnPlan, plan_columns, text_like, window_grid_of
from mlrel_cli.analysis.drift.proxies import proxy_metrics, with_proxies
from mlrel_cli.analysis.drift.verdict import drift_report
from mlrel_cli.analysis.reference import reference_facts
from mlrel_cli.engine.interface import Engine
from mlrel_cli.errors import LogError
from mlrel_cli.facts.windows import WindowGrid
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import resolve_roles
from mlrel_cli.payloads.drift import ConceptDrift, FeatureDrift, WindowScore
from mlrel_cli.policy import Policy
from mlrel_cli.report import Report
from mlrel_cli.stats.summaries import MAX_CATEGORIES, TooManyCategories

__all__ = ["ConceptDrift", "FeatureDrift", "WindowScore", "drift"]  # what other modules import from here

Progress = Callable[[str], None]
TOO_MANY = f"more than {MAX_CATEGORIES:,} distinct values: an id or free text, not categories"


def drift(
    reference: Log,
    current: Log,
    policy: Policy,
    window: dt.timedelta | None = None,
    labels: Log | None = None,
    progress: Progress | None = None,
    engine: str | None = None,
    scheduler: str | None = None,
) -> Report:
    from mlrel_cli.engine import check_engine, open_engine

    progress = progress or (lambda _step: None)
    spec = policy.drift
    engine = engine or policy.engine
    ref_roles = resolve_roles(reference, policy)
    cur_roles = resolve_roles(current, policy, label_from_labels_file=labels is not None)
    window = window or spec.window
    check_engine(engine, labels=labels, scheduler=scheduler)  # a profile as the reference: its summaries, on either engine
    if window is not None and cur_roles.timestamp is None:
        raise LogError(
            f"--window needs a timestamp column, and the current log has no column "
            f"'{policy.columns.timestamp}' (set columns.timestamp)",
            current.path,
        )

    with open_engine(engine, scheduler, policy.engine_timeout) as facts_engine:
        if labels is not None:  # the label column read from the labels file, joined on the id, as validate reads it
            current = facts_engine.labelled_log(current, cur_roles, labels, policy)
        ref_facts = reference_facts(facts_engine, reference)
        plans, not_compared = plan_columns(policy, reference, current, ref_roles, cur_roles, ref_facts.few_values)
        grid = None
        if window is not None:
            assert cur_roles.timestamp is not None
            grid = window_grid_of(facts_engine, current, cur_roles.timestamp, window)
        for name in ref_roles.features:  # a feature the pipeline stopped sending is the worst drift of all
            if name not in cur_roles.features and not current.has(name):
                not_compared[name] = MISSING_FROM_CURRENT
        label = policy.columns.label if labels is not None else cur_roles.label

        outcomes = _compare_columns(facts_engine, ref_facts, current, plans, grid, policy, progress)
        concept, task = None, policy.task
        if spec.concept:
            concept, task = concept_drift(facts_engine, ref_facts, current, ref_roles, cur_roles, label, policy, grid)
        proxies = proxy_metrics(facts_engine, ref_facts, current, policy, grid)

    skipped = {plan.name: why for plan, why in zip(plans, outcomes, strict=True) if isinstance(why, str)}
    columns = [*cur_roles.features, cur_roles.prediction, policy.columns.label]
    not_compared = _in_column_order({**not_compared, **skipped}, columns)
    results = [r for r in outcomes if isinstance(r, FeatureDrift)]
    results = [breach_verdict(r) for r in correct_tests(results, policy)]
    report = drift_report(results, not_compared, concept, policy, reference, current, window, task)
    report = replace(report, inputs={**report.inputs, "engine": engine})
    return with_proxies(report, proxies) if proxies else report


def _compare_columns(
    engine: Engine,
    ref_facts: Any,
    current: Log,
    plans: list[ColumnPlan],
    grid: WindowGrid | None,
    policy: Policy,
    progress: Progress,
) -> list[FeatureDrift | str]:
    """Each planned column judged, or why it is not compared (an id, or too many categories to count); locally
    each column is read and summarised when its turn comes, two at a time."""
    from mlrel_cli.stats.drift import comparison_false_alarm_rate

    spec = policy.drift
    rate = comparison_false_alarm_rate(
        spec.run_false_alarm_rate, spec.false_alarm_rate, sum(not plan.method.is_test for plan in plans)
    )
    ref_summary = ref_facts.summaries({plan.reference_column: plan.kind for plan in plans})
    cur_summaries = engine.column_summaries(current, {plan.current_column: plan.kind for plan in plans}, grid)

    def run(plan: ColumnPlan) -> FeatureDrift | str:
        ref = ref_summary(plan.reference_column)
        if isinstance(ref, TooManyCategories):
            return TOO_MANY
        if text_like(plan, policy, partial(ref_facts.distinct_and_present, plan.reference_column, ref)):
            return TEXT_LIKE
        cur, windows = cur_summaries(plan.current_column)
        if isinstance(cur, TooManyCategories):
            return TOO_MANY
        result = judge_column(plan, ref, cur, windows, grid, policy, rate)
        progress(plan.name)
        return result

    # two columns in flight per core: enough to overlap reading with sorting, and memory stays ~ 4 columns
    workers = max(1, min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, plans))


def _in_column_order(reasons: dict[str, str], columns: list[str]) -> dict[str, str]:
    """The columns not compared in the order they were planned, the features gone from the current log last."""
    position = {name: i for i, name in enumerate(columns)}
    gone = [name for name, why in reasons.items() if why == MISSING_FROM_CURRENT]
    planned = sorted((name for name in reasons if name not in gone), key=lambda name: position.get(name, len(columns)))
    return {name: reasons[name] for name in [*planned, *gone]}
