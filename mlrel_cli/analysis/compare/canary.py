"""Compare on the local engine, canary mode: each metric of the two models' own rows, with bootstrap intervals.

The task's label metrics from cells of the rows (stats/resampling.py), the ranking metrics per query with whole
queries resampled, the proxy metrics, the error rate, latency percentiles, Mann-Whitney U on latency and scores;
per segment, the primary metric with the correction across segments. The cluster's twin is compare/cluster.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlrel_cli.analysis.compare.judge import (
    LATENCY_QUANTILES,
    PRIMARY,
    RANKING_METRICS,
    MetricResult,
    SegmentResult,
    binary_deviations,
    classify,
    error_rate_result,
    judge_segments,
    latency_results,
    mann_whitney,
    mean_deviations,
    metric_results,
    ranking_unit,
    ratio_deviations,
    segment_row,
    with_p,
)
from mlrel_cli.errors import LogError
from mlrel_cli.facts.models import ModelRows
from mlrel_cli.policy import Policy
from mlrel_cli.stats import resampling as rs
from mlrel_cli.stats.metrics import TASK_METRICS
from mlrel_cli.stats.names import BINARY, MULTICLASS, RANKING
from mlrel_cli.stats.ranking import Queries


def label_metrics(task: str, model: ModelRows, mask: np.ndarray | None, threshold: float) -> dict[str, float]:
    keep = model.labelled if mask is None else model.labelled & mask
    truth = model.truth[keep]  # type: ignore[index]
    if task == BINARY:
        return TASK_METRICS[task](truth, model.score[keep], threshold)  # type: ignore[index]
    if task == MULTICLASS:
        return TASK_METRICS[task](truth, model.classes[keep])  # type: ignore[index]
    return TASK_METRICS[task](truth, model.score[keep])  # type: ignore[index]


def _label_deviations(
    task: str,
    base: ModelRows,
    cand: ModelRows,
    base_mask: np.ndarray | None,
    cand_mask: np.ndarray | None,
    policy: Policy,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Bootstrap deviations of each label metric's delta, from resampled cells of both groups."""
    resamples = policy.compare.bootstrap.resamples
    threshold = policy.validate_.performance.decision_threshold
    keep_b = base.labelled if base_mask is None else base.labelled & base_mask
    keep_c = cand.labelled if cand_mask is None else cand.labelled & cand_mask
    if task == BINARY:
        edges = rs.score_edges([base.score[keep_b], cand.score[keep_c]], threshold)  # type: ignore[index]
        cells = [
            rs.binary_cells(m.truth[keep], m.score[keep], edges, threshold)  # type: ignore[index]
            for m, keep in ((base, keep_b), (cand, keep_c))
        ]
        return binary_deviations(cells[0], cells[1], resamples, rng)[2]
    # multiclass accuracy and regression errors: cells of correctness / error quantiles
    devs = []
    for model, keep in ((base, keep_b), (cand, keep_c)):
        if task == MULTICLASS:
            correct = model.truth[keep] == model.classes[keep]  # type: ignore[index]
            counts = np.array([correct.sum(), (~correct).sum()], dtype=np.float64)
            draws = rs.resample_counts(counts, resamples, rng)
            with np.errstate(invalid="ignore", divide="ignore"):
                devs.append({"accuracy": draws[:, 0] / draws.sum(axis=1) - counts[0] / counts.sum()})
        else:
            err = model.score[keep] - model.truth[keep]  # type: ignore[index]
            index, counts = rs.quantile_cells(np.abs(err))
            mean_abs, mean_sq = rs.cell_means(index, counts, np.abs(err)), rs.cell_means(index, counts, err**2)
            draws = rs.resample_counts(counts, resamples, rng)
            with np.errstate(invalid="ignore", divide="ignore"):
                n = draws.sum(axis=1)
                devs.append(
                    {
                        "mae": draws @ mean_abs / n - counts @ mean_abs / counts.sum(),
                        "rmse": np.sqrt(draws @ mean_sq / n) - np.sqrt(counts @ mean_sq / counts.sum()),
                    }
                )
    return {name: devs[1][name] - devs[0][name] for name in devs[0]}


