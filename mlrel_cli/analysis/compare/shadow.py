"""Compare on the local engine, shadow mode: both models scored the same requests, paired on the id.

Agreement, the distribution of score differences, paired metric deltas with the m-out-of-n paired bootstrap,
McNemar's test on paired correctness, and the requests the models disagree on most. Rows side by side: refused on
a cluster (engine.check_engine).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis.compare.canary import label_metrics
from mlrel_cli.analysis.compare.judge import MetricResult, classify, with_p
from mlrel_cli.errors import LogError
from mlrel_cli.facts.models import ModelRows
from mlrel_cli.payloads.compare import Disagreement, McNemar, ScoreDifference, ShadowEvidence
from mlrel_cli.policy import Policy
from mlrel_cli.stats import resampling as rs
from mlrel_cli.tasks import reads, task_of

PAIRED_MAX_ROWS = 10_000


def compare_shadow(
    task: str, base: ModelRows, cand: ModelRows, policy: Policy, primary: str, rng: np.random.Generator
) -> tuple[list[MetricResult], ShadowEvidence]:
    spec = policy.compare
    if base.ids is None or cand.ids is None:
        raise LogError(f"shadow mode pairs requests on the id column '{policy.columns.id}', which a log lacks")
    index = pc.index_in(cand.ids, value_set=base.ids)
    paired_c = index.is_valid().to_numpy(zero_copy_only=False)
    paired_b = index.fill_null(0).to_numpy(zero_copy_only=False)[paired_c]
    n_pairs = int(paired_c.sum())
    fraction = n_pairs / min(base.rows, cand.rows)
    if fraction < spec.min_paired_fraction:
        raise LogError(
            f"shadow mode: only {fraction:.1%} of requests pair on '{policy.columns.id}' ({n_pairs:,} pairs), below "
            f"compare.min_paired_fraction {spec.min_paired_fraction:.0%}: are these logs of the same requests?"
        )
    pb, pc_ = _subset(base, paired_b), _subset(cand, np.flatnonzero(paired_c))
    threshold = policy.validate_.performance.decision_threshold
    difference, top, agreement = _disagreement(task, pb, pc_, threshold, spec.top_disagreements)
    results: list[MetricResult] = []
    mcnemar = None
    both = pb.labelled & pc_.labelled if pb.truth is not None else np.zeros(n_pairs, dtype=bool)
    if both.sum() >= 2:
        pb.labelled, pc_.labelled = both, both
        vb = label_metrics(task, pb, None, threshold)
        vc = label_metrics(task, pc_, None, threshold)
        deviations = _paired_deviations(task, pb, pc_, both, policy, rng)
        for name in vb:
            point = vc[name] - vb[name]
            low, high = rs.interval(point, deviations[name], spec.bootstrap.confidence)
            result = classify(name, vb[name], vc[name], low, high, policy, primary)
            results.append(with_p(result, rs.bootstrap_p_value(point, deviations[name])))
        if (record := task_of(task)) is not None and record.classification:
            test = rs.mcnemar(_correct(task, pb, both, threshold), _correct(task, pc_, both, threshold))
            mcnemar = McNemar(int(test["b"]), int(test["c"]), float(test["statistic"]), float(test["p_value"]))
    return results, ShadowEvidence(n_pairs, fraction, difference, top, agreement, mcnemar)


def _disagreement(
    task: str, pb: ModelRows, pc_: ModelRows, threshold: float, top: int
) -> tuple[ScoreDifference | None, tuple[Disagreement, ...] | None, float | None]:
    """How far the paired scores differ, the ``top`` requests furthest apart, and how often the classes agree."""
    if pb.score is None or pc_.score is None:
        if pb.classes is not None and pc_.classes is not None:
            return None, None, float(np.mean(pb.classes == pc_.classes))
        return None, None, None
    diff = pc_.score - pb.score
    finite = np.isfinite(diff)
    difference = ScoreDifference(None, None, None, None)
    if finite.any():
        found = diff[finite]
        difference = ScoreDifference(float(np.mean(found)), *(float(np.percentile(found, q)) for q in (5, 50, 95)))
    order = np.argsort(-np.abs(np.where(finite, diff, 0)), kind="stable")[:top]
    ids = pc_.ids.to_pylist() if pc_.ids is not None else [None] * len(diff)
    furthest = tuple(Disagreement(ids[i], float(pb.score[i]), float(pc_.score[i]), float(diff[i])) for i in order)
    agreement = None
    if reads(task) == "score":  # the classes the scores give at the threshold
        agreement = float(np.mean((pb.score >= threshold) == (pc_.score >= threshold)))
    return difference, furthest, agreement


def _subset(model: ModelRows, index: np.ndarray) -> ModelRows:
    def take(a: Any) -> Any:
        return None if a is None else a[index]

    return ModelRows(
        version=model.version,
        rows=len(index),
        score=take(model.score),
        classes=take(model.classes),
        truth=take(model.truth),
        labelled=model.labelled[index],
        latency=take(model.latency),
        invalid=model.invalid[index],
        segments={k: v[index] for k, v in model.segments.items()},
        ids=model.ids.take(pa.array(index)) if model.ids is not None else None,
    )


def _correct(task: str, model: ModelRows, keep: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each kept row's class is right: the score read at the threshold, or the predicted class."""
    predicted, truth = model.predicted(task), model.truth
    assert predicted is not None and truth is not None
    if reads(task) == "score":
        return (predicted[keep] >= threshold) == truth[keep]
    return predicted[keep] == truth[keep]


def _paired_deviations(
    task: str, base: ModelRows, cand: ModelRows, keep: np.ndarray, policy: Policy, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Paired bootstrap: the same resampled requests for both models, at most 10,000 per resample.

    Resampling m of n pairs and scaling the deviations by sqrt(m / n) keeps a
    day of shadow traffic to a few seconds (the m-out-of-n bootstrap).
    """
    index = np.flatnonzero(keep)
    n = len(index)
    m = min(n, PAIRED_MAX_ROWS)
    threshold = policy.validate_.performance.decision_threshold
    resamples = policy.compare.bootstrap.resamples
    point_b = label_metrics(task, base, keep, threshold)
    point_c = label_metrics(task, cand, keep, threshold)
    names = list(point_b)
    out = {name: np.empty(resamples) for name in names}
    scale = np.sqrt(m / n)
    for r in range(resamples):
        chosen = index[rng.integers(0, n, m)]
        # duplicates matter in a bootstrap: compute on the drawn rows directly
        sub_b = _subset(base, chosen)
        sub_c = _subset(cand, chosen)
        sub_b.labelled = sub_c.labelled = np.ones(m, dtype=bool)
        mb = label_metrics(task, sub_b, None, threshold)
        mc = label_metrics(task, sub_c, None, threshold)
        for name in names:
            out[name][r] = ((mc[name] - mb[name]) - (point_c[name] - point_b[name])) * scale
    return out
