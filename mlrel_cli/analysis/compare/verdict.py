"""Compare's judgement, the same on every engine: each candidate's evidence -> metrics, segments, weak segments ->
a verdict with its reasons -> the ranked candidates -> the Report.

One set of judging functions for every engine (compare/canary.py; shadow.py where the engine kept the rows),
over the evidence the engine gave (facts/models.ModelEvidence).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mlrel_cli.analysis.compare import slices as compare_slices
from mlrel_cli.analysis.compare.canary import compare_canary, compare_segments
from mlrel_cli.analysis.compare.judge import PRIMARY, MetricResult, SegmentResult, higher_is_better, interval_text
from mlrel_cli.analysis.compare.shadow import compare_shadow
from mlrel_cli.errors import MlrelError
from mlrel_cli.facts.models import ModelEvidence
from mlrel_cli.payloads.compare import Candidate, RankTests, ShadowEvidence, WeakRegressions
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Report, Status
from mlrel_cli.stats.names import METRIC_BY_NAME

STATUS_OF_VERDICT = {"promote": Status.PASS, "reject": Status.FAIL, "inconclusive": Status.INCONCLUSIVE}


def judge(
    policy: Policy,
    base: ModelEvidence,
    candidates: list[ModelEvidence],
    task: str,
    weak: list[WeakRegressions | None],
    mode: str | None = None,
    inputs: dict[str, Any] | None = None,
) -> Report:
    spec = policy.compare
    mode = mode or spec.mode
    primary = spec.primary_metric or PRIMARY.get(task, "error_rate")
    if primary in METRIC_BY_NAME and task not in METRIC_BY_NAME[primary].tasks:
        raise MlrelError(f"compare.primary_metric '{primary}' does not apply to task '{task}'")
    rng = np.random.default_rng(spec.bootstrap.seed)
    judged = []
    for cand, found in zip(candidates, weak, strict=True):
        mann_whitney: RankTests | None = None
        shadow: ShadowEvidence | None = None
        segments: list[SegmentResult] = []
        if mode == "shadow":  # rows side by side: refused by engine.check_engine where the engine keeps none
            assert base.rows_seen is not None and cand.rows_seen is not None
            metrics, shadow = compare_shadow(task, base.rows_seen, cand.rows_seen, policy, primary, rng)
        else:
            metrics, mann_whitney = compare_canary(task, base, cand, policy, primary, rng)
            segments = compare_segments(task, base, cand, policy, primary, rng)
        verdict, reasons, score = _verdict(base, cand, metrics, segments, policy, primary)
        verdict, reasons = compare_slices.verdict(verdict, reasons, found, policy)
        judged.append(
            Candidate(
                version=cand.version,
                verdict=verdict,
                reasons=tuple(reasons),
                score=score,
                metrics=tuple(metrics),
                segments=tuple(segments),
                rows=cand.rows,
                labelled_rows=cand.labelled_rows,
                mann_whitney=mann_whitney,
                shadow=shadow,
                weak_segments=found,
            )
        )
    ranked = _rank(judged, primary, higher_is_better(primary, policy))
    promotable = [c for c in ranked if c.verdict == "promote"]
    if promotable:
        overall, recommended = "promote", promotable[0].version
    elif all(c.verdict == "inconclusive" for c in ranked):
        overall, recommended = "inconclusive", None
    else:
        overall, recommended = "reject", None
    return _report(overall, recommended, ranked, base, policy, primary, mode, task, inputs or {})


def _failure(m: MetricResult, confidence: float) -> str:
    interval = (
        f"{confidence:.0%} CI [{m.ci_low:+.3g}, {m.ci_high:+.3g}], " if np.isfinite(m.ci_low) and np.isfinite(m.ci_high) else ""
    )
    return (
        f"{m.name} {'changed' if m.higher_is_better is None else 'worse'}: {m.baseline:.4g} -> {m.candidate:.4g} "
        f"(delta {m.delta:+.3g}, {interval}allowed {m.allowed_regression:.3g})"
    )


def _score(metrics: list[MetricResult]) -> float:
    """100 x (passes + half the marginals) / metrics."""
    if not metrics:
        return 0.0
    points = {"pass": 1.0, "marginal": 0.5}
    return 100.0 * sum(points.get(m.classification, 0.0) for m in metrics) / len(metrics)


def _verdict(
    base: ModelEvidence,
    cand: ModelEvidence,
    metrics: list[MetricResult],
    segments: list[SegmentResult],
    policy: Policy,
    primary: str,
) -> tuple[str, list[str], float]:
    spec = policy.compare
    failed = [m for m in metrics if m.gating and m.classification == "fail"]
    reasons = [_failure(m, spec.bootstrap.confidence) for m in failed]
    worse_segments = [s for s in segments if s.worse]
    rejects_on_segment = bool(worse_segments) and spec.reject_on_segment_regression
    if rejects_on_segment:
        reasons.extend(
            f"segment {s.segment}={s.value}: {primary} {s.baseline:.4g} -> {s.candidate:.4g} (adjusted p {s.p_adjusted:.3g})"
            for s in worse_segments
        )
    score = _score(metrics)
    if failed or rejects_on_segment:
        return "reject", reasons, score
    primary_result = next((m for m in metrics if m.name == primary), None)
    needed_rows = min(base.labelled_rows, cand.labelled_rows) if primary in METRIC_BY_NAME else min(base.rows, cand.rows)
    if primary_result is None and not base.has_labels:
        return "inconclusive", [*reasons, f"no labels to compare {primary} (give --labels, or a label column)"], score
    if needed_rows < spec.min_rows or primary_result is None:
        kind = "labelled " if primary in METRIC_BY_NAME else ""
        why = f"too little data: {needed_rows:,} {kind}rows on the smaller side, fewer than compare.min_rows {spec.min_rows:,}"
        return "inconclusive", [*reasons, why], score
    marginal = [m.name for m in metrics if m.gating and m.classification == "marginal"]
    reasons.append(
        f"no gating metric significantly worse ({primary} {primary_result.baseline:.4g} -> "
        f"{primary_result.candidate:.4g})" + (f"; marginal: {', '.join(marginal)}" if marginal else "")
    )
    if worse_segments:
        reasons.append("worse segments noted, not gating: " + ", ".join(f"{s.segment}={s.value}" for s in worse_segments))
    return "promote", reasons, score


def _rank(candidates: list[Candidate], primary: str, higher: bool) -> list[Candidate]:
    """Promoted first, then inconclusive, then rejected; within each, by the primary metric's candidate value."""
    order = {"promote": 0, "inconclusive": 1, "reject": 2}

    def key(cand: Candidate) -> tuple[int, float]:
        metric = {m.name: m for m in cand.metrics}.get(primary)  # the last of a name, as the JSON keeps it
        value = metric.candidate if metric else float("nan")
        signed = -value if higher else value
        return order[cand.verdict], signed if np.isfinite(signed) else float("inf")

    return [replace(cand, rank=rank) for rank, cand in enumerate(sorted(candidates, key=key), start=1)]


