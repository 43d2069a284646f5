"""Compare in canary mode, one judgement for every engine: each metric of the two models' own evidence, with
bootstrap intervals, and per segment the primary metric with the correction across segments.

The label metrics' deltas are resampled from cells (score bin x label, the confusion matrix, error-size cells)
over edges every model shares; where the engine brought every row into this process the point values are the
metrics of those rows (an exact ROC AUC), else read from the cells. The ranking metrics and per-query proxy
metrics are means over queries, the per-request proxy metrics from their sums, each side normal with its
standard error; the error rate is a binomial per side; latency percentiles from a sketch (every value on the
local engine) with histogram resampling; Mann-Whitney U on latency and scores from the values the engine gave
(every one, or a sample).
"""

from __future__ import annotations

from dataclasses import replace
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
    metric_results,
    ranking_unit,
    segment_row,
    with_p,
)
from mlrel_cli.facts.labelled import multiclass_from_pairs
from mlrel_cli.facts.models import SEGMENT_UNIT, ModelEvidence, ModelRows
from mlrel_cli.payloads.compare import RankTests
from mlrel_cli.policy import Policy
from mlrel_cli.stats import resampling as rs
from mlrel_cli.stats.metrics import regression_from_sums
from mlrel_cli.stats.ranking import mean_and_se, proxy_from_sums
from mlrel_cli.tasks import per_query, task_of

Judgement = tuple[dict[str, float], dict[str, float], dict[str, np.ndarray]]


def label_metrics(task: str, model: ModelRows, mask: np.ndarray | None, threshold: float) -> dict[str, float]:
    """Every label metric of the task on the model's labelled rows (``mask``: of those, these)."""
    keep = model.labelled if mask is None else model.labelled & mask
    record = task_of(task)
    predicted = model.classes if record is not None and record.reads == "classes" else model.score
    if record is None or model.truth is None or predicted is None:
        return {}
    return record.compute(model.truth[keep], predicted[keep], threshold)


def compare_canary(
    task: str, base: ModelEvidence, cand: ModelEvidence, policy: Policy, primary: str, rng: np.random.Generator
) -> tuple[list[MetricResult], RankTests]:
    results: list[MetricResult] = []
    enough_labels = min(base.labelled_rows, cand.labelled_rows) >= 2
    if per_query(task) and enough_labels:
        names = [n for n in base.per_query if not n.startswith(("proxy:", SEGMENT_UNIT))]
        results.extend(_query_results(names, base, cand, policy, primary, rng))
    results.extend(_proxy_results(base, cand, policy, primary, rng))
    if not per_query(task) and enough_labels and base.labelled is not None and cand.labelled is not None:
        values_b, values_c, deviations = label_judgement(task, base, cand, None, policy, rng)
        results.extend(metric_results(values_b, values_c, deviations, policy, primary))
    results.append(error_rate_result(base.invalid, base.rows, cand.invalid, cand.rows, policy, primary, rng))
    latency_test = score_test = None
    if base.latency is not None and cand.latency is not None:
        sketch_b, sketch_c = base.sketches["latency"], cand.sketches["latency"]
        if sketch_b.rows and sketch_c.rows:
            point_b = np.percentile(sketch_b.points, LATENCY_QUANTILES)
            point_c = np.percentile(sketch_c.points, LATENCY_QUANTILES)
            edges = base.edges["latency"]
            results.extend(latency_results(point_b, point_c, base.latency, cand.latency, edges, policy, primary, rng))
            if len(base.latencies) and len(cand.latencies):
                latency_test = mann_whitney(base.latencies, cand.latencies, rng)
    if len(base.scores) and len(cand.scores):
        score_test = mann_whitney(base.scores, cand.scores, rng)
    return results, RankTests(latency_test, score_test)


