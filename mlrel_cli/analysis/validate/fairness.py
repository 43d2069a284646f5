"""The fairness check: the gap in a metric between the best and the worst group of one column."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis.validate.context import NO_VALUE, Context, judge_max, label_array, skipped
from mlrel_cli.analysis.validate.performance import Labelled, compute_metrics, prepare_labelled
from mlrel_cli.logs import kind_of_type, to_numpy_float
from mlrel_cli.report import Check, Status
from mlrel_cli.stats.names import METRIC_BY_NAME
from mlrel_cli.tasks import per_query

RANKING_FAIRNESS = "a ranking metric per group of queries is not built yet"


def check_fairness(ctx: Context, task: str | None) -> list[Check]:
    cfg = ctx.policy.validate_.fairness
    segment = cfg.segment
    assert segment is not None
    info = METRIC_BY_NAME[cfg.metric]
    if task not in info.tasks:
        return [skipped(f"fairness:{segment}", f"metric '{cfg.metric}' does not apply to task '{task}'")]
    if per_query(task):
        return [skipped(f"fairness:{segment}", RANKING_FAIRNESS)]
    prediction = ctx.log.column(ctx.roles.prediction).combine_chunks()
    labels = label_array(ctx)
    if cfg.metric == "positive_rate":
        labels_for_prep = labels if labels is not None else pa.array([0] * len(prediction), type=pa.int8())
        keep_all = labels is None
    else:
        if labels is None:
            return [skipped(f"fairness:{segment}", f"metric '{cfg.metric}' needs labels")]
        labels_for_prep, keep_all = labels, False
    if keep_all:
        score = to_numpy_float(prediction) if kind_of_type(prediction.type) == "numeric" else None
        if score is None:
            return [skipped(f"fairness:{segment}", "positive_rate needs a numeric score")]
        keep = np.isfinite(score)
        data = Labelled(np.zeros(int(keep.sum()), dtype=bool), score[keep], keep)
    else:
        data = prepare_labelled(ctx.policy, task, prediction, labels_for_prep)
    values = ctx.log.column(segment).combine_chunks()
    groups = pc.cast(values, pa.string()).to_numpy(zero_copy_only=False)[data.keep]
    names, codes = np.unique(groups.astype(str), return_inverse=True)
    sizes = np.bincount(codes, minlength=len(names))
    threshold = ctx.policy.validate_.performance.decision_threshold
    sizes_of = {str(name): int(size) for name, size in zip(names, sizes, strict=True)}

    def metrics_of(group: str) -> dict[str, float]:
        return compute_metrics(task, data, codes == np.searchsorted(names, group), threshold)

    return [fairness_check(ctx, sizes_of, metrics_of)]


def fairness_check(ctx: Context, sizes: dict[str, int], metrics_of: Callable[[str], dict[str, float]]) -> Check:
    """The gap in the fairness metric between the best and the worst group with enough rows."""
    cfg = ctx.policy.validate_.fairness
    segment = cfg.segment
    per_group: dict[str, float] = {}
    small: dict[str, int] = {}
    for group in sorted(sizes):
        if sizes[group] < cfg.min_group_size:
            small[group] = sizes[group]
            continue
        metric = metrics_of(group)
        if np.isfinite(metric.get(cfg.metric, np.nan)):
            per_group[group] = float(metric[cfg.metric])
    if len(per_group) < 2:
        return Check(
            name=f"fairness:{segment}",
            status=Status.INCONCLUSIVE,
            message=f"fewer than 2 groups of '{segment}' with {cfg.min_group_size} rows or more",
            details={"groups": per_group, "too_small": small},
            source=ctx.source("validate.fairness.min_group_size"),
        )
    best = max(per_group, key=per_group.__getitem__)
    worst = min(per_group, key=per_group.__getitem__)
    gap = per_group[best] - per_group[worst]
    return Check(
        name=f"fairness:{segment}",
        status=judge_max(gap, cfg.max_gap),
        value=gap,
        threshold=cfg.max_gap,
        message=f"{cfg.metric} gap {gap:.3f} between {segment}={best} ({per_group[best]:.3f}) "
        f"and {segment}={worst} ({per_group[worst]:.3f})",
        details={"metric": cfg.metric, "groups": per_group, "too_small": small},
        source=ctx.source("validate.fairness.max_gap"),
    )


def fairness_from_parts(ctx: Context, task: str | None) -> Check:
    cfg = ctx.policy.validate_.fairness
    segment = cfg.segment
    if task not in METRIC_BY_NAME[cfg.metric].tasks:
        return skipped(f"fairness:{segment}", f"metric '{cfg.metric}' does not apply to task '{task}'")

    def name(value: str) -> str:
        return "None" if value == NO_VALUE else value  # as the local engine names a missing value

    rates = ctx.facts.positive_rates()
    if rates is not None:
        counts = {name(g): part.values for g, part in rates.items()}
        return fairness_check(
            ctx, {g: c["n"] for g, c in counts.items()}, lambda g: {"positive_rate": counts[g]["positive"] / counts[g]["n"]}
        )
    if ctx.roles.label is None:
        return skipped(f"fairness:{segment}", f"metric '{cfg.metric}' needs labels")
    if per_query(task):
        return skipped(f"fairness:{segment}", RANKING_FAIRNESS)
    groups = {name(v): part for (s, v), part in ctx.facts.performance()["segments"].items() if s == segment}
    return fairness_check(ctx, {g: n for g, (n, _) in groups.items()}, lambda g: groups[g][1])
