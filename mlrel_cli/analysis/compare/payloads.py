"""What compare says about each candidate, typed until the JSON edge (docs/compare.md, "JSON").

Each ``to_dict`` writes the documented fields in the documented order; the report's sections hold those dicts,
which is what the renderers and ``mlrel rollout`` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlrel_cli.analysis.compare.judge import MetricResult, RankTest, SegmentResult
from mlrel_cli.stats.slices import WeakSlice


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

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "score": self.score,
            "metrics": {m.name: m.to_dict() for m in self.metrics},
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