def _proxy_results(
    base: ModelEvidence, cand: ModelEvidence, policy: Policy, primary: str, rng: np.random.Generator
) -> list[MetricResult]:
    """Per-request proxy metrics from their sums, per-query ones from the per-query sums; the spread of each side
    normal with its standard error (the sums hold no cells to resample; the two agree at a few hundred rows)."""
    resamples = policy.compare.bootstrap.resamples
    values_b, values_c, deviations = {}, {}, {}
    for name, spec in policy.proxy_metrics.items():
        if spec.per == "query":
            values_b[name], values_c[name], deviations[name] = _query_judgement(f"proxy:{name}", base, cand, resamples, rng)
            continue
        (vb, se_b), (vc, se_c) = proxy_from_sums(spec.kind, base.proxies[name]), proxy_from_sums(spec.kind, cand.proxies[name])
        values_b[name], values_c[name] = vb, vc
        if np.isfinite(se_b) and np.isfinite(se_c):
            deviations[name] = rng.normal(0.0, se_c, resamples) - rng.normal(0.0, se_b, resamples)
    return metric_results(values_b, values_c, deviations, policy, primary)


def _query_judgement(
    name: str, base: ModelEvidence, cand: ModelEvidence, resamples: int, rng: np.random.Generator
) -> tuple[float, float, np.ndarray]:
    """A mean over queries on each side and normal deviations with its standard error."""
    (vb, se_b), (vc, se_c) = mean_and_se(base.per_query[name]), mean_and_se(cand.per_query[name])
    if not (np.isfinite(se_b) and np.isfinite(se_c)):
        return vb, vc, np.array([])
    return vb, vc, rng.normal(0.0, se_c, resamples) - rng.normal(0.0, se_b, resamples)


def _query_results(
    names: list[str], base: ModelEvidence, cand: ModelEvidence, policy: Policy, primary: str, rng: np.random.Generator
) -> list[MetricResult]:
    """The ranking metrics (NDCG@k, MRR, CTR@k, no engagement): means over queries."""
    results = []
    for name in names:
        vb, vc, deviation = _query_judgement(name, base, cand, policy.compare.bootstrap.resamples, rng)
        low, high = rs.interval(vc - vb, deviation, policy.compare.bootstrap.confidence)
        result = classify(name.split("@")[0], vb, vc, low, high, policy, primary)
        results.append(with_p(result, rs.bootstrap_p_value(vc - vb, deviation)))
    return results


def label_judgement(
    task: str,
    base: ModelEvidence,
    cand: ModelEvidence,
    segment: tuple[str, str] | None,
    policy: Policy,
    rng: np.random.Generator,
) -> Judgement:
    """Both sides' label metrics (of the segment value's rows, or all) and the bootstrap deviations of each delta:
    the deviations from the labelled parts' cells, the values from the rows where the engine kept them."""
    resamples = policy.compare.bootstrap.resamples
    threshold = policy.validate_.performance.decision_threshold
    part_b, part_c = (m.labelled if segment is None else m.segments[segment] for m in (base, cand))
    assert part_b is not None and part_c is not None
    reads = task_of(task)
    if reads is not None and reads.reads == "score":
        cells_b, cells_c = (rs.cells_from_sums(part, base.edges["score"], threshold) for part in (part_b, part_c))
        values_b, values_c, deviations = binary_deviations(cells_b, cells_c, resamples, rng)
    elif reads is not None and reads.reads == "classes":
        values_b, values_c = (multiclass_from_pairs(part["confusion"]) for part in (part_b, part_c))
        deviations = {
            "accuracy": _accuracy_deviation(part_c, values_c, resamples, rng)
            - _accuracy_deviation(part_b, values_b, resamples, rng)
        }
    else:
        values_b, values_c = (regression_from_sums(part) for part in (part_b, part_c))
        dev_b, dev_c = (_regression_deviations(part, resamples, rng) for part in (part_b, part_c))
        deviations = {name: dev_c[name] - dev_b[name] for name in dev_b}
    exact_b, exact_c = (_exact(task, m.rows_seen, segment, threshold) for m in (base, cand))
    if exact_b is not None and exact_c is not None:
        values_b, values_c = exact_b, exact_c
    return values_b, values_c, deviations


