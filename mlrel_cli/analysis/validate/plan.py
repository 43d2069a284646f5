"""The facts validate's checks judge, gathered through the engine before any check runs: the plan, then the facts.

The plan names the facts the enabled checks need; the engine builds them (the
local engine from whole columns, exactly; the Dask engine on the workers,
merged). Three passes at most: the reference (its ranges and categories), the
log (every column fact, the ranges known), and its timestamps once more for the
downtime windows, whose width depends on the span the second pass found.

The label facts are asked of the engine the same way on every engine: the
labels file joined to the log (Engine.labelled_log), the labelled rows'
metrics (Engine.labelled_evidence: exact from every row locally, from merged
parts and a sample on Dask), per-query sums, proxy metrics.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis import weak_segments
from mlrel_cli.analysis.validate.context import Setup, segment_text
from mlrel_cli.analysis.validate.facts import Facts, QueryRows
from mlrel_cli.analysis.validate.traffic import downtime_window
from mlrel_cli.engine.interface import LABEL_ARRIVED, Engine
from mlrel_cli.facts.columns import Plan, TimeFacts
from mlrel_cli.facts.merge import Sums
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.task import infer_task
from mlrel_cli.logs.values import timestamps_keeping_rows, to_numpy_float
from mlrel_cli.policy import Policy
from mlrel_cli.stats.inference import SE_MAX_ROWS
from mlrel_cli.tasks import per_query, row_metrics


def numeric_features(ctx: Setup) -> set[str]:
    """The features judged as numbers: numeric by role and stored as numbers."""
    log = ctx.log
    return {
        name
        for name, kind in ctx.roles.features.items()
        if kind == "numeric" and kind_of_type(log.schema.field(name).type) == "numeric"
    }


def gather(ctx: Setup, engine: Engine) -> Facts:
    """Every fact the enabled checks need, from the engine."""
    log, roles, spec = ctx.log, ctx.roles, ctx.policy.validate_
    from mlrel_cli.facts.proxy import proxy_inputs

    for name in ctx.policy.proxy_metrics:  # the policy's proxy inputs checked on the schema before any row is read
        proxy_inputs(ctx.policy, log, name)
    # the labels file joined first, as it always was: a file that matches no id fails before any fact is built
    labelled = engine.labelled_log(log, roles, ctx.labels, ctx.policy) if ctx.labels is not None else log
    reference = _reference_facts(ctx, engine)
    features = {f"{kind}:{name}": name for name in roles.features for kind in ("numeric", "categorical")}

    def done(key: str) -> None:  # the progress bar counts features
        if key in features:
            ctx.progress(features[key])

    current = engine.column_facts(log, plan_log(ctx, reference), done)
    if spec.duplicates.enabled and roles.id is not None:
        current["duplicates"] = engine.count_duplicates(log, roles.id, spec.duplicates.top)
    current.update(_windows(ctx, engine, current.get("time")))
    task, label = _labelled_facts(ctx, engine, labelled, current)
    return Facts(reference, current, task, label, ctx.policy)


def _reference_facts(ctx: Setup, engine: Engine) -> dict[str, Any]:
    """The reference's extremes and categories of every feature it has (through the reference seam: a log's built
    by the engine, a profile's from its summaries)."""
    from mlrel_cli.analysis.reference import reference_facts

    reference = ctx.reference
    if reference is None:
        return {}
    numeric = numeric_features(ctx)
    plan: Plan = {}
    for name in ctx.roles.features:
        if name not in numeric:
            if reference.has(name):
                plan[f"categorical:{name}"] = ("categorical", name, {})
        elif reference.has(name) and kind_of_type(reference.schema.field(name).type) == "numeric":
            plan[f"numeric:{name}"] = ("numeric", name, {})
    return reference_facts(engine, reference).column_facts(plan) if plan else {}


