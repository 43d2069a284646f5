"""The ``weak_segments`` check: slices of the log where the model's errors concentrate (docs/segments.md).

The columns are read one at a time and turned into integer codes at once (numeric ranges from the
reference's quantile bins, or the log's own without a reference; the most frequent categories; missing);
the search itself is ``stats.slices.search`` on those codes and the per-row loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.errors import PolicyError
from mlrel_cli.logs import Log, kind_of_type, to_numpy_float
from mlrel_cli.policy import WeakSegmentsCheck
from mlrel_cli.report import Check, Status
from mlrel_cli.stats.names import BINARY, MULTICLASS, REGRESSION
from mlrel_cli.stats.slices import (
    Binned,
    Budget,
    Config,
    Search,
    WeakSlice,
    bin_categories,
    bin_numeric,
    numeric_edges,
)

NAME = "weak_segments"
EPS = 1e-15
NOT_ON_CLUSTER = "the slice search runs on the local engine only (its sums merge, but no cluster builds them yet)"


def per_row_loss(task: str, truth: np.ndarray, predicted: np.ndarray) -> tuple[str, np.ndarray, np.ndarray | None]:
    """The loss the search compares, its metric name, and the positives (binary) for ``min_positives``.

    Log loss for binary scores, squared error for regression, 1 - accuracy for classes (and for a binary
    model that logs a class, whose log loss would only count mistakes at the clip).
    """
    if task == BINARY:
        positives = truth.astype(bool)
        if np.isin(predicted, (0.0, 1.0)).all():
            return "error_rate", (predicted.astype(bool) != positives).astype(np.float64), positives
        p = np.clip(predicted.astype(np.float64), EPS, 1 - EPS)
        return "log_loss", -np.log(np.where(positives, p, 1 - p)), positives
    if task == MULTICLASS:
        return "error_rate", (truth != predicted).astype(np.float64), None
    if task == REGRESSION:
        return "squared_error", (truth.astype(np.float64) - predicted.astype(np.float64)) ** 2, None
    raise ValueError(f"no per-row loss for task {task!r}")


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
            source = to_numpy_float(reference.column(name))
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
        min_positives=cfg.min_positives if task == BINARY else 0,
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
    if task not in (BINARY, MULTICLASS, REGRESSION):
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


def rows_of(checks: list[Check]) -> list[dict[str, Any]]:
    """The report's top-level ``weak_segments`` list: the slices of the ``weak_segments`` check, if it ran."""
    for found in checks:
        if found.name == NAME:
            return list(found.details.get("weak_segments", []))
    return []
