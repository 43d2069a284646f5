"""Building a reference profile: drift's own summaries of each column.

In this process (build_profile) from whole columns, exact or sketched
(facts.distributions.summarise_column); on an engine (build_profile_on, the Dask
engine's path) from the summaries the same builders drift uses reduce on the
workers (drift_summaries, validate's column facts, a seeded sample): only
summaries travel, so a Dask-built profile is what a Dask drift run would
have built of the raw reference. The file format, reading it and using it in
place of a reference are in facts/profile.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.engine.interface import Engine
from mlrel_cli.facts.columns import FEW_VALUES, NumericFacts
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
from mlrel_cli.stats.sketch import SKETCH_POINTS, QuantileSketch
from mlrel_cli.stats.summaries import MAX_CATEGORIES, CategoricalSummary, NumericSummary, TooManyCategories


def profile_log(
    log: Log,
    policy: Policy,
    labels: Log | None = None,
    exact: bool = False,
    engine: str | None = None,
    scheduler: str | None = None,
) -> Profile:
    """``mlrel profile``: in this process, or on the Dask engine (sketch mode only: an exact profile is every
    value of each column, which is what the cluster exists not to bring to one place)."""
    from mlrel_cli.engine import check_engine, open_engine
    from mlrel_cli.errors import MlrelError

    name = check_engine(engine or policy.engine, labels=labels, scheduler=scheduler)
    if name == "local":
        return build_profile(log, policy, labels, exact)
    if exact:
        raise MlrelError(
            "--exact keeps every value of each column, which the Dask engine does not bring to one "
            "place: build a sketch profile on Dask (drop --exact), or an exact one with --engine local"
        )
    with open_engine(name, scheduler, policy.engine_timeout) as cluster:
        return build_profile_on(cluster, log, policy)


def build_profile(log: Log, policy: Policy, labels: Log | None = None, exact: bool = False) -> Profile:
    """Summarise the reference as drift does, one column at a time, in this process."""
    import pyarrow.compute as pc

    from mlrel_cli.facts.distributions import summarise_column
    from mlrel_cli.logs.labels import join_labels
    from mlrel_cli.logs.roles import kind_of_type, resolve_roles
    from mlrel_cli.logs.task import infer_task
    from mlrel_cli.logs.values import to_timestamps_us

    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    label_column = None
    if labels is not None:
        label_column = join_labels(log, roles, labels, policy).labels
    elif roles.label is not None:
        label_column = log.column(roles.label).combine_chunks()
    wanted = [(name, "feature", kind) for name, kind in roles.features.items() if kind != "text"]
    wanted.append((roles.prediction, "prediction", kind_of_type(log.schema.field(roles.prediction).type) or "categorical"))
    if label_column is not None:
        wanted.append((policy.columns.label, "label", kind_of_type(label_column.type) or "categorical"))

    schema = log.schema
    if label_column is not None and policy.columns.label not in schema.names:  # from --labels: the reference's label
        schema = schema.append(pa.field(policy.columns.label, label_column.type))
    profile = Profile(meta={}, log_schema=schema)
    for name, role, kind in wanted:
        column = label_column if role == "label" else log.column(name)
        assert column is not None
        if pa.types.is_boolean(column.type) or kind is None:
            kind = kind or "categorical"
        present = len(column) - column.null_count
        # drift asks the distinct count of categories (an id?) and of the outputs (classes?), not of numeric features
        # (unique, not count_distinct: it has no kernel for a dictionary column, what pandas' category writes)
        distinct = len(pc.drop_null(pc.unique(column))) if kind != "numeric" or role != "feature" else None
        entry = ColumnProfile(name, role, str(column.type), kind, len(column), present, distinct)
        if kind == "numeric":
            exact_summary, _ = summarise_column(partial(_same, column), "numeric", None)
            assert isinstance(exact_summary, NumericSummary)
            sorted_values = exact_summary.sorted_values
            entry.sketch = QuantileSketch.from_sorted(sorted_values, exact_summary.missing, exact_summary.infinite)
            entry.numeric = exact_summary if exact else SketchSummary.of(entry.sketch)
            facts = NumericFacts.of(column)
            entry.extremes = (facts.low, facts.high)
        if kind == "categorical" or (role != "feature" and distinct is not None and distinct <= FEW_VALUES):
            counts, _ = summarise_column(partial(_same, column), "categorical", None)
            assert isinstance(counts, CategoricalSummary)
            entry.categorical = (
                TooManyCategories(counts.total, counts.missing) if len(counts.categories) > MAX_CATEGORIES else counts
            )
        _draw_noise(entry, exact_summary if kind == "numeric" else entry.categorical, policy)
        profile.columns[name] = entry

    # the labelled cells concept drift scores the reference's metric on
    task = policy.task or infer_task(log.column(roles.prediction), label_column)
    if label_column is not None:
        prediction = log.column(roles.prediction).combine_chunks()
        keep = pc.and_(pc.is_valid(prediction), pc.is_valid(label_column))
        cells = (pc.filter(prediction, keep), pc.filter(label_column, keep))
        labelled: dict[str, Any] = {"rows": len(cells[0]), "metrics": None}
        if not exact:  # the metrics from every labelled row, a sample of the cells for their standard error
            labelled["metrics"] = _reference_metrics(task, *cells, policy)
            cells = sample_cells(cells, 2 * SE_MAX_ROWS)
        profile.columns[roles.prediction].cells, profile.columns[policy.columns.label].cells = cells
        profile.meta["labelled"] = labelled

    span = None
    if roles.timestamp is not None:
        ts = to_timestamps_us(log.column(roles.timestamp), f"{log.path}: {roles.timestamp}")
        if len(ts):
            span = _span(roles.timestamp, int(ts.min()), int(ts.max()))
    from mlrel_cli.engine.local import LocalEngine

    proxies = proxy_sums(LocalEngine(), log, policy)
    _finish(profile, log, policy, labels, exact, span, task, proxies)
    return profile


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


# ---------------------------------------------------------------- on an engine (Dask): only summaries travel


def build_profile_on(engine: Engine, log: Log, policy: Policy) -> Profile:
    """A sketch profile from summaries reduced by ``engine``: drift_summaries (the Dask drift run's sketches and
    counts, merged in the same tree), validate's column facts (extremes), the time span, a seeded sample of the
    outputs (the task and the labelled cells) and the labelled rows' metrics (Engine.labelled_summary)."""
    from mlrel_cli.facts.concept import labelled_rows
    from mlrel_cli.logs.roles import kind_of_type, resolve_roles
    from mlrel_cli.logs.task import infer_task
    from mlrel_cli.tasks import row_metrics

    roles = resolve_roles(log, policy)
    outputs = [(roles.prediction, "prediction")] + ([(roles.label, "label")] if roles.label is not None else [])
    wanted = [(name, "feature", kind) for name, kind in roles.features.items() if kind != "text"]
    wanted += [(name, role, kind_of_type(log.schema.field(name).type) or "categorical") for name, role in outputs]
    kinds = {name: kind for name, _, kind in wanted}
    few = {name for name, _ in outputs if kinds[name] == "numeric" and engine.few_values(log, name, FEW_VALUES)}
    plan: dict[str, tuple[str, str, dict[str, Any]]] = {
        name: ("numeric", name, {}) for name, kind in kinds.items() if kind == "numeric"
    }
    where = f"{log.path}: {roles.timestamp}"
    if roles.timestamp is not None:
        plan[":time"] = ("time", roles.timestamp, {"where": where})
    sampled = [name for name, _ in outputs]
    fraction = min(1.0, 2 * SE_MAX_ROWS / max(log.num_rows, 1))  # the sample drift's Dask path infers the task from
    columns = list(dict.fromkeys([*kinds, *sampled, *([roles.timestamp] if roles.timestamp else [])]))
    found = engine.reduce(
        log,
        columns,
        partial(
            profile_facts, kinds=kinds, counts=dict.fromkeys(few, "categorical"), plan=plan, sampled=sampled, fraction=fraction
        ),
        seeded=True,
    )

    profile = Profile(meta={}, log_schema=log.schema)
    for name, role, kind in wanted:
        summary = found[name]
        categorical = found.get(f"counts:{name}", summary if kind == "categorical" else None)
        if isinstance(summary, QuantileSketch):
            facts = found[f"facts:{name}"]
            entry = ColumnProfile(name, role, str(log.schema.field(name).type), kind, facts.rows, facts.present, None)
            entry.sketch, entry.numeric, entry.extremes = summary, SketchSummary.of(summary), (facts.low, facts.high)
        else:
            entry = ColumnProfile(
                name, role, str(log.schema.field(name).type), kind, summary.total, summary.total - summary.missing, None
            )
        if isinstance(categorical, CategoricalSummary):
            entry.categorical, entry.distinct = categorical, len(categorical.categories)
        elif isinstance(categorical, TooManyCategories):
            entry.categorical, entry.distinct = categorical, MAX_CATEGORIES + 1  # a lower bound: more than the cap
        profile.columns[name] = entry

    sample = found["sample"].table
    task = policy.task or infer_task(sample.column(roles.prediction), sample.column(roles.label) if roles.label else None)
    if roles.label is not None:
        import pyarrow.compute as pc

        cells = sample.filter(pc.and_(pc.is_valid(sample.column(roles.prediction)), pc.is_valid(sample.column(roles.label))))
        profile.columns[roles.prediction].cells = cells.column(roles.prediction).combine_chunks()
        profile.columns[roles.label].cells = cells.column(roles.label).combine_chunks()
        labelled: dict[str, Any] = {"rows": 0, "metrics": {}}
        if row_metrics(task):  # the metrics concept drift reads from labelled rows (not per query)
            prepare = partial(
                labelled_rows,
                prediction=roles.prediction,
                label=roles.label,
                task=task,
                positive_label=policy.validate_.performance.positive_label,
            )
            threshold = policy.validate_.performance.decision_threshold
            side = engine.labelled_summary(log, [roles.prediction, roles.label], prepare, task, threshold, 2 * SE_MAX_ROWS)
            metrics = {k: (float(v) if np.isfinite(v) else None) for k, v in side["metrics"].items()}
            labelled = {"rows": int(side["rows"]), "metrics": metrics}
        profile.meta["labelled"] = labelled
    times = found.get("facts::time")
    span = _span(roles.timestamp, times.oldest, times.newest) if roles.timestamp and times and times.count else None
    _finish(profile, log, policy, None, False, span, task, proxy_sums(engine, log, policy))
    return profile


