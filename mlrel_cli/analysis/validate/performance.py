"""The model's metrics on the labelled rows, overall and per segment, judged against their bounds allowing for
sampling noise, from the evidence the engine gathered (exact from every row locally, merged parts on Dask)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis import weak_segments
from mlrel_cli.analysis.validate.context import NO_VALUE, Context, skipped, too_few_to_judge
from mlrel_cli.analysis.validate.ranking import ranking_performance
from mlrel_cli.errors import PolicyError
from mlrel_cli.facts.labelled import Scope
from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.payloads.validate import SegmentRow
from mlrel_cli.policy import Bound, Policy
from mlrel_cli.report import Check, Status
from mlrel_cli.stats.inference import bootstrap_se
from mlrel_cli.stats.names import METRIC_BY_NAME
from mlrel_cli.tasks import TASK_BY_NAME, task_of


@dataclass(frozen=True)
class Labelled:
    """The rows with a label and a usable prediction, encoded for the task's metric function."""

    truth: np.ndarray
    predicted: np.ndarray
    keep: np.ndarray  # boolean mask over the log's rows


def prepare_labelled(policy: Policy, task: str, prediction: pa.Array, labels: pa.Array) -> Labelled:
    keep = labels.is_valid().to_numpy(zero_copy_only=False) & prediction.is_valid().to_numpy(zero_copy_only=False)
    record = task_of(task)
    read = _READERS[record.reads] if record is not None else _read_values
    return read(policy, prediction, labels, keep)


def _read_scores(policy: Policy, prediction: pa.Array, labels: pa.Array, keep: np.ndarray) -> Labelled:
    """The label as positive or not; the prediction as a score (a class turned into 0/1)."""
    positive = policy.validate_.performance.positive_label
    truth = _is_positive(labels, positive)
    if kind_of_type(prediction.type) == "numeric":
        score = to_numpy_float(prediction)
    else:
        score = _is_positive(prediction, positive).astype(np.float64)
    keep &= np.isfinite(score)
    return Labelled(truth[keep], score[keep], keep)


def _read_classes(policy: Policy, prediction: pa.Array, labels: pa.Array, keep: np.ndarray) -> Labelled:
    truth_list = pc.cast(labels, pa.string()).to_numpy(zero_copy_only=False)
    pred_list = pc.cast(prediction, pa.string()).to_numpy(zero_copy_only=False)
    return Labelled(truth_list[keep].astype(str), pred_list[keep].astype(str), keep)


def _read_values(policy: Policy, prediction: pa.Array, labels: pa.Array, keep: np.ndarray) -> Labelled:
    y = to_numpy_float(labels)
    p = to_numpy_float(prediction)
    keep &= np.isfinite(y) & np.isfinite(p)
    return Labelled(y[keep], p[keep], keep)


_READERS = {"score": _read_scores, "classes": _read_classes, "values": _read_values, "gains": _read_values}


def _is_positive(array: pa.Array, positive: Any) -> np.ndarray:
    if pa.types.is_boolean(array.type):
        target = pa.scalar(str(positive).lower() in ("1", "true"))
    elif kind_of_type(array.type) == "numeric":
        try:
            target = pa.scalar(float(positive))
        except ValueError:
            raise PolicyError(
                f"validate.performance.positive_label: {positive!r} is not a number, but the labels are numeric"
            ) from None
        array = pc.cast(array, pa.float64())
    else:
        target = pa.scalar(str(positive))
        array = pc.cast(array, pa.string())
        present = pc.unique(pc.drop_null(array))
        if len(present) <= 50 and str(positive) not in present.to_pylist():
            shown = ", ".join(repr(v) for v in sorted(present.to_pylist())[:10])
            raise PolicyError(
                f"validate.performance.positive_label: {positive!r} is not one of the label values ({shown}); "
                "set it to the positive class"
            )
    return pc.fill_null(pc.equal(array, target), False).to_numpy(zero_copy_only=False)


def compute_metrics(task: str, data: Labelled, mask: np.ndarray | None, threshold: float) -> dict[str, float]:
    truth = data.truth if mask is None else data.truth[mask]
    predicted = data.predicted if mask is None else data.predicted[mask]
    return TASK_BY_NAME[task].compute(truth, predicted, threshold)


def check_performance(ctx: Context, task: str | None) -> tuple[list[Check], list[SegmentRow]]:
    """The metrics of every labelled row and of each segment's, judged against their bounds; then weak segments."""
    cfg = ctx.policy.validate_.performance
    record = task_of(task)
    if record is not None and record.per_query:
        return ranking_performance(ctx), []
    if record is None:
        return [skipped("performance", f"task '{task}' metrics are not built yet")], []
    found = ctx.facts.performance()
    n = found.rows
    if n < cfg.min_rows:
        return [too_few_to_judge(ctx, n, "labelled rows")], []

    def se_of(name: str, scope: Scope) -> Callable[[], float]:
        def standard_error() -> float:  # the bootstrap over the scope's rows, scaled to the rows they stand for
            truth, predicted, population = found.rows_of(scope)
            data = Labelled(truth, predicted, np.empty(0))
            return metric_se(record.name, name, data, None, cfg.decision_threshold, population=population)

        return standard_error

    checks = [metric_check(ctx, name, value, None, n, se_of(name, None)) for name, value in found.metrics_of(None).items()]
    segment_rows: list[SegmentRow] = []
    for segment in ctx.roles.segments:
        names = [value for value in found.sizes[segment] if value != NO_VALUE]
        sizes = np.array([found.sizes[segment][value] for value in names], dtype=np.int64)

        def metrics_of(i: int, segment: str = segment, names: list[str] = names) -> dict[str, float]:
            return found.metrics_of((segment, names[i]))

        def segment_se(name: str, i: int, segment: str = segment, names: list[str] = names) -> Callable[[], float]:
            return se_of(name, (segment, names[i]))

        found_checks, rows = segment_checks(ctx, segment, names, sizes, metrics_of, segment_se)
        checks.extend(found_checks)
        segment_rows.extend(rows)
    if ctx.policy.validate_.weak_segments.enabled:
        cfg_weak = ctx.policy.validate_.weak_segments
        checks.append(
            weak_segments.from_cluster(ctx.facts.weak_segments(), task, cfg_weak, ctx.source("validate.weak_segments.max_gap"))
        )
    return checks, segment_rows


