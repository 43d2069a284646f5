"""The judging vocabulary of compare: how a metric's delta between baseline and candidate is classified.

The canary judgement (compare/canary.py, the same on every engine) and shadow
mode (compare/shadow.py) hand their point values and bootstrap deviations
here: intervals, p-values, pass / marginal / fail, which metrics gate,
Mann-Whitney on per-request values, and the segments' correction.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mlrel_cli.payloads.compare import MetricResult, RankTest, SegmentResult
from mlrel_cli.policy import Policy
from mlrel_cli.stats import resampling as rs
from mlrel_cli.stats.drift import adjust_p_values
from mlrel_cli.stats.inference import quantile_bounds_from_counts
from mlrel_cli.stats.names import COMPARE_EXTRA_BY_NAME, METRIC_BY_NAME, RANKING
from mlrel_cli.tasks import TASK_TABLE

PRIMARY = {task.name: task.primary_metric for task in TASK_TABLE}  # the default primary metric of each task
RANKING_METRICS = frozenset(name for name, m in METRIC_BY_NAME.items() if RANKING in m.tasks)  # judged per segment too
MANN_WHITNEY_MAX_ROWS = 100_000
LATENCY_QUANTILES = [50.0, 95.0, 99.0]


def ranking_unit(metric: str, k: int) -> str:
    """The per-query unit's name of a ranking metric (``ndcg`` -> ``ndcg@10``), as stats.ranking.ranking_units names it."""
    return f"{metric}@{k}" if metric in ("ndcg", "ctr") else metric


def higher_is_better(name: str, policy: Policy | None = None) -> bool:
    if name in COMPARE_EXTRA_BY_NAME:
        return COMPARE_EXTRA_BY_NAME[name].higher_is_better
    if policy is not None and name in policy.proxy_metrics:
        return policy.proxy_metrics[name].higher_is_better
    return METRIC_BY_NAME[name.split("@")[0]].higher_is_better


def allowed_regression(name: str, policy: Policy, baseline_value: float) -> float:
    spec = policy.compare
    if name in spec.max_regression:
        return float(spec.max_regression[name])
    if name.startswith("latency_"):
        return spec.max_latency_increase * abs(baseline_value)
    if name == "error_rate":
        return spec.max_error_rate_increase
    return 0.0


def is_gating(name: str, primary: str, policy: Policy) -> bool:
    return name == primary or name in policy.compare.max_regression or name in ("latency_p99", "error_rate")


def interval_text(low: float | None, high: float | None) -> str:
    """', CI [low, high]', or nothing when the interval could not be computed."""
    return f", CI [{low:+.3g}, {high:+.3g}]" if low is not None and high is not None else ""


NO_DIRECTION = {"positive_rate"}  # more positives is not better, nor worse: a change of behaviour


def classify(name: str, base: float, cand: float, low: float, high: float, policy: Policy, primary: str) -> MetricResult:
    higher: bool | None = None if name in NO_DIRECTION else higher_is_better(name, policy)
    delta = cand - base
    allowed = allowed_regression(name, policy, base)
    if higher is None:  # two-sided: a significant change beyond the allowed one either way
        worse_beyond = abs(delta) > allowed
        significant_worse = bool(low > 0 or high < 0)
    else:
        improvement = delta if higher else -delta
        worse_beyond = improvement < -allowed
        significant_worse = (high < 0) if higher else (low > 0)
    if not np.isfinite(delta):
        classification = "marginal"
    elif higher is None:
        classification = "fail" if worse_beyond and significant_worse else "pass"
    elif worse_beyond and significant_worse:
        classification = "fail"
    elif worse_beyond or significant_worse:
        classification = "marginal"
    else:
        classification = "pass"
    return MetricResult(
        name=name,
        baseline=base,
        candidate=cand,
        delta=delta,
        ci_low=low,
        ci_high=high,
        p_value=float("nan"),
        higher_is_better=higher,
        classification=classification,
        gating=is_gating(name, primary, policy),
        allowed_regression=allowed,
    )


