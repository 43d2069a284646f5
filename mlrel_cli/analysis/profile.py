"""Building a reference profile: drift's own summaries of each column, from the engine's facts.

One path on every engine (build_profile): each column's distribution summary
(Engine.column_summaries), its counts and extremes (Engine.column_facts), the
outputs' sample (Engine.sample), the labelled rows' metrics
(Engine.labelled_evidence), the labels file joined (Engine.labelled_log) and
the proxy sums. The engine decides how exact they are: the local engine
summarises each whole column (exact sorted values, sketched from all of them;
the exact metrics of every labelled row), the Dask engine merges what the
workers reduced (sketches, counts, a seeded sample), so a Dask-built profile is
what a Dask drift run would have built of the raw reference. The file format,
reading it and using it in place of a reference are in facts/profile.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.engine.interface import Engine
from mlrel_cli.facts.columns import FEW_VALUES
from mlrel_cli.facts.profile import (
    SCHEMA_VERSION,
    ColumnProfile,
    Profile,
    SketchSummary,
    iso_from_us,
    mlrel_version,
    policy_hash,
    relevant_policy,
    sample_cells,
    sha256_of,
)
from mlrel_cli.logs import Log
from mlrel_cli.policy import Policy
from mlrel_cli.stats.inference import SE_MAX_ROWS
from mlrel_cli.stats.sketch import SKETCH_POINTS
from mlrel_cli.stats.summaries import MAX_CATEGORIES, CategoricalSummary, NumericSummary, capped


def profile_log(
    log: Log,
    policy: Policy,
    labels: Log | None = None,
    exact: bool = False,
    engine: str | None = None,
    scheduler: str | None = None,
) -> Profile:
    """``mlrel profile`` on the engine the policy or --engine names; what it refuses (--exact and --labels on
    Dask) is refused by engine.check_engine before any row is read."""
    from mlrel_cli.engine import check_engine, open_engine

    name = check_engine(engine or policy.engine, labels=labels, scheduler=scheduler, exact=exact)
    with open_engine(name, scheduler, policy.engine_timeout) as opened:
        return build_profile(opened, log, policy, labels, exact)


def build_profile(engine: Engine, log: Log, policy: Policy, labels: Log | None = None, exact: bool = False) -> Profile:
    """Summarise the reference as drift does on ``engine``: each profiled column, the labelled cells and their
    metrics, the time span and the proxy sums."""
    from mlrel_cli.logs.roles import kind_of_type, resolve_roles

    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    label = policy.columns.label if labels is not None else roles.label
    source = engine.labelled_log(log, roles, labels, policy) if labels is not None else log
    outputs = [(roles.prediction, "prediction")] + ([(label, "label")] if label is not None else [])
    wanted = [(name, "feature", kind) for name, kind in roles.features.items() if kind != "text"]
    wanted += [(name, role, kind_of_type(source.schema.field(name).type) or "categorical") for name, role in outputs]
    facts = engine.column_facts(source, _plan(wanted, roles.timestamp, f"{log.path}: {roles.timestamp}"))
    distinct = {name: facts[f"distinct:{name}"].count for name, role, kind in wanted if f"distinct:{name}" in facts}
    few = {name for name, count in distinct.items() if count is not None and count <= FEW_VALUES}  # classes
    summaries = engine.column_summaries(source, {name: kind for name, _, kind in wanted})
    counts = engine.column_summaries(source, dict.fromkeys(few, "categorical")) if few else None

    schema = log.schema
    if label is not None and label not in schema.names:  # from --labels: the reference's label
        schema = schema.append(source.schema.field(label))
    profile = Profile(meta={}, log_schema=schema)
    for name, role, kind in wanted:
        counted = facts[f"rows:{name}"]  # rows and non-null values (a LabelCount)
        entry = ColumnProfile(name, role, str(source.schema.field(name).type), kind, counted.rows, counted.labelled, None)
        summary, _ = summaries(name)
        if kind == "numeric":
            sketch = summary.sketch()
            entry.sketch, entry.numeric = sketch, summary if exact else SketchSummary.of(sketch)
            entry.extremes = (facts[f"numeric:{name}"].low, facts[f"numeric:{name}"].high)
            entry.distinct = distinct.get(name)  # counted for the outputs only
        categorical = summary if kind != "numeric" else None
        if counts is not None and name in few:  # a prediction or label of a few classes: compared as classes
            categorical, _ = counts(name)
        if categorical is not None:
            entry.categorical = capped(categorical)
            entry.distinct = len(categorical.categories) if isinstance(categorical, CategoricalSummary) else MAX_CATEGORIES + 1
        _draw_noise(entry, summary if kind == "numeric" else entry.categorical, policy)
        profile.columns[name] = entry

    task = _labelled(engine, source, profile, roles.prediction, label, policy, exact)
    times = facts.get(":time")
    span = _span(roles.timestamp, times.oldest, times.newest) if roles.timestamp and times and times.count else None
    _finish(profile, log, policy, labels, exact, span, task, proxy_sums(engine, log, policy))
    return profile


def _plan(wanted: list[tuple[str, str, str]], timestamp: str | None, where: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """The column facts a profile keeps: each column's rows and non-null values, a numeric one's extremes, a numeric
    output's distinct values (classes?), and the time span."""
    plan: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for name, role, kind in wanted:
        plan[f"rows:{name}"] = ("labels", name, {})
        if kind == "numeric":
            plan[f"numeric:{name}"] = ("numeric", name, {})
        if kind == "numeric" and role != "feature":
            plan[f"distinct:{name}"] = ("distinct", name, {})
    if timestamp is not None:
        plan[":time"] = ("time", timestamp, {"where": where})
    return plan


