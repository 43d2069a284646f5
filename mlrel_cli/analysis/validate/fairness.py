"""The fairness check: the gap in a metric between the best and the worst group of one column."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlrel_cli.analysis.validate.context import NO_VALUE, Context, judge_max, skipped
from mlrel_cli.report import Check, Status
from mlrel_cli.stats.names import METRIC_BY_NAME
from mlrel_cli.tasks import per_query

RANKING_FAIRNESS = "a ranking metric per group of queries is not built yet"


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


def check_fairness(ctx: Context, task: str | None) -> Check:
    """The fairness metric per group of the fairness column: from the labelled rows' evidence, or without labels
    (``positive_rate``) from the counts of scores at or above the threshold."""
    cfg = ctx.policy.validate_.fairness
    segment = cfg.segment
    assert segment is not None  # the check is on
    if task not in METRIC_BY_NAME[cfg.metric].tasks:
        return skipped(f"fairness:{segment}", f"metric '{cfg.metric}' does not apply to task '{task}'")
    if per_query(task):
        return skipped(f"fairness:{segment}", RANKING_FAIRNESS)

    def name(value: str) -> str:
        return "None" if value == NO_VALUE else value  # a missing value's group

    if ctx.facts.label is None:
        if cfg.metric != "positive_rate":
            return skipped(f"fairness:{segment}", f"metric '{cfg.metric}' needs labels")
        rates = ctx.facts.positive_rates()
        if rates is None:
            return skipped(f"fairness:{segment}", "positive_rate needs a numeric score")
        counts = {name(g): part.values for g, part in rates.items()}
        return fairness_check(
            ctx, {g: c["n"] for g, c in counts.items()}, lambda g: {"positive_rate": counts[g]["positive"] / counts[g]["n"]}
        )
    found = ctx.facts.performance()
    values = {name(v): v for v, n in found.sizes[segment].items() if n > 0}
    return fairness_check(
        ctx, {g: found.sizes[segment][v] for g, v in values.items()}, lambda g: found.metrics_of((segment, values[g]))
    )
