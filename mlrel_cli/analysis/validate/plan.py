"""The facts validate's checks judge, gathered through the engine before any check runs: the plan, then the facts.

The plan names the facts the enabled checks need; the engine builds them (the
local engine from whole columns, exactly; the Dask engine on the workers,
merged). Three passes at most: the reference (its ranges and categories), the
log (every column fact, the ranges known), and its timestamps once more for the
downtime windows, whose width depends on the span the second pass found.

What needs every labelled row in one place (labels joined from a file, exact
ROC AUC, the bootstrap over all rows) is read by the in-process route of
``labelled.py``; an engine that keeps rows on workers gets its labelled facts
here, from merged parts and a uniform sample.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.analysis import weak_segments
from mlrel_cli.analysis.validate.context import Context, segment_text
from mlrel_cli.analysis.validate.facts import Facts
from mlrel_cli.analysis.validate.traffic import downtime_window
from mlrel_cli.engine.interface import Engine
from mlrel_cli.facts.columns import Plan, TimeFacts
from mlrel_cli.facts.merge import Sums, sample_rows
from mlrel_cli.logs import infer_task, kind_of_type, to_numpy_float
from mlrel_cli.policy import Policy
from mlrel_cli.stats.inference import SE_MAX_ROWS
from mlrel_cli.tasks import per_query, row_metrics


def numeric_features(ctx: Context) -> set[str]:
    """The features judged as numbers: numeric by role and stored as numbers."""
    log = ctx.log
    return {
        name
        for name, kind in ctx.roles.features.items()
        if kind == "numeric" and kind_of_type(log.schema.field(name).type) == "numeric"
    }


def gather(ctx: Context, engine: Engine) -> Facts:
    """Every fact the enabled checks need, from the engine."""
    log, roles, spec = ctx.log, ctx.roles, ctx.policy.validate_
    from mlrel_cli.facts.proxy import proxy_inputs

    for name in ctx.policy.proxy_metrics:  # the policy's proxy inputs checked on the schema before any row is read
        proxy_inputs(ctx.policy, log, name)
    reference = _reference_facts(ctx, engine)
    features = {f"{kind}:{name}": name for name in roles.features for kind in ("numeric", "categorical")}

    def done(key: str) -> None:  # the progress bar counts features
        if key in features:
            ctx.progress(features[key])

    current = engine.column_facts(log, plan_log(ctx, reference), done)
    if spec.duplicates.enabled and roles.id is not None:
        current["duplicates"] = engine.count_duplicates(log, roles.id, spec.duplicates.top)
    current.update(_windows(ctx, engine, current.get("time")))
    task = ctx.policy.task
    if not engine.in_process:
        task = _labelled_facts(ctx, engine, current)
    return Facts(reference, current, task, ctx.policy, engine.in_process)


def _reference_facts(ctx: Context, engine: Engine) -> dict[str, Any]:
    """The reference's extremes and categories of every feature it has; a profile gives its own."""
    reference = ctx.reference
    if reference is None:
        return {}
    numeric = numeric_features(ctx)
    profile = hasattr(reference, "numeric_facts")
    found: dict[str, Any] = {}
    plan: Plan = {}
    for name in ctx.roles.features:
        if name not in numeric:
            if profile:  # its known categories
                found[f"categorical:{name}"] = reference.categorical_counts(name)  # type: ignore[attr-defined]
            elif reference.has(name):
                plan[f"categorical:{name}"] = ("categorical", name, {})
        elif reference.has(name) and kind_of_type(reference.schema.field(name).type) == "numeric":
            if profile:  # its missing count and extremes
                found[f"numeric:{name}"] = reference.numeric_facts(name)  # type: ignore[attr-defined]
            else:
                plan[f"numeric:{name}"] = ("numeric", name, {})
    return {**found, **engine.column_facts(reference, plan)} if plan else found


def plan_log(ctx: Context, reference: dict[str, Any]) -> Plan:
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


def _windows(ctx: Context, engine: Engine, times: TimeFacts | None) -> dict[str, Any]:
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


# ---------------------------------------------------------------- labelled facts from merged parts


