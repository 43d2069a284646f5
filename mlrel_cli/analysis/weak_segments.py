"""The ``weak_segments`` check: slices of the log where the model's errors concentrate (docs/segments.md).

The columns are read one at a time and turned into integer codes at once (numeric ranges from the
reference's quantile bins, or the log's own without a reference; the most frequent categories; missing);
the search itself is ``stats.slices.search`` on those codes and the per-row loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.errors import PolicyError
from mlrel_cli.facts.slices import SAMPLE_ROWS, codes_of, per_row_loss
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.payloads.slices import WeakSegment
from mlrel_cli.policy import WeakSegmentsCheck
from mlrel_cli.report import Check, Status
from mlrel_cli.stats.slices import (
    Binned,
    Budget,
    Condition,
    Config,
    Search,
    WeakSlice,
    add_pair_sums,
    bin_categories,
    bin_numeric,
    numeric_edges,
    single_sums,
)
from mlrel_cli.tasks import TASK_BY_NAME, per_query, task_of

NAME = "weak_segments"


def _has_row_loss(task: str | None) -> bool:
    """Whether the task's rows each have a loss (not ranking, whose loss is per query: analysis/ranking_slices)."""
    record = task_of(task)
    return record is not None and record.weak_segment_loss is not None


def _scored(task: str | None) -> bool:
    """A score against a positive class: a slice needs ``min_positives`` positives to be judged."""
    record = task_of(task)
    return record is not None and record.reads == "score"


def searched_columns(log: Log, features: dict[str, str], segments: tuple[str, ...], cfg: WeakSegmentsCheck) -> dict[str, str]:
    """Column -> numeric or categorical: the policy's list, else the features (text excluded) and segments."""
    if cfg.columns is not None:
        out = {}
        for name in cfg.columns:
            if not log.has(name):
                raise PolicyError(f"validate.weak_segments.columns: column '{name}' is not in the {log.label}")
            kind = "categorical" if name in segments else features.get(name) or kind_of_type(log.schema.field(name).type)
            if kind not in ("numeric", "categorical"):
                raise PolicyError(f"validate.weak_segments.columns: column '{name}' is neither numeric nor categorical")
            out[name] = kind
        return out
    out = {name: kind for name, kind in features.items() if kind in ("numeric", "categorical")}
    out.update({name: "categorical" for name in segments})
    return out


def bin_column(log: Log, reference: Log | None, name: str, kind: str, keep: np.ndarray, cfg: WeakSegmentsCheck) -> Binned:
    column = log.column(name)
    if kind == "numeric" and kind_of_type(column.type) == "numeric":
        values = to_numpy_float(column)[keep]
        source = values
        if reference is not None and reference.has(name) and kind_of_type(reference.schema.field(name).type) == "numeric":
            profiled = getattr(reference, "sorted_values", None)  # a profile: its exact values or sketch points
            source = profiled(name) if profiled is not None else to_numpy_float(reference.column(name))
        return bin_numeric(name, values, numeric_edges(source, cfg.bins))
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    encoded = pc.dictionary_encode(array)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)[keep]
    return bin_categories(name, codes, encoded.dictionary.to_pylist(), cfg.top_categories)


def config_of(cfg: WeakSegmentsCheck, task: str) -> Config:
    return Config(
        min_rows=cfg.min_rows,
        min_positives=cfg.min_positives if _scored(task) else 0,
        min_effect=cfg.min_effect,
        alpha=cfg.alpha,
        confidence=cfg.confidence,
        max_reported=cfg.max_reported,
        budget=Budget(max_slices=cfg.max_slices, seconds=cfg.time_budget.total_seconds()),
    )