def _metric_check(version: str, m: MetricResult, policy: Policy) -> Check:
    low, high = m.interval  # as the JSON has it: None where it could not be computed
    status = {"pass": Status.PASS, "marginal": Status.WARN, "fail": Status.FAIL}[m.classification]
    if not m.gating and status == Status.FAIL:
        status = Status.WARN
    return Check(
        name=f"{version}:{m.name}",
        status=status,
        value=m.delta,
        threshold=m.allowed_regression,
        message=f"{m.baseline:.4g} -> {m.candidate:.4g}{interval_text(low, high)}"
        f" ({m.classification}{', gating' if m.gating else ''})",
        details={"ci": [low, high] if low is not None else None, "p_value": m.p_value},
        source=policy.source_of(f"compare.max_regression.{m.name}"),
    )


def _checks(cand: Candidate, policy: Policy, primary: str) -> list[Check]:
    checks = [_metric_check(cand.version, m, policy) for m in cand.metrics_by_name.values()]
    for s in cand.segments:
        if s.worse:
            checks.append(
                Check(
                    name=f"{cand.version}:{primary}[{s.segment}={s.value}]",
                    status=Status.FAIL if policy.compare.reject_on_segment_regression else Status.WARN,
                    value=s.delta,
                    threshold=0.0,
                    message=f"{s.baseline:.4g} -> {s.candidate:.4g}, adjusted p {s.p_adjusted:.3g}",
                    source=policy.source_of("compare.reject_on_segment_regression"),
                )
            )
    if (slices_check := compare_slices.check(cand.version, cand.weak_segments, policy)) is not None:
        checks.append(slices_check)
    checks.append(
        Check(
            name=f"{cand.version}:verdict",
            status=STATUS_OF_VERDICT[cand.verdict],
            value=cand.verdict,
            message="; ".join(cand.reasons),
            details={"score": cand.score, "rank": cand.rank},
        )
    )
    return checks


def _report(
    overall: str,
    recommended: str | None,
    ranked: list[Candidate],
    base: ModelEvidence,
    policy: Policy,
    primary: str,
    mode: str,
    task: str,
    inputs: dict[str, Any],
) -> Report:
    checks = [check for cand in ranked for check in _checks(cand, policy, primary)]
    if overall == "promote":
        summary = f"promote {recommended}: " + ranked[0].reasons[-1]
    else:
        summary = f"{overall}: " + "; ".join(f"{c.version}: {c.reasons[0]}" for c in ranked if c.reasons)
    return Report(
        command="compare",
        status=STATUS_OF_VERDICT[overall],
        summary=summary,
        checks=tuple(checks),
        inputs={
            **inputs,
            "baseline": base.version,
            "mode": mode,
            "task": task,
            "primary_metric": primary,
            "policy": list(policy.files),
        },
        sections={
            "verdict": overall,
            "recommended": recommended,
            "baseline": base.version,
            "candidates": tuple(ranked),
            "weak_segments": tuple(row for cand in ranked for row in cand.weak_rows),
        },
    )