def _exact(task: str, rows: ModelRows | None, segment: tuple[str, str] | None, threshold: float) -> dict[str, float] | None:
    """The label metrics of every row (of the segment value), where the engine kept the rows."""
    if rows is None:
        return None
    return label_metrics(task, rows, None if segment is None else rows.segments[segment[0]] == segment[1], threshold)


def _accuracy_deviation(part: dict[str, Any], values: dict[str, float], resamples: int, rng: np.random.Generator) -> np.ndarray:
    correct = values["accuracy"] * part["n"]
    counts = np.array([correct, part["n"] - correct], dtype=np.float64)
    draws = rs.resample_counts(counts, resamples, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        return draws[:, 0] / draws.sum(axis=1) - counts[0] / counts.sum()


def _regression_deviations(cells: dict[str, Any], resamples: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    counts = cells["error_count"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_abs = np.where(counts > 0, cells["error_abs"] / counts, 0.0)
        mean_sq = np.where(counts > 0, cells["error_sq"] / counts, 0.0)
        draws = rs.resample_counts(counts, resamples, rng)
        n = draws.sum(axis=1)
        return {
            "mae": draws @ mean_abs / n - counts @ mean_abs / counts.sum(),
            "rmse": np.sqrt(draws @ mean_sq / n) - np.sqrt(counts @ mean_sq / counts.sum()),
        }


# ---------------------------------------------------------------- segments


def compare_segments(
    task: str, base: ModelEvidence, cand: ModelEvidence, policy: Policy, primary: str, rng: np.random.Generator
) -> list[SegmentResult]:
    """The primary metric per segment value, judged on that value's labelled rows, corrected across segments."""
    if per_query(task):
        return _ranking_segments(base, cand, policy, primary, rng) if primary in RANKING_METRICS else []
    if base.labelled is None or cand.labelled is None or primary not in PRIMARY.values():
        return []
    rows = []
    for segment in policy.segments:
        values = sorted({v for s, v in base.segments if s == segment} | {v for s, v in cand.segments if s == segment})
        for value in values:
            part_b, part_c = base.segments.get((segment, value)), cand.segments.get((segment, value))
            n_b, n_c = (int(p["n"]) if p is not None else 0 for p in (part_b, part_c))

            def judge(key: tuple[str, str] = (segment, value)) -> tuple[float, float, np.ndarray]:
                vb, vc, deviations = label_judgement(task, base, cand, key, policy, rng)
                return vb.get(primary, np.nan), vc.get(primary, np.nan), deviations.get(primary, np.array([]))

            rows.append(segment_row(segment, value, n_b, n_c, judge, policy, primary))
    return judge_segments(rows, policy, primary)


def _ranking_segments(
    base: ModelEvidence, cand: ModelEvidence, policy: Policy, primary: str, rng: np.random.Generator
) -> list[SegmentResult]:
    """A ranking's primary metric per segment: a segment is an attribute of the query (the value most of its rows
    carry), each side's mean over its queries normal with its standard error; ``min_segment_size`` counts queries."""
    unit = ranking_unit(primary, policy.validate_.performance.k)
    empty = {"n": 0.0, "sum": 0.0, "sum2": 0.0}
    rows = []
    for segment in policy.segments:
        prefix = f"{SEGMENT_UNIT}{segment}="
        names = {n for model in (base, cand) for n in model.per_query if n.startswith(prefix) and n.endswith(f"|{unit}")}
        counts = {n: [int(m.per_query.get(n, empty)["n"]) for m in (base, cand)] for n in names}
        for name in sorted((n for n in names if sum(counts[n])), key=lambda n: n[len(prefix) : -len(unit) - 1]):
            value = name[len(prefix) : -len(unit) - 1]
            sides = [replace(m, per_query={name: m.per_query.get(name, empty)}) for m in (base, cand)]

            def judge(sides: list[ModelEvidence] = sides, name: str = name) -> tuple[float, float, np.ndarray]:
                return _query_judgement(name, sides[0], sides[1], policy.compare.bootstrap.resamples, rng)

            n_b, n_c = counts[name]
            rows.append(segment_row(segment, value, n_b, n_c, judge, policy, primary))
    return judge_segments(rows, policy, primary)
