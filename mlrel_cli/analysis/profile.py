"""Building a reference profile: drift's own summaries of each column (analysis.drift.summarise_column).

The file format, reading it and using it in place of a reference are in facts/profile.py.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.facts.columns import NumericFacts
from mlrel_cli.facts.profile import (
    FEW_VALUES,
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


def build_profile(log: Log, policy: Policy, labels: Log | None = None, exact: bool = False) -> Profile:
    """Summarise the reference as drift does, one column at a time."""
    import pyarrow.compute as pc

    from mlrel_cli.analysis.drift import summarise_column
    from mlrel_cli.logs import infer_task, join_labels, kind_of_type, resolve_roles, to_timestamps_us

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
        distinct = int(pc.count_distinct(column).as_py()) if kind != "numeric" or role != "feature" else None
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
            span = {"column": roles.timestamp, "oldest": iso_from_us(int(ts.min())), "newest": iso_from_us(int(ts.max()))}
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
        "mlrel_version": mlrel_version(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    return profile


def _reference_metrics(task: str | None, prediction: pa.Array, label: pa.Array, policy: Policy) -> dict[str, float | None]:
    """Every metric concept drift may ask of this task, on all labelled rows (drift._labelled's encoding)."""
    from mlrel_cli.analysis.drift import DEFAULT_CONCEPT_METRIC, _labelled
    from mlrel_cli.stats.metrics import metric_value
    from mlrel_cli.stats.names import METRIC_BY_NAME

    if task not in DEFAULT_CONCEPT_METRIC:
        return {}
    truth, predicted = _labelled(task, prediction, label, policy)
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
