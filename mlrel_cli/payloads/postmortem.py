"""The post-mortem's facts (the report's ``postmortem`` section), from analysis/postmortem.py to its renderers.

Each ``to_json`` keeps the documented JSON (docs/reports.md) key for key and in order; a key that is absent in
some reports (``change_point``, the ``impact`` metric, the ``times`` that are unknown) stays absent rather than null.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mlrel_cli.payloads.drift import Unseen
from mlrel_cli.payloads.slices import WeakSegment


def _iso(moment: dt.datetime | None) -> str | None:
    """As pydantic writes the incident file's times: ISO 8601 in the offset given, UTC as ``Z``."""
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


@dataclass(frozen=True)
class IncidentFacts:
    """The incident file as read: what the on-call engineer knows."""

    id: str
    title: str
    severity: str = "unknown"
    model: str | None = None
    started: dt.datetime | None = None
    detected: dt.datetime | None = None
    mitigated: dt.datetime | None = None
    resolved: dt.datetime | None = None
    responders: tuple[str, ...] = ()
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "model": self.model,
            "started": _iso(self.started),
            "detected": _iso(self.detected),
            "mitigated": _iso(self.mitigated),
            "resolved": _iso(self.resolved),
            "responders": list(self.responders),
            "notes": self.notes,
        }


@dataclass(frozen=True)
class ChangePoint:
    p_value: float
    before: float
    after: float
    recovered: dt.datetime | None


@dataclass(frozen=True)
class WindowValue:
    """The metric over one window of the log (``None`` where no row could be scored)."""

    start: dt.datetime
    rows: int
    value: float | None


@dataclass(frozen=True)
class Impact:
    """Predictions served from the onset (or start) to mitigation; the metric before and during, when measured."""

    predictions_affected: int
    start: dt.datetime
    end: dt.datetime | None
    metric: str | None = None  # None: no metric was measured, and its three keys are left out of the JSON
    before: float | None = None
    during: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"predictions_affected": self.predictions_affected, "from": self.start, "to": self.end}
        if self.metric is not None:
            out.update(metric=self.metric, before=self.before, during=self.during)
        return out


@dataclass(frozen=True)
class SegmentImpact:
    """One value of a declared segment that got worse: the metric outside and during the regression, and the
    Benjamini-Hochberg adjusted p of its worsening (one-sided Welch z-test over the per-row values)."""

    segment: str
    value: str
    before: float
    after: float
    worsening: float
    rows_after: int
    p_adjusted: float = 1.0


@dataclass(frozen=True)
class DriftFinding:
    """A feature that drifted over the log or from a window: whether at the metric's onset."""

    feature: str
    method: str
    score: float
    threshold: float
    onset: dt.datetime | None
    unseen: Unseen | None
    at_onset: bool


@dataclass(frozen=True)
class Change:
    """A registry event near the incident: a model moved (promote, rollback, ...) or a recorded change."""

    time: dt.datetime
    action: str
    from_version: str | None
    to_version: str | None
    stage: str | None
    traffic: float | None
    actor: str
    reason: str | None
    incident: str | None
    kind: str | None
    what: str | None
    ref: str | None
    revert: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "action": self.action,
            "from": self.from_version,
            "to": self.to_version,
            "stage": self.stage,
            "traffic": self.traffic,
            "actor": self.actor,
            "reason": self.reason,
            "incident": self.incident,
            "kind": self.kind,
            "what": self.what,
            "ref": self.ref,
            "revert": self.revert,
        }


@dataclass(frozen=True)
class Run:
    """A line of the run history (validate, drift, compare) near the incident."""

    time: dt.datetime
    command: Any
    status: Any
    summary: Any


@dataclass(frozen=True)
class Times:
    """Time to detect and mitigate against the weekly error budget; a time that is unknown is left out."""

    onset: dt.datetime | None
    weekly_error_budget_s: float
    availability_target: float
    time_to_detect_s: float | None = None
    time_to_mitigate_s: float | None = None
    impact_s: float | None = None
    error_budget_used: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "onset": self.onset,
            "weekly_error_budget_s": self.weekly_error_budget_s,
            "availability_target": self.availability_target,
        }
        for name in ("time_to_detect_s", "time_to_mitigate_s", "impact_s", "error_budget_used"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


Evidence = Change | DriftFinding | Unseen | SegmentImpact | WeakSegment


@dataclass(frozen=True)
class RootCause:
    """A candidate, ``strength`` how tightly its evidence meets the onset; ``rank`` 1 is the leading one."""

    kind: str  # change, drift, new_categories, segment, weak_segment
    strength: float
    summary: str
    evidence: Evidence
    rank: int = 0


@dataclass(frozen=True)
class TimelineEntry:
    time: dt.datetime
    source: str
    event: str


@dataclass(frozen=True)
class Postmortem:
    """The report's ``postmortem`` section."""

    incident: IncidentFacts
    metric: str | None
    task: str | None
    onset: dt.datetime | None
    times: Times
    window: int
    change_point: ChangePoint | None = None
    series: tuple[WindowValue, ...] = ()
    impact: Impact | None = None
    segments: tuple[SegmentImpact, ...] = ()
    drift: tuple[DriftFinding, ...] = ()
    changes: tuple[Change, ...] = ()
    run_history: tuple[Run, ...] = ()
    root_causes: tuple[RootCause, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    undetermined: tuple[str, ...] = ()
    weak_segments: tuple[WeakSegment, ...] = ()  # the slices where the errors rose at the onset, labelled

    @property
    def reverts(self) -> tuple[Change, ...]:
        """The changes that say how to undo them."""
        return tuple(c for c in self.changes if c.revert)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"incident": self.incident}
        if self.change_point is not None:
            out["change_point"] = self.change_point
        out.update(
            metric=self.metric,
            task=self.task,
            onset=self.onset,
            series=self.series,
            impact=self.impact if self.impact is not None else {},
            segments=self.segments,
            drift=self.drift,
            changes=self.changes,
            run_history=self.run_history,
            times=self.times,
            root_causes=self.root_causes,
            timeline=self.timeline,
            undetermined=self.undetermined,
            window=self.window,
            reverts=[
                {"time": c.time, "kind": c.kind, "what": c.what, "ref": c.ref, "revert": c.revert, "actor": c.actor}
                for c in self.reverts
            ],
            weak_segments=self.weak_segments,
        )
        return out