def plan_log(ctx: Setup, reference: dict[str, Any]) -> Plan:
    """The column facts of the log that the enabled checks judge."""
    from mlrel_cli.analysis.validate.columns import range_bounds

    roles, spec = ctx.roles, ctx.policy.validate_
    numeric = numeric_features(ctx)
    plan: Plan = {}
    for name in roles.features:
        if name in numeric:
            lo, hi, _ = range_bounds(ctx, name, reference.get(f"numeric:{name}"))
            plan[f"numeric:{name}"] = ("numeric", name, {"lo": lo, "hi": hi, "keep": spec.ranges.top * 4})
        else:
            plan[f"categorical:{name}"] = ("categorical", name, {})
    if spec.prediction.enabled:
        plan["prediction"] = ("prediction", roles.prediction, {})
    if roles.timestamp is not None and (spec.freshness.enabled or spec.downtime.enabled):
        plan["time"] = ("time", roles.timestamp, {"where": f"{ctx.log.path}: {roles.timestamp}"})
    if roles.latency is not None and spec.latency.enabled:
        plan["latency"] = ("latency", roles.latency, {})
    if roles.label is not None and ctx.labels is None and spec.label_coverage.enabled:
        plan["labels"] = ("labels", roles.label, {})
    return plan


def _windows(ctx: Setup, engine: Engine, times: TimeFacts | None) -> dict[str, Any]:
    """Traffic per downtime window; a ranking log counts queries (distinct times: every result of a query is served
    at the query's time), not results."""
    roles, spec = ctx.roles, ctx.policy.validate_
    if times is None or not times.count:
        return {}
    where = f"{ctx.log.path}: {roles.timestamp}"
    assert roles.timestamp is not None  # times are read from it
    if per_query(ctx.policy.task):
        width_of = partial(downtime_window, ctx) if spec.downtime.enabled else lambda _times: None
        found, windows = engine.distinct_times(ctx.log, roles.timestamp, where, width_of)
        return {"time": found, "windows": windows}
    width = downtime_window(ctx, times) if spec.downtime.enabled else None
    if width is None:
        return {}
    n = int((times.newest - times.oldest) // width) + 1
    plan: Plan = {"windows": ("windows", roles.timestamp, {"where": where, "origin": times.oldest, "width": width, "windows": n})}
    return engine.column_facts(ctx.log, plan)


# ---------------------------------------------------------------- labelled facts


def _labelled_facts(ctx: Setup, engine: Engine, labelled: Log, current: dict[str, Any]) -> tuple[str | None, str | None]:
    """Into ``current``: label coverage and lag, the labelled rows' metrics (overall, per segment, per query), weak
    segments, proxy metrics and positive rates; returns the task and the label column the label checks read.

    With ``--labels`` the engine joins them to the log (Engine.labelled_log); every fact below is asked of the
    engine alike, which answers from every row locally and from merged parts and a sample on Dask.
    """
    log, roles, policy, spec = ctx.log, ctx.roles, ctx.policy, ctx.policy.validate_
    label = policy.columns.label if ctx.labels is not None else roles.label
    task = policy.task
    if task is None:  # from the predictions and labels: every row locally, a uniform sample on Dask
        sample = engine.sample(labelled, [roles.prediction, *([label] if label else [])], 2 * SE_MAX_ROWS)
        task = infer_task(sample.column(roles.prediction), sample.column(label) if label else None)
    if label is not None:
        if spec.label_coverage.enabled and ctx.labels is not None:
            current["labels"] = engine.column_facts(labelled, {"labels": ("labels", label, {})})["labels"]
        if spec.label_coverage.enabled and labelled.has(LABEL_ARRIVED) and roles.timestamp is not None:
            current["label_lag"] = _label_lag(ctx, engine, labelled, roles.timestamp)
        if spec.performance.enabled or spec.fairness.enabled:
            current.update(_performance(ctx, engine, labelled, label, task))
    current.update(_per_query(ctx, engine, labelled, label, task))
    if policy.proxy_metrics:
        if any(p.per == "query" for p in policy.proxy_metrics.values()):
            from mlrel_cli.analysis.validate.ranking import query_column

            query_column(ctx)  # its own error before any row is read
        current["proxies"] = engine.proxy_metrics(log, policy)
    fairness = spec.fairness
    scored = kind_of_type(log.schema.field(roles.prediction).type) == "numeric"
    if label is None and fairness.enabled and fairness.segment and fairness.metric == "positive_rate" and scored:
        columns = list(dict.fromkeys([roles.prediction, fairness.segment]))
        threshold = spec.performance.decision_threshold
        rates = partial(positive_rates, prediction=roles.prediction, segment=fairness.segment, threshold=threshold)
        current["positive_rates"] = engine.reduce(log, columns, rates)["groups"].parts
    return task, label


def _label_lag(ctx: Setup, engine: Engine, labelled: Log, timestamp: str) -> np.ndarray:
    """Seconds from serving to each label's arrival, over every row whose both times are known."""
    table = engine.sample(labelled, [timestamp, LABEL_ARRIVED], labelled.num_rows)  # every row
    served = timestamps_keeping_rows(table.column(timestamp), ctx.log.path)
    arrived = table.column(LABEL_ARRIVED).to_numpy()
    both = (arrived >= 0) & (served >= 0)
    return (arrived[both] - served[both]) / 1e6


def _performance(ctx: Setup, engine: Engine, labelled: Log, label: str, task: str | None) -> dict[str, Any]:
    """The labelled rows' metrics, overall and per value of the segments (and of the fairness column), and the
    weak-segment sums."""
    roles, policy, spec = ctx.roles, ctx.policy, ctx.policy.validate_
    if not row_metrics(task):
        return {}
    assert task is not None  # a task with row metrics
    fairness = spec.fairness
    segments = list(dict.fromkeys([*roles.segments, *([fairness.segment] if fairness.enabled and fairness.segment else [])]))
    columns = list(dict.fromkeys([roles.prediction, label, *segments]))
    rows_of = partial(labelled_rows, prediction=roles.prediction, label=label, policy=policy, task=task)
    threshold = spec.performance.decision_threshold
    found: dict[str, Any] = {
        "performance": engine.labelled_evidence(labelled, columns, rows_of, task, threshold, segments, 2 * SE_MAX_ROWS)
    }
    if spec.performance.enabled and spec.weak_segments.enabled:
        found["weak_segments"] = weak_segments.gather_on_cluster(
            engine, labelled, ctx.reference, roles.features, roles.segments, roles.prediction, label, task, policy
        )
    return found


def _per_query(ctx: Setup, engine: Engine, labelled: Log, label: str | None, task: str | None) -> dict[str, Any]:
    """Ranking metrics: the rows brought together by query (a shuffle on Dask), summed per query; and every
    labelled result for the weak-segment search by query, when the engine sends them all."""
    from mlrel_cli.analysis.validate.ranking import position_column, query_column, query_units

    policy = ctx.policy
    spec = policy.validate_.performance
    if not (per_query(task) and label is not None and spec.enabled):
        return {}
    query, position = query_column(ctx), position_column(ctx)
    units = partial(query_units, ranking=(position, label, spec.k), proxies={})
    names = [f"ndcg@{spec.k}", "mrr", f"ctr@{spec.k}", "no_engagement"]
    found: dict[str, Any] = {
        "per_query": engine.per_query_sums(labelled, list(dict.fromkeys([query, position, label])), query, units, names)
    }
    if policy.validate_.weak_segments.enabled:
        from mlrel_cli.analysis.weak_segments import SAMPLE_ROWS

        table = engine.sample(labelled, list(dict.fromkeys([query, position, label])), SAMPLE_ROWS)
        if table.num_rows == labelled.num_rows:  # whole queries only: a sample of results would cut them
            codes = pc.dictionary_encode(table.column(query)).combine_chunks()
            codes = codes.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            pos, gain = to_numpy_float(table.column(position)), to_numpy_float(table.column(label))
            keep = (codes >= 0) & np.isfinite(gain) & np.isfinite(pos)
            found["query_rows"] = QueryRows(codes, pos, gain, keep)
    return found


# ---------------------------------------------------------------- on the workers


def positive_rates(table: pa.Table, prediction: str, segment: str, threshold: float) -> dict[str, Any]:
    from mlrel_cli.facts.merge import Keyed

    score = to_numpy_float(table.column(prediction))
    keep = np.isfinite(score)
    groups, score = segment_text(table.column(segment))[keep], score[keep]
    counts = {}
    for group in np.unique(groups):
        mine = groups == group
        counts[str(group)] = Sums({"n": int(mine.sum()), "positive": int((score[mine] >= threshold).sum())})
    return {"groups": Keyed(counts)}


def labelled_rows(
    table: pa.Table, prediction: str, label: str, policy: Policy, task: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labelled rows as validate's prepare_labelled selects and encodes them, and which rows they are."""
    from mlrel_cli.analysis.validate.performance import prepare_labelled

    data = prepare_labelled(policy, task, table.column(prediction).combine_chunks(), table.column(label).combine_chunks())
    return data.truth, data.predicted, data.keep