def profile_facts(
    table: pa.Table,
    seed: int,
    kinds: dict[str, str],
    counts: dict[str, str],
    plan: dict[str, Any],
    sampled: list[str],
    fraction: float,
) -> dict[str, Any]:
    """Runs on a worker: one row group's summaries, by drift's and validate's own builders, and its seeded sample
    of the outputs (the rows drift's Dask path samples, the same seed)."""
    from mlrel_cli.facts.columns import build
    from mlrel_cli.facts.distributions import drift_summaries
    from mlrel_cli.facts.merge import sample_rows

    out = dict(drift_summaries(table, kinds))
    out.update({f"counts:{name}": value for name, value in drift_summaries(table, counts).items()} if counts else {})
    out.update({f"facts:{name}": value for name, value in build(table, plan).items()})
    out.update(sample_rows(table, seed, sampled, fraction))
    return out


def _reference_metrics(task: str | None, prediction: pa.Array, label: pa.Array, policy: Policy) -> dict[str, float | None]:
    """Every metric concept drift may ask of this task, on all labelled rows (as facts/concept.labelled_arrays reads them)."""
    from mlrel_cli.facts.concept import labelled_arrays
    from mlrel_cli.stats.metrics import metric_value
    from mlrel_cli.stats.names import METRIC_BY_NAME
    from mlrel_cli.tasks import row_metrics

    if task is None or not row_metrics(task):
        return {}
    truth, predicted, _ = labelled_arrays(task, prediction, label, policy.validate_.performance.positive_label)
    threshold = policy.validate_.performance.decision_threshold
    out: dict[str, float | None] = {}
    for name, metric in METRIC_BY_NAME.items():
        if task in metric.tasks:
            value = float(metric_value(task, name, truth, predicted, threshold))
            out[name] = value if np.isfinite(value) else None
    return out


def _same(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """summarise_column's loader for a column already read."""
    return column