def _labelled_facts(ctx: Context, engine: Engine, current: dict[str, Any]) -> str | None:
    """Into ``current``: the labelled rows' metrics, overall and per segment, weak segments, per-query sums, proxy
    sums and positive rates; returns the task (from a sample of the rows when the policy does not name it)."""
    from mlrel_cli.facts.proxy import per_request, proxy_facts, proxy_inputs

    log, roles, policy, spec = ctx.log, ctx.roles, ctx.policy, ctx.policy.validate_
    task = policy.task
    if roles.label is not None:
        task = _labelled(ctx, engine, current)
        if spec.performance.enabled and task is not None:
            current["weak_segments"] = weak_segments.gather_on_cluster(
                engine, log, ctx.reference, roles.features, roles.segments, roles.prediction, roles.label, task, ctx.policy
            )
    elif task is None:  # as the local engine does without labels: from the predictions (a sample of them here)
        fraction = min(1.0, 2 * SE_MAX_ROWS / max(log.num_rows, 1))
        sample = engine.reduce(log, [roles.prediction], partial(sample_rows, columns=[roles.prediction], fraction=fraction), True)
        task = infer_task(sample["sample"].table.column(roles.prediction), None)
    current.update(_per_query(ctx, engine, task))
    metrics = {name: (policy.proxy_metrics[name].kind, proxy_inputs(policy, log, name)) for name in per_request(policy)}
    if metrics:
        columns = list(dict.fromkeys(c for _, inputs in metrics.values() for c in inputs.values()))
        current.update(engine.reduce(log, columns, partial(proxy_facts, metrics=metrics)))
    fairness = spec.fairness
    if roles.label is None and fairness.enabled and fairness.segment and fairness.metric == "positive_rate":
        columns = list(dict.fromkeys([roles.prediction, fairness.segment]))
        rates = partial(
            positive_rates, prediction=roles.prediction, segment=fairness.segment, threshold=spec.performance.decision_threshold
        )
        current["positive_rates"] = engine.reduce(log, columns, rates)["groups"].parts
    return task


def _per_query(ctx: Context, engine: Engine, task: str | None) -> dict[str, Any]:
    """Ranking metrics and per-query proxy metrics: the rows shuffled by query on the cluster, summed per query."""
    from mlrel_cli.analysis.validate.ranking import position_column, query_column, query_units
    from mlrel_cli.facts.proxy import proxy_inputs

    policy, roles = ctx.policy, ctx.roles
    k = policy.validate_.performance.k
    ranking = per_query(task) and roles.label is not None and policy.validate_.performance.enabled
    proxies = {
        name: (p.kind, proxy_inputs(policy, ctx.log, name)) for name, p in policy.proxy_metrics.items() if p.per == "query"
    }
    if not ranking and not proxies:
        return {}
    query = query_column(ctx)
    rank = (position_column(ctx), roles.label, k) if ranking and roles.label is not None else None
    columns = [query, *(rank[:2] if rank else [])] + [c for _, inputs in proxies.values() for c in inputs.values()]
    names = [*([f"ndcg@{k}", "mrr", f"ctr@{k}", "no_engagement"] if ranking else []), *(f"proxy:{n}" for n in proxies)]
    units = partial(query_units, ranking=rank, proxies=proxies)
    return {"per_query": engine.per_query_sums(ctx.log, list(dict.fromkeys(columns)), query, units, names)}


def _labelled(ctx: Context, engine: Engine, current: dict[str, Any]) -> str | None:
    """The task (from a sample when the policy does not name it) and the labelled rows' metrics, overall and per
    segment, into ``current``: a score sketch and a row sample first, then the labelled parts."""
    log, roles, policy = ctx.log, ctx.roles, ctx.policy
    label = roles.label
    assert label is not None  # called for a labelled log only
    fairness = policy.validate_.fairness
    segments = list(dict.fromkeys([*roles.segments, *([fairness.segment] if fairness.enabled and fairness.segment else [])]))
    columns = list(dict.fromkeys([roles.prediction, label, *segments]))
    fraction = min(1.0, 2 * SE_MAX_ROWS / max(log.num_rows, 1))
    task = policy.task
    if task is None:
        sample = engine.reduce(log, columns, partial(sample_rows, columns=[roles.prediction, label], fraction=fraction), True)
        task = infer_task(sample["sample"].table.column(roles.prediction), sample["sample"].table.column(label))
    if not row_metrics(task) or not (policy.validate_.performance.enabled or fairness.enabled):
        return task
    prepare = partial(labelled_data, prediction=roles.prediction, label=label, segments=segments, policy=policy, task=task)
    current["performance"] = engine.labelled_summary(
        log, columns, prepare, task, policy.validate_.performance.decision_threshold, 2 * SE_MAX_ROWS
    )
    return task


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


def labelled_data(
    table: pa.Table, prediction: str, label: str, segments: list[str], policy: Policy, task: str
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The labelled rows as validate's own prepare_labelled selects them, and their segment values as text."""
    from mlrel_cli.analysis.validate.performance import prepare_labelled

    data = prepare_labelled(policy, task, table.column(prediction).combine_chunks(), table.column(label).combine_chunks())
    return data.truth, data.predicted, {s: segment_text(table.column(s))[data.keep] for s in segments}