def check(
    log: Log,
    reference: Log | None,
    features: dict[str, str],
    segments: tuple[str, ...],
    task: str,
    truth: np.ndarray,
    predicted: np.ndarray,
    keep: np.ndarray,
    cfg: WeakSegmentsCheck,
    source: str | None,
) -> Check:
    """Search the labelled rows (``keep`` over the log) for weak slices and judge the largest gap."""
    if not _has_row_loss(task):
        return Check(NAME, Status.SKIPPED, message=f"no per-row loss for task '{task}' yet")
    columns = searched_columns(log, features, segments, cfg)
    if not columns:
        return Check(NAME, Status.SKIPPED, message="no feature or segment column to slice on")
    metric, loss, positives = per_row_loss(task, truth, predicted)
    binned = [bin_column(log, reference, name, kind, keep, cfg) for name, kind in columns.items()]
    from mlrel_cli.stats.slices import search

    found = search(binned, loss, positives, config_of(cfg, task))
    return judge(found, metric, cfg, source, list(columns), edges_from="reference" if reference is not None else "log")


def judge(found: Search, metric: str, cfg: WeakSegmentsCheck, source: str | None, columns: list[str], edges_from: str) -> Check:
    """Pass without ``max_gap``, or when no gap exceeds it; fail when one exceeds it by more than its noise (the
    interval's low end is above it), warn when only within the noise."""
    slices = [s.to_dict(metric) for s in found.slices]
    details: dict[str, Any] = {
        "weak_segments": slices,
        "metric": metric,
        "tried": found.tried,
        "significant": found.significant,
        "pairs_searched": found.pairs_searched,
        "pairs_possible": found.pairs_possible,
        "stopped_by": found.stopped_by,
        "columns": columns,
        "bins_from": edges_from,
        "top": [{"value": s.label, "count": f"{s.rows:,} rows, {s.delta:+.3g}"} for s in found.slices],
    }
    budget = ""
    if found.stopped_by:
        budget = f"; search stopped by its {found.stopped_by} budget after {found.pairs_searched} of {found.pairs_possible} pairs"
    if not found.slices:
        return Check(
            NAME,
            Status.PASS,
            value=0.0,
            threshold=cfg.max_gap,
            message=f"no slice of {found.tried:,} tried has a significantly higher {metric}{budget}",
            details=details,
            source=source,
        )
    worst: WeakSlice = max(found.slices, key=lambda s: s.delta)
    status = Status.PASS  # without max_gap the slices are reported, not judged (as a metric without a bound)
    if cfg.max_gap is not None and worst.delta > cfg.max_gap:
        status = Status.FAIL if worst.ci_low > cfg.max_gap else Status.WARN
    message = (
        f"{len(found.slices)} weak segment(s) among {found.tried:,} slices tried; worst: {worst.label} "
        f"({worst.rows:,} rows): {metric} {worst.inside:.4g} vs {worst.outside:.4g} outside, "
        f"{worst.delta:+.3g} [{worst.ci_low:+.3g}, {worst.ci_high:+.3g}], adjusted p {worst.adjusted_p:.2g}{budget}"
        + ("" if cfg.max_gap is not None else " (no max_gap set)")
    )
    return Check(NAME, status, value=worst.delta, threshold=cfg.max_gap, message=message, details=details, source=source)


def rows_of(checks: list[Check]) -> tuple[WeakSegment, ...]:
    """The report's top-level ``weak_segments`` list: the slices of the ``weak_segments`` check, if it ran (read
    back from its details, which stay free-form)."""
    for found in checks:
        if found.name == NAME:
            return tuple(WeakSegment(WeakSlice.from_dict(row), row["metric"]) for row in found.details.get("weak_segments", []))
    return ()


# ---------------------------------------------------------------- on a cluster: bins from a sample, sums per row group


@dataclass(frozen=True)
class ClusterPlan:
    """What every row group needs to sum its slices alike: the bins, the loss, the pairs."""

    prediction: str
    label: str
    task: str
    metric: str
    positive: Any
    columns: tuple[tuple[str, str, tuple[Any, ...]], ...]  # name, numeric or categorical, edges or category values
    sizes: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]


def _is_positive(array: pa.Array, positive: Any) -> np.ndarray:
    if pa.types.is_boolean(array.type):
        return pc.fill_null(pc.equal(array, pa.scalar(str(positive).lower() in ("1", "true"))), False).to_numpy(
            zero_copy_only=False
        )
    if kind_of_type(array.type) == "numeric":
        return to_numpy_float(array) == float(positive)
    return pc.cast(array, pa.string()).to_numpy(zero_copy_only=False).astype(str) == str(positive)