def _labelled(
    engine: Engine, log: Log, profile: Profile, prediction: str, label: str | None, policy: Policy, exact: bool
) -> str | None:
    """The task (the policy's, else inferred from the outputs' sample: every row locally) and the labelled cells
    concept drift scores the reference's metric on: in sketch mode, the metrics of every labelled row the engine
    reads (Engine.labelled_evidence) and a sample of the cells for their standard error; in exact mode every cell."""
    import pyarrow.compute as pc

    from mlrel_cli.logs.task import infer_task
    from mlrel_cli.tasks import row_metrics

    sample = engine.sample(log, [prediction] + ([label] if label is not None else []), 2 * SE_MAX_ROWS)
    task = policy.task or infer_task(sample.column(prediction), sample.column(label) if label is not None else None)
    if label is None:
        return task
    sample = sample.filter(pc.and_(pc.is_valid(sample.column(prediction)), pc.is_valid(sample.column(label))))
    cells = (sample.column(prediction).combine_chunks(), sample.column(label).combine_chunks())
    labelled: dict[str, Any] = {"rows": len(cells[0]), "metrics": None if exact else {}}
    if not exact and row_metrics(task):
        assert task is not None
        labelled = _reference_metrics(engine, log, prediction, label, task, policy)
    if not exact:
        cells = sample_cells(cells, 2 * SE_MAX_ROWS)
    profile.columns[prediction].cells, profile.columns[label].cells = cells
    profile.meta["labelled"] = labelled
    return task


def _draw_noise(entry: ColumnProfile, source: Any, policy: Policy) -> None:
    """The null draws of drift's noise line for a current of 2,000 rows or more, from the exact column (as drift
    draws them from the raw reference), for the methods this policy compares the column with: a run against the
    profile reads them instead of drawing 200 comparisons a column (a smaller current is drawn at run time)."""
    from mlrel_cli.stats.drift import METHOD_BY_NAME, NOISE_MAX_ROWS, null_scores

    target = entry.numeric if entry.kind == "numeric" else entry.categorical
    if not isinstance(source, (NumericSummary, CategoricalSummary)) or not source.count:
        return
    if not isinstance(target, (NumericSummary, CategoricalSummary)):  # past the category cap: nothing to draw
        return
    spec = policy.drift
    feature = spec.features.get(entry.name)
    names = {(feature.method if feature and feature.method else None) or getattr(spec.methods, entry.kind)}
    if entry.role != "feature" and entry.categorical is not None and entry.kind == "numeric":
        return  # a prediction or label of a few classes is compared as classes: drawn at run time
    for name in names:
        method = METHOD_BY_NAME.get(name)
        if method is None or method.is_test or entry.kind not in method.kinds:
            continue
        key = (method.name, NOISE_MAX_ROWS, min(source.count, NOISE_MAX_ROWS), spec.bins, 0)
        target.null_draws[key] = null_scores(method, source, *key[1:])


def _span(column: str, oldest: int, newest: int) -> dict[str, str]:
    return {"column": column, "oldest": iso_from_us(oldest), "newest": iso_from_us(newest)}


