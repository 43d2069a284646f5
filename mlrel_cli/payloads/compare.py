"""What compare says about each candidate (the report's ``candidates``), typed until the JSON edge (docs/compare.md,
"JSON"): built by analysis/compare, read by the renderers and ``mlrel rollout``.

Each ``to_dict`` writes the documented fields in the documented order; a key the schema leaves out stays out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlrel_cli.payloads.slices import WeakSegment, WeakSlice


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class MetricResult:
    name: str
    baseline: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    higher_is_better: bool | None  # None: a change either way is a change, neither better nor worse
    classification: str  # pass, marginal, fail
    gating: bool
    allowed_regression: float

    @property
    def interval(self) -> tuple[float | None, float | None]:
        """The interval as the JSON has it: an end that cannot be computed (macro scores, too few rows) is None."""
        return _finite(self.ci_low), _finite(self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "delta": self.delta,
            # an interval that cannot be computed (macro scores, too few rows) is absent, not NaN
            "ci_low": self.interval[0],
            "ci_high": self.interval[1],
            "p_value": self.p_value,
            "higher_is_better": self.higher_is_better,
            "classification": self.classification,
            "gating": self.gating,
            "allowed_regression": self.allowed_regression,
        }


@dataclass(frozen=True)
class RankTest:
    """Mann-Whitney U on one per-request value (latency or score), as Kayenta judges a canary."""

    u: float
    p_value: float
    median_baseline: float
    median_candidate: float
    effect: float  # P(candidate > baseline)

    def to_dict(self) -> dict[str, Any]:
        return {
            "u": self.u,
            "p_value": self.p_value,
            "median_baseline": self.median_baseline,
            "median_candidate": self.median_candidate,
            "effect": self.effect,
        }


@dataclass(frozen=True)
class SegmentResult:
    """One segment value's comparison of the primary metric; ``p_adjusted`` and ``worse`` once corrected."""

    segment: str
    value: Any
    rows_baseline: int
    rows_candidate: int
    judged: bool
    why: str | None = None  # not judged: why
    metric: str | None = None
    baseline: float = float("nan")
    candidate: float = float("nan")
    delta: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    p_value: float = 1.0  # one-sided: the candidate is no worse
    p_adjusted: float | None = None
    worse: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "segment": self.segment,
            "value": self.value,
            "rows_baseline": self.rows_baseline,
            "rows_candidate": self.rows_candidate,
            "judged": self.judged,
        }
        if not self.judged:
            out["why"] = self.why
            return out
        out.update(
            metric=self.metric,
            baseline=self.baseline,
            candidate=self.candidate,
            delta=self.delta,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            p_value=self.p_value,
        )
        if self.p_adjusted is not None:
            out.update(p_adjusted=self.p_adjusted, worse=self.worse)
        return out


@dataclass(frozen=True)
class RankTests:
    """Canary mode's rank tests: on latency and on the scores, where both sides have values."""

    latency: RankTest | None = None
    score: RankTest | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.latency is not None:
            out["latency"] = self.latency.to_dict()
        if self.score is not None:
            out["score"] = self.score.to_dict()
        return out


@dataclass(frozen=True)
class ScoreDifference:
    """The paired score differences (candidate - baseline): their mean and percentiles; None without a finite one."""

    mean: float | None
    p5: float | None
    p50: float | None
    p95: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "p5": self.p5, "p50": self.p50, "p95": self.p95}


@dataclass(frozen=True)
class Disagreement:
    """One of the requests the two models scored furthest apart."""

    id: Any
    baseline: float
    candidate: float
    difference: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "baseline": self.baseline, "candidate": self.candidate, "difference": self.difference}


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on paired correctness: b = baseline right and candidate wrong, c = the other way."""

    b: int
    c: int
    statistic: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {"b": self.b, "c": self.c, "statistic": self.statistic, "p_value": self.p_value}


@dataclass(frozen=True)
class ShadowEvidence:
    """Shadow mode's paired view: how many requests paired, how often and how far the two models disagree."""

    pairs: int
    paired_fraction: float
    difference: ScoreDifference | None = None
    top_disagreements: tuple[Disagreement, ...] | None = None
    agreement: float | None = None  # same predicted class
    mcnemar: McNemar | None = None  # paired correctness, where labels exist

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pairs": self.pairs, "paired_fraction": self.paired_fraction}
        if self.difference is not None:
            out["difference"] = self.difference.to_dict()
        if self.top_disagreements is not None:
            out["top_disagreements"] = [d.to_dict() for d in self.top_disagreements]
        if self.agreement is not None:
            out["agreement"] = self.agreement
        if self.mcnemar is not None:
            out["mcnemar"] = self.mcnemar.to_dict()
        return out


@dataclass(frozen=True)
class WeakRegressions:
    """The weak-segment search for one candidate: the slices where it regresses against the baseline."""

    metric: str
    paired: bool
    tried: int
    pairs_searched: int
    pairs_possible: int
    stopped_by: str | None
    slices: tuple[WeakSlice, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "paired": self.paired,
            "tried": self.tried,
            "pairs_searched": self.pairs_searched,
            "pairs_possible": self.pairs_possible,
            "stopped_by": self.stopped_by,
            "slices": [s.to_dict(self.metric) for s in self.slices],
            "labels": [s.label for s in self.slices],
        }


@dataclass(frozen=True)
class Candidate:
    """One candidate judged against the baseline."""

    version: str
    verdict: str  # promote, reject, inconclusive
    reasons: tuple[str, ...]
    score: float
    metrics: tuple[MetricResult, ...]
    segments: tuple[SegmentResult, ...]
    rows: int
    labelled_rows: int
    mann_whitney: RankTests | None = None  # canary mode
    shadow: ShadowEvidence | None = None  # shadow mode
    weak_segments: WeakRegressions | None = None
    rank: int = 0

    def metric(self, name: str) -> MetricResult | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def metrics_by_name(self) -> dict[str, MetricResult]:
        """The metrics as the JSON keys them: the last of a name, in the place of the first."""
        return {m.name: m for m in self.metrics}

    @property
    def weak_rows(self) -> tuple[WeakSegment, ...]:
        """Its rows of the report's ``weak_segments`` list, each naming this candidate."""
        found = self.weak_segments
        if found is None:
            return ()
        return tuple(WeakSegment(s, found.metric, candidate=self.version) for s in found.slices)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "score": self.score,
            "metrics": {name: m.to_dict() for name, m in self.metrics_by_name.items()},
            "segments": [s.to_dict() for s in self.segments],
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
        }
        if self.mann_whitney is not None:
            out["mann_whitney"] = self.mann_whitney.to_dict()
        if self.shadow is not None:
            out.update(self.shadow.to_dict())
        if self.weak_segments is not None:
            out["weak_segments"] = self.weak_segments.to_dict()
        out["rank"] = self.rank
        return out