def labelled_rows(table: pa.Table, plan: ClusterPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth, prediction and the mask of the rows with both, encoded as the local engine encodes them (read as the
    task's record says, tasks.Task.reads)."""
    label = table.column(plan.label).combine_chunks()
    prediction = table.column(plan.prediction).combine_chunks()
    keep = label.is_valid().to_numpy(zero_copy_only=False) & prediction.is_valid().to_numpy(zero_copy_only=False)
    return _CLUSTER_READERS[TASK_BY_NAME[plan.task].reads](label, prediction, keep, plan.positive)


def _scores(label: pa.Array, prediction: pa.Array, keep: np.ndarray, positive: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth as the positive class or not; the score, or a logged class as 1.0 for the positive class."""
    truth = _is_positive(label, positive)
    numeric = kind_of_type(prediction.type) == "numeric"
    score = to_numpy_float(prediction) if numeric else _is_positive(prediction, positive).astype(np.float64)
    keep &= np.isfinite(score)
    return truth[keep], score[keep], keep


def _classes(label: pa.Array, prediction: pa.Array, keep: np.ndarray, positive: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    strings = [pc.cast(a, pa.string()).to_numpy(zero_copy_only=False) for a in (label, prediction)]
    return strings[0][keep].astype(str), strings[1][keep].astype(str), keep


def _values(label: pa.Array, prediction: pa.Array, keep: np.ndarray, positive: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, p = to_numpy_float(label), to_numpy_float(prediction)
    keep &= np.isfinite(y) & np.isfinite(p)
    return y[keep], p[keep], keep


_CLUSTER_READERS = {"score": _scores, "classes": _classes, "values": _values, "gains": _values}


def slice_sums_on_row_group(table: pa.Table, plan: ClusterPlan) -> dict[str, Any]:
    """Runs on a worker: one row group's slice sums (mergeable by addition)."""
    truth, predicted, keep = labelled_rows(table, plan)
    _, loss, positives = per_row_loss(plan.task, truth, predicted, plan.metric)
    codes = [codes_of(table.column(name), kind, spec)[keep] for name, kind, spec in plan.columns]
    sums = single_sums(codes, plan.sizes, loss, positives)
    add_pair_sums(sums, codes, loss, positives, list(plan.pairs))
    return {"weak_segments": sums}


def gather_on_cluster(
    engine: Any,
    log: Log,
    reference: Log | None,
    features: dict[str, str],
    segments: tuple[str, ...],
    prediction: str,
    label: str,
    task: str,
    policy: Any,
) -> dict[str, Any] | None:
    """Bins from a uniform sample of the log (every row on the local engine; numeric edges from the reference's when
    given), then every row group's sums of every single condition and pair, merged by the engine (``engine.reduce``).
    A sample that is every row is searched as it is (``stats.slices.search``, exact), with no second read."""
    from functools import partial

    cfg = policy.validate_.weak_segments
    if not cfg.enabled or not _has_row_loss(task):
        return None
    kinds = searched_columns(log, features, segments, cfg)
    if not kinds:
        return None
    columns = list(dict.fromkeys([*kinds, prediction, label]))
    # every row on the local engine (exact bins); more rows than asked for are read a column at a time
    sample = engine.sample(log, [prediction, label], SAMPLE_ROWS) if log.num_rows > SAMPLE_ROWS else None
    if sample is not None and sample.num_rows == log.num_rows:

        def column_of(name: str) -> pa.ChunkedArray:
            return engine.sample(log, [name], SAMPLE_ROWS).column(name)
    else:
        sample = engine.sample(log, columns, SAMPLE_ROWS)
        column_of = sample.column
    probe = ClusterPlan(prediction, label, task, "", policy.validate_.performance.positive_label, (), (), ())
    truth, predicted, keep = labelled_rows(sample, probe)
    metric, loss, positives = per_row_loss(task, truth, predicted)
    ref_sample = _reference_sample(engine, reference, kinds)
    specs, conditions, binned = _sample_bins(log, kinds, column_of, keep, ref_sample, cfg)
    found: dict[str, Any] = {
        "metric": metric,
        "columns": list(kinds),
        "bins_from": _bins_from(log, sample, reference, ref_sample),
    }
    if sample.num_rows == log.num_rows:  # every row is here (always locally): the search runs on the rows themselves
        from mlrel_cli.stats.slices import search

        return {**found, "search": search(binned, loss, positives, config_of(cfg, task))}
    sizes = tuple(len(c) for c in conditions)
    pairs = tuple((i, j) for i in range(len(specs)) for j in range(i + 1, len(specs)))
    plan = ClusterPlan(prediction, label, task, metric, probe.positive, tuple(specs), sizes, pairs)
    sums = engine.reduce(log, columns, partial(slice_sums_on_row_group, plan=plan))["weak_segments"]
    return {**found, "sums": sums, "conditions": conditions}


def _reference_sample(engine: Any, reference: Log | None, kinds: dict[str, str]) -> pa.Table | None:
    """A sample of the reference's numeric searched columns, whose quantiles are the numeric bins' edges."""
    if reference is None:
        return None
    numeric = [
        n
        for n, k in kinds.items()
        if k == "numeric" and reference.has(n) and kind_of_type(reference.schema.field(n).type) == "numeric"
    ]
    return engine.sample(reference, numeric, SAMPLE_ROWS) if numeric else None


def _sample_bins(
    log: Log, kinds: dict[str, str], column_of: Any, keep: np.ndarray, ref_sample: pa.Table | None, cfg: WeakSegmentsCheck
) -> tuple[list[tuple[str, str, tuple[Any, ...]]], list[tuple[Condition | None, ...]], list[Binned]]:
    """Each searched column binned on the sample's labelled rows (``keep``): the bins' spec every row group codes
    by, their conditions ("missing" always there: the sample may lack the log's nulls) and the sample's codes."""
    specs, conditions, every_binned = [], [], []
    for name, kind in kinds.items():
        if kind == "numeric" and kind_of_type(log.schema.field(name).type) == "numeric":
            values = to_numpy_float(column_of(name))[keep]
            of_reference = ref_sample.column(name) if ref_sample is not None and name in ref_sample.column_names else None
            edges = numeric_edges(values if of_reference is None else to_numpy_float(of_reference), cfg.bins)
            binned = bin_numeric(name, values, edges)
            specs.append((name, "numeric", tuple(float(e) for e in edges)))
        else:
            array = column_of(name).combine_chunks()
            if pa.types.is_dictionary(array.type):
                array = array.dictionary_decode()
            encoded = pc.dictionary_encode(array)
            codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)[keep]
            binned = bin_categories(name, codes, encoded.dictionary.to_pylist(), cfg.top_categories)
            specs.append((name, "categorical", tuple(c.value for c in binned.conditions[:-2] if c is not None)))
        conditions.append((*binned.conditions[:-1], Condition(name, "missing")))
        every_binned.append(binned)
    return specs, conditions, every_binned


def _bins_from(log: Log, sample: pa.Table, reference: Log | None, ref_sample: pa.Table | None) -> str:
    """Where the numeric bins came from: the reference's or the log's rows, all of them or a sample."""
    if reference is not None:
        return "reference" if ref_sample is None or ref_sample.num_rows == reference.num_rows else "reference sample"
    return "log" if sample.num_rows == log.num_rows else "log sample"


def from_cluster(found: dict[str, Any] | None, task: str | None, cfg: WeakSegmentsCheck, source: str | None) -> Check:
    """The check judged from the merged sums, as the local search judges its own (``stats.slices.judge_sums``)."""
    from mlrel_cli.stats.slices import judge_sums

    if found is None and per_query(task):
        return Check(NAME, Status.SKIPPED, message="no weak-segment search: a ranking log is searched by query")
    if found is None:
        return Check(NAME, Status.SKIPPED, message="no feature or segment column to slice on")
    search = found["search"] if "search" in found else judge_sums(found["conditions"], found["sums"], config_of(cfg, task or ""))
    return judge(search, found["metric"], cfg, source, found["columns"], found["bins_from"])