def _finish(
    profile: Profile,
    log: Log,
    policy: Policy,
    labels: Log | None,
    exact: bool,
    span: dict[str, str] | None,
    task: str | None,
    proxies: dict[str, Any],
) -> None:
    """The metadata: what the profile summarises, built how and under which policy."""
    sources: list[dict[str, Any]] = [{"path": f, "sha256": sha256_of(f)} for f in log.files]
    if labels is not None:
        sources += [{"path": f, "sha256": sha256_of(f), "labels": True} for f in labels.files]
    relevant = relevant_policy(policy)
    profile.meta = {
        **profile.meta,
        "schema_version": SCHEMA_VERSION,
        "mode": "exact" if exact else "sketch",
        "sketch_points": SKETCH_POINTS,
        "max_categories": MAX_CATEGORIES,
        "rows": log.num_rows,
        "time_span": span,
        "sources": sources,
        "policy": relevant,
        "policy_hash": policy_hash(relevant),
        "task": task,
        "proxy": proxies,
        "mlrel_version": mlrel_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def proxy_sums(engine: Engine, log: Log, policy: Policy) -> dict[str, Any]:
    """The reference's sums of every proxy metric of the policy, as drift reduces them on a cluster: proxy_sums
    per request (facts/proxy.py), the count, sum and sum of squares of the per-query values per query."""
    from mlrel_cli.facts.proxy import proxy_facts, proxy_inputs

    metrics = {name: (spec.kind, proxy_inputs(policy, log, name)) for name, spec in policy.proxy_metrics.items()}
    request = {name: m for name, m in metrics.items() if policy.proxy_metrics[name].per != "query"}
    per_query = {name: m for name, m in metrics.items() if name not in request}
    out: dict[str, Any] = {}
    if request:
        columns = list(dict.fromkeys(c for _, inputs in request.values() for c in inputs.values()))
        found = engine.reduce(log, columns, partial(proxy_facts, metrics=request))
        out.update({name: {"sums": found[f"proxy:{name}"].values} for name in request})
    if per_query:
        query = policy.columns.query
        if not query or not log.has(query):
            from mlrel_cli.errors import PolicyError

            name = next(iter(per_query))
            raise PolicyError(
                f"proxy_metrics.{name}: per query needs columns.query in the reference", policy.source_of(f"proxy_metrics.{name}")
            )
        columns = list(dict.fromkeys([query, *(c for _, inputs in per_query.values() for c in inputs.values())]))
        names = [f"proxy:{name}" for name in per_query]
        found = engine.per_query_sums(log, columns, query, partial(query_proxies, metrics=per_query), names)
        out.update({name: {"sums": found[f"proxy:{name}"]} for name in per_query})
    for name, (kind, inputs) in metrics.items():
        out[name].update(kind=kind, inputs=dict(inputs), per=policy.proxy_metrics[name].per)
    return out


def query_proxies(
    table: pa.Table, codes: np.ndarray, metrics: Mapping[str, tuple[str, Mapping[str, str]]]
) -> dict[str, np.ndarray]:
    """Per-query values of each per-query proxy metric (whole queries: all their rows are in ``table``)."""
    from mlrel_cli.facts.proxy import as_float
    from mlrel_cli.stats.ranking import per_query_proxy

    units = {}
    for name, (kind, inputs) in metrics.items():
        arrays = {key: as_float(table.column(column)) for key, column in inputs.items()}
        units[f"proxy:{name}"] = per_query_proxy(
            kind, arrays.get("column"), arrays.get("numerator"), arrays.get("denominator"), codes
        )
    return units


def _reference_metrics(engine: Engine, log: Log, prediction: str, label: str, task: str, policy: Policy) -> dict[str, Any]:
    """Every metric concept drift may ask of this task over the labelled rows, and how many they are: exact from
    every row locally, from merged labelled parts on Dask."""
    from mlrel_cli.stats.names import METRIC_BY_NAME

    performance = policy.validate_.performance
    rows_of = partial(labelled_pairs, prediction=prediction, label=label, task=task, positive_label=performance.positive_label)
    evidence = engine.labelled_evidence(
        log, [prediction, label], rows_of, task, performance.decision_threshold, [], 2 * SE_MAX_ROWS
    )
    found = evidence.metrics_of(None)
    named = [name for name, metric in METRIC_BY_NAME.items() if task in metric.tasks and name in found]
    return {"rows": evidence.rows, "metrics": {name: float(found[name]) if np.isfinite(found[name]) else None for name in named}}


def labelled_pairs(
    table: pa.Table, prediction: str, label: str, task: str, positive_label: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs on a worker: the labelled rows of a table as the metric reads them (truth, predicted, their rows)."""
    from mlrel_cli.facts.concept import labelled_arrays

    return labelled_arrays(task, table.column(prediction).combine_chunks(), table.column(label).combine_chunks(), positive_label)