def segment_checks(
    ctx: Context,
    segment: str,
    names: list[Any],
    sizes: np.ndarray,
    metrics_of: Callable[[int], dict[str, float]],
    se_of: Callable[[str, int], Callable[[], float]],
) -> tuple[list[Check], list[SegmentRow]]:
    """The segments of one column, largest first: each judged on its own metrics when it is among the largest
    ``max_segments`` and has ``min_segment_size`` labelled rows."""
    cfg = ctx.policy.validate_.performance
    checks: list[Check] = []
    rows: list[SegmentRow] = []
    for rank, code in enumerate(np.argsort(-sizes, kind="stable")):
        size, value = int(sizes[code]), names[code]
        if rank >= cfg.max_segments:
            rows.append(SegmentRow(segment, value, size, False, why=f"beyond the {cfg.max_segments} largest segments"))
        elif size < cfg.min_segment_size:
            rows.append(SegmentRow(segment, value, size, False, why=f"fewer than {cfg.min_segment_size} labelled rows"))
        else:
            metrics = metrics_of(int(code))
            rows.append(SegmentRow(segment, value, size, True, metrics=metrics))
            for name in cfg.metrics:
                if name in metrics:
                    label = f"{segment}={value}"
                    checks.append(metric_check(ctx, name, metrics[name], label, size, se_of(name, int(code))))
    return checks, rows


def _undefined(ctx: Context, name: str, label: str, bound: Bound | None, segment: str | None, rows: int) -> Check:
    """A metric these rows cannot give (one class only): skipped where nothing gates on it; a bound on the whole
    log with nothing to judge it on is no evidence either way, so inconclusive, never a pass."""
    if bound is None or segment is not None:
        return skipped(label, "undefined on these rows (for example one class only)")
    return Check(
        name=label,
        status=Status.INCONCLUSIVE,
        threshold={"min": bound.min, "max": bound.max},
        message=f"{name} undefined on these {rows:,} labelled rows (for example one class only): its bound is not judged",
        details={"segment": segment, "rows": rows},
        source=ctx.source(f"validate.performance.metrics.{name}"),
    )


def metric_check(
    ctx: Context, name: str, value: float, segment: str | None, rows: int, standard_error: Callable[[], float]
) -> Check:
    """Judge a metric against its bound, allowing for sampling noise.

    A value beyond the bound fails only when it is beyond it by more than
    z * SE (z from ``performance.confidence``, SE by the bootstrap); within
    the noise it warns. A small segment's metric moves a lot by chance, and a
    gate that fails on noise is soon ignored.
    """
    cfg = ctx.policy.validate_.performance
    bound = cfg.metrics.get(name)
    if bound is not None and segment is not None:
        bound = bound.for_segment()
    label = f"performance:{name}" + (f"[{segment}]" if segment else "")
    if not np.isfinite(value):
        return _undefined(ctx, name, label, bound, segment, rows)
    status = Status.PASS
    threshold: dict[str, float | None] | None = None
    details: dict[str, Any] = {
        "segment": segment,
        "rows": rows,
        "higher_is_better": METRIC_BY_NAME[name].higher_is_better,
    }
    message = f"{name} {value:.4g} on {rows:,} labelled rows"
    if bound is None:
        message += " (no threshold set)"
    else:
        threshold = {"min": bound.min, "max": bound.max}
        shortfall = max(
            (bound.min - value) if bound.min is not None else 0.0,
            (value - bound.max) if bound.max is not None else 0.0,
        )
        if shortfall > 0:
            se = standard_error()  # only when needed: the bootstrap costs a few hundred metric evaluations
            z = float(NormalDist().inv_cdf(cfg.confidence))
            details.update(standard_error=se, z=z)
            if np.isfinite(se) and shortfall <= z * se:
                status = Status.WARN
                message += f", beyond its bound but within sampling noise (SE {se:.3g})"
            else:
                status = Status.FAIL
                message += f", beyond its bound by {shortfall:.3g}" + (f" (SE {se:.3g})" if np.isfinite(se) else "")
    return Check(
        name=label,
        status=status,
        value=float(value),
        threshold=threshold,
        message=message,
        details=details,
        source=ctx.source(f"validate.performance.metrics.{name}") if bound else None,
    )


def metric_se(
    task: str, name: str, data: Labelled, mask: np.ndarray | None, threshold: float, population: int | None = None
) -> float:
    truth = data.truth if mask is None else data.truth[mask]
    predicted = data.predicted if mask is None else data.predicted[mask]
    compute = TASK_BY_NAME[task].compute

    def statistic(t: np.ndarray, p: np.ndarray) -> float:
        return compute(t, p, threshold)[name]

    return bootstrap_se(statistic, (truth, predicted), population=population)