def binary_deviations(
    base: rs.BinaryCells, cand: rs.BinaryCells, resamples: int, rng: np.random.Generator
) -> tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]:
    """Each side's metrics read from its cells, and the bootstrap deviations of every metric's delta."""
    points, devs = [], []
    for cells in (base, cand):
        k = len(cells.positives)
        point = rs.binary_metrics_from_counts(cells, cells.positives[None, :], cells.negatives[None, :])
        draws = rs.resample_counts(cells.counts, resamples, rng)
        boot = rs.binary_metrics_from_counts(cells, draws[:, :k], draws[:, k:])
        points.append({name: float(value[0]) for name, value in point.items()})
        devs.append({name: boot[name] - point[name][0] for name in boot})
    return points[0], points[1], {name: devs[1][name] - devs[0][name] for name in devs[0]}


def metric_results(
    values_b: dict[str, float], values_c: dict[str, float], deviations: dict[str, np.ndarray], policy: Policy, primary: str
) -> list[MetricResult]:
    """Each metric's delta, its bootstrap interval and p-value, classified."""
    results = []
    for name in values_b:
        point = values_c[name] - values_b[name]
        deviation = deviations.get(name, np.array([]))
        low, high = rs.interval(point, deviation, policy.compare.bootstrap.confidence)
        result = classify(name, values_b[name], values_c[name], low, high, policy, primary)
        results.append(with_p(result, rs.bootstrap_p_value(point, deviation)))
    return results


def error_rate_result(
    invalid_b: int, rows_b: int, invalid_c: int, rows_c: int, policy: Policy, primary: str, rng: np.random.Generator
) -> MetricResult:
    """Invalid outputs: a binomial per group."""
    resamples = policy.compare.bootstrap.resamples
    counts_b = np.array([invalid_b, rows_b - invalid_b], dtype=np.float64)
    counts_c = np.array([invalid_c, rows_c - invalid_c], dtype=np.float64)
    rate_b, rate_c = counts_b[0] / counts_b.sum(), counts_c[0] / counts_c.sum()
    dev = rate_deviation(counts_c, resamples, rng) - rate_deviation(counts_b, resamples, rng)
    low, high = rs.interval(rate_c - rate_b, dev, policy.compare.bootstrap.confidence)
    result = classify("error_rate", rate_b, rate_c, low, high, policy, primary)
    return with_p(result, rs.bootstrap_p_value(rate_c - rate_b, dev))


def latency_results(
    point_b: np.ndarray,
    point_c: np.ndarray,
    hb: np.ndarray,
    hc: np.ndarray,
    edges: np.ndarray,
    policy: Policy,
    primary: str,
    rng: np.random.Generator,
) -> list[MetricResult]:
    """p50 / p95 / p99 deltas: the point estimates given; the interval from each side's distribution-free one.

    A percentile bootstrap of a tail percentile is far too narrow at small samples (at 100 rows the 99th
    percentile is the largest value, which a resample can only repeat or lower): A/A canaries of 100 rows
    failed latency_p99 in a fifth of the runs. Each side's binomial interval of its percentile at
    1 - (1 - confidence) / 2 (stats.inference.quantile_bounds_from_counts) and the delta's interval from
    their ends hold the delta at ``confidence`` or more, at any size; where a side's rows cannot bound its
    percentile the interval is open on that side, so the metric can be marginal, not fail. The p-value stays
    the resampled histograms'.
    """
    confidence = policy.compare.bootstrap.confidence
    side = 1 - (1 - confidence) / 2
    resamples = policy.compare.bootstrap.resamples
    binned_b = rs.percentiles_from_counts(hb[None, :], edges, LATENCY_QUANTILES)[0]
    binned_c = rs.percentiles_from_counts(hc[None, :], edges, LATENCY_QUANTILES)[0]
    boot_b = rs.percentiles_from_counts(rs.resample_counts(hb, resamples, rng), edges, LATENCY_QUANTILES)
    boot_c = rs.percentiles_from_counts(rs.resample_counts(hc, resamples, rng), edges, LATENCY_QUANTILES)
    results = []
    for j, q in enumerate(LATENCY_QUANTILES):
        name = f"latency_p{int(q)}"
        deviation = (boot_c[:, j] - binned_c[j]) - (boot_b[:, j] - binned_b[j])
        point = float(point_c[j] - point_b[j])
        low_b, high_b = quantile_bounds_from_counts(hb, edges, q / 100, side)
        low_c, high_c = quantile_bounds_from_counts(hc, edges, q / 100, side)
        low, high = low_c - high_b, high_c - low_b
        result = classify(name, float(point_b[j]), float(point_c[j]), low, high, policy, primary)
        results.append(with_p(result, rs.bootstrap_p_value(point, deviation)))
    return results