def compare_canary(
    task: str, base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> tuple[list[MetricResult], dict[str, Any]]:
    results: list[MetricResult] = []
    enough_labels = min(base.labelled.sum(), cand.labelled.sum()) >= 2 and base.truth is not None
    if task == RANKING:
        if enough_labels and cand.truth is not None:
            results.extend(_ranking_results(base, cand, policy, primary, rng))
        enough_labels = False
    results.extend(_proxy_results(base, cand, policy, primary, rng))
    if enough_labels and cand.truth is not None:
        threshold = policy.validate_.performance.decision_threshold
        values_b = label_metrics(task, base, None, threshold)
        values_c = label_metrics(task, cand, None, threshold)
        deviations = _label_deviations(task, base, cand, None, None, policy, rng)
        results.extend(metric_results(values_b, values_c, deviations, policy, primary))
    invalid_b, invalid_c = int(base.invalid.sum()), int(cand.invalid.sum())
    results.append(error_rate_result(invalid_b, base.rows, invalid_c, cand.rows, policy, primary, rng))
    rank_tests: dict[str, Any] = {}
    if base.latency is not None and cand.latency is not None:
        lb, lc = base.latency[np.isfinite(base.latency)], cand.latency[np.isfinite(cand.latency)]
        if len(lb) and len(lc):
            edges = rs.latency_edges([lb, lc])
            point_b, point_c = np.percentile(lb, LATENCY_QUANTILES), np.percentile(lc, LATENCY_QUANTILES)
            results.extend(
                latency_results(point_b, point_c, rs.histogram(lb, edges), rs.histogram(lc, edges), edges, policy, primary, rng)
            )
            rank_tests["latency"] = mann_whitney(lb, lc, rng)
    if base.score is not None and cand.score is not None:
        sb, sc = base.score[np.isfinite(base.score)], cand.score[np.isfinite(cand.score)]
        if len(sb) and len(sc):
            rank_tests["score"] = mann_whitney(sb, sc, rng)
    return results, rank_tests


def _query_units(model: ModelRows, policy: Policy) -> tuple[dict[str, np.ndarray], Queries, np.ndarray]:
    """A ranking model's per-query units (NDCG@k, reciprocal rank, CTR@k, no engagement), its queries, and the rows
    they were built from."""
    from mlrel_cli.stats import ranking

    if model.query is None or model.position is None:
        raise LogError("comparing ranking models needs the query and position columns (columns.query, columns.position)")
    keep = model.labelled & (model.query >= 0) & np.isfinite(model.position)
    queries = ranking.group_queries(model.query[keep], model.position[keep], model.truth[keep])  # type: ignore[index]
    return ranking.ranking_units(queries, policy.validate_.performance.k), queries, keep


def _ranking_results(
    base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> list[MetricResult]:
    """Ranking metrics per query on each side; intervals from resampling whole queries."""
    per_model = [_query_units(model, policy)[0] for model in (base, cand)]
    results = []
    resamples = policy.compare.bootstrap.resamples
    for name in per_model[0]:
        vb, vc = per_model[0][name], per_model[1][name]
        mb, mc = float(np.nanmean(vb)), float(np.nanmean(vc))
        deviation = mean_deviations(vc, resamples, rng) - mean_deviations(vb, resamples, rng)
        low, high = rs.interval(mc - mb, deviation, policy.compare.bootstrap.confidence)
        metric = name.split("@")[0]
        result = classify(metric, mb, mc, low, high, policy, primary)
        results.append(with_p(result, rs.bootstrap_p_value(mc - mb, deviation)))
    return results


def _proxy_results(
    base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> list[MetricResult]:
    """Each proxy metric on both sides; per-query metrics resample whole queries."""
    from mlrel_cli.stats.ranking import per_query_proxy, proxy_value

    results = []
    resamples = policy.compare.bootstrap.resamples
    for name, spec in policy.proxy_metrics.items():
        values, deviations = [], []
        for model in (base, cand):
            column = model.columns.get(spec.column) if spec.column else None
            num = model.columns.get(spec.numerator) if spec.numerator else None
            den = model.columns.get(spec.denominator) if spec.denominator else None
            per_query = spec.per == "query"
            if per_query and model.query is None:
                raise LogError(f"proxy metric '{name}' is per query and the log has no query column (columns.query)")
            value = proxy_value(spec.kind, column, num, den, model.query if per_query else None)
            values.append(value)
            if per_query:
                unit = per_query_proxy(spec.kind, column, num, den, model.query)  # type: ignore[arg-type]
                deviations.append(mean_deviations(unit, resamples, rng))
            elif spec.kind == "ratio":
                deviations.append(ratio_deviations(num, den, resamples, rng))  # type: ignore[arg-type]
            else:
                unit = (column != 0).astype(float) if spec.kind == "rate" else column  # type: ignore[union-attr,assignment]
                deviations.append(mean_deviations(unit, resamples, rng))
        deviation = deviations[1] - deviations[0]
        low, high = rs.interval(values[1] - values[0], deviation, policy.compare.bootstrap.confidence)
        result = classify(name, values[0], values[1], low, high, policy, primary)
        results.append(with_p(result, rs.bootstrap_p_value(values[1] - values[0], deviation)))
    return results


# ---------------------------------------------------------------- segments


def compare_segments(
    task: str, base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> list[SegmentResult]:
    if base.truth is None or cand.truth is None:
        return []
    if task == RANKING:
        return _ranking_segments(base, cand, policy, primary, rng) if primary in RANKING_METRICS else []
    if primary not in PRIMARY.values():
        return []
    threshold = policy.validate_.performance.decision_threshold
    rows: list[SegmentResult] = []
    for segment in policy.segments:
        values = sorted(set(base.segments[segment][base.labelled]) | set(cand.segments[segment][cand.labelled]))
        for value in values:
            mask_b, mask_c = base.segments[segment] == value, cand.segments[segment] == value
            n_b, n_c = int((mask_b & base.labelled).sum()), int((mask_c & cand.labelled).sum())

            def judge(mask_b: np.ndarray = mask_b, mask_c: np.ndarray = mask_c) -> tuple[float, float, np.ndarray]:
                vb = label_metrics(task, base, mask_b, threshold).get(primary, np.nan)
                vc = label_metrics(task, cand, mask_c, threshold).get(primary, np.nan)
                deviations = _label_deviations(task, base, cand, mask_b, mask_c, policy, rng).get(primary, np.array([]))
                return vb, vc, deviations

            rows.append(segment_row(segment, value, n_b, n_c, judge, policy, primary))
    return judge_segments(rows, policy, primary)


def _ranking_segments(
    base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> list[SegmentResult]:
    """A ranking's primary metric per segment: a segment is an attribute of the query (the value most of its rows
    carry), its queries resampled whole, as for the overall metrics; ``min_segment_size`` counts those queries."""
    from mlrel_cli.stats.ranking import query_attribute

    k = policy.validate_.performance.k
    unit = ranking_unit(primary, k)
    resamples = policy.compare.bootstrap.resamples
    sides = [(model, *_query_units(model, policy)) for model in (base, cand)]
    rows: list[SegmentResult] = []
    for segment in policy.segments:
        of_query = []
        for model, _, queries, keep in sides:
            names, codes = np.unique(model.segments[segment][keep], return_inverse=True)
            of_query.append(names[query_attribute(queries, model.query[keep], model.position[keep], codes)])  # type: ignore[index]
        for value in sorted(set(of_query[0]) | set(of_query[1])):
            vb, vc = (units[unit][found == value] for (_, units, _, _), found in zip(sides, of_query, strict=True))
            n_b, n_c = int(np.isfinite(vb).sum()), int(np.isfinite(vc).sum())

            def judge(vb: np.ndarray = vb, vc: np.ndarray = vc) -> tuple[float, float, np.ndarray]:
                deviations = mean_deviations(vc, resamples, rng) - mean_deviations(vb, resamples, rng)
                return _finite_mean(vb), _finite_mean(vc), deviations

            rows.append(segment_row(segment, value, n_b, n_c, judge, policy, primary))
    return judge_segments(rows, policy, primary)


def _finite_mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")