def with_p(result: MetricResult, p: float) -> MetricResult:
    return replace(result, p_value=p)


def rate_deviation(counts: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    draws = rs.resample_counts(counts, resamples, rng)
    return draws[:, 0] / draws.sum(axis=1) - counts[0] / counts.sum()


def mann_whitney(baseline: np.ndarray, candidate: np.ndarray, rng: np.random.Generator) -> RankTest:
    """Mann-Whitney U (two-sided, asymptotic) on per-request values, as Kayenta judges a canary.

    At most 100,000 values a side (a random sample beyond): at millions, the
    test flags differences too small to matter, and the ranking costs seconds.
    """
    from scipy.stats import mannwhitneyu

    def sample(values: np.ndarray) -> np.ndarray:
        if len(values) <= MANN_WHITNEY_MAX_ROWS:
            return values
        return values[rng.choice(len(values), MANN_WHITNEY_MAX_ROWS, replace=False)]

    b, c = sample(baseline), sample(candidate)
    result = mannwhitneyu(c, b, alternative="two-sided", method="asymptotic")
    return RankTest(
        u=float(result.statistic),
        p_value=float(result.pvalue),
        median_baseline=float(np.median(baseline)),
        median_candidate=float(np.median(candidate)),
        effect=float(result.statistic / (len(b) * len(c))),  # P(candidate > baseline)
    )


def segment_row(segment: str, value: Any, n_b: int, n_c: int, judge: Any, policy: Policy, primary: str) -> SegmentResult:
    """One segment's comparison of the primary metric; ``judge`` gives (baseline, candidate, bootstrap deviations)."""
    spec = policy.compare
    if min(n_b, n_c) < spec.min_segment_size:
        why = f"fewer than {spec.min_segment_size} labelled rows on a side"
        return SegmentResult(segment, value, n_b, n_c, judged=False, why=why)
    vb, vc, deviations = judge()
    point = vc - vb
    low, high = rs.interval(point, deviations, spec.bootstrap.confidence)
    higher = higher_is_better(primary, policy)
    improvement_dev = deviations if higher else -deviations
    improvement = point if higher else -point
    # one-sided p of 'the candidate is no worse': how often the centred bootstrap falls this far below
    finite = improvement_dev[np.isfinite(improvement_dev)]
    p_worse = float((np.count_nonzero(finite <= improvement) + 1) / (len(finite) + 1)) if len(finite) else 1.0
    return SegmentResult(
        segment,
        value,
        n_b,
        n_c,
        judged=True,
        metric=primary,
        baseline=vb,
        candidate=vc,
        delta=point,
        ci_low=low,
        ci_high=high,
        p_value=p_worse if improvement < 0 else 1.0,
    )


def judge_segments(rows: list[SegmentResult], policy: Policy, primary: str) -> list[SegmentResult]:
    """Benjamini-Hochberg (or the policy's correction) across the judged segments; which are worse."""
    spec = policy.compare
    judged = [r for r in rows if r.judged]
    if not judged:
        return rows
    adjusted = iter(adjust_p_values(np.array([r.p_value for r in judged]), spec.segment_correction))
    allowed = float(spec.max_regression.get(primary, 0.0))
    higher = higher_is_better(primary, policy)
    out = []
    for r in rows:
        if r.judged:
            p = float(next(adjusted))
            improvement = r.delta if higher else -r.delta
            r = replace(r, p_adjusted=p, worse=bool(p < spec.alpha and improvement < -allowed))
        out.append(r)
    return out
