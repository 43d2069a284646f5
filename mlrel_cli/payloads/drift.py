"""What drift reports per column, per window and for the performance metric, and what the post-mortem reports of
a feature too (the categories the reference never had): frozen until the JSON edge."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mlrel_cli.report import Status


@dataclass(frozen=True)
class NewCategory:
    value: Any
    count: int


@dataclass(frozen=True)
class Unseen:
    """Categories of a feature the reference never had (drift's ``unseen``): how many, their rows and share of the
    current log's present rows, the most frequent first. JSON by its fields, in this order (docs/reports.md)."""

    categories: int
    rows: int
    fraction: float
    top: tuple[NewCategory, ...] = ()


@dataclass(frozen=True)
class WindowScore:
    start: dt.datetime
    end: dt.datetime
    rows: int
    score: float | None
    threshold: float | None
    status: Status

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "score": self.score,
            "threshold": self.threshold,
            "status": self.status.value,
        }


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    role: str  # feature, prediction, label
    kind: str
    method: str
    score: float | None
    statistic: float | None
    p_value: float | None
    threshold: float
    warn: float | None
    status: Status
    message: str
    source: str
    critical: bool
    rows_reference: int
    rows_current: int
    noise: float | None = None
    missing_reference: float = 0.0
    missing_current: float = 0.0
    unseen: Unseen | None = None
    windows: tuple[WindowScore, ...] = ()
    onset: dt.datetime | None = None
    histogram: dict[str, list[Any]] | None = None
    whole_log_score: float | None = None  # set when ``score`` is the breaching window's

    @property
    def whole_log(self) -> float | None:
        """The whole log's score (``score`` is the breaching window's when windows breach)."""
        return self.whole_log_score if self.whole_log_score is not None else self.score

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "kind": self.kind,
            "method": self.method,
            "score": self.score,
            "whole_log_score": self.whole_log,
            "threshold": self.threshold,
            "warn_threshold": self.warn,
            "status": self.status.value,
            "onset": self.onset,
            "critical": self.critical,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "noise": self.noise,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "missing_reference": self.missing_reference,
            "missing_current": self.missing_current,
            "missing_change": self.missing_current - self.missing_reference,
            "unseen": self.unseen,
            "threshold_source": self.source,
            "message": self.message,
            "histogram": self.histogram,
            "windows": [w.to_dict() for w in self.windows],
        }


@dataclass(frozen=True)
class ConceptWindow:
    """The performance metric on one window's labelled rows, and how much worse than the reference it is."""

    start: dt.datetime
    end: dt.datetime
    rows: int
    value: float | None
    degradation: float | None
    status: Status


@dataclass(frozen=True)
class ConceptDrift:
    metric: str
    reference: float
    current: float
    degradation: float
    standard_error: float
    threshold: float
    status: Status
    message: str
    rows_reference: int
    rows_current: int
    windows: tuple[ConceptWindow, ...] = ()
    onset: dt.datetime | None = None
    whole_log_degradation: float | None = None  # set when ``degradation`` is the breaching window's

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "reference": self.reference,
            "current": self.current,
            "degradation": self.degradation,
            "standard_error": self.standard_error,
            "threshold": self.threshold,
            "status": self.status.value,
            "whole_log_degradation": self._whole_log_degradation,
            "onset": self.onset,
            "windows": [
                {
                    "start": w.start,
                    "end": w.end,
                    "rows": w.rows,
                    "value": w.value,
                    "degradation": w.degradation,
                    "status": w.status.value,
                }
                for w in self.windows
            ],
        }

    def check_details(self) -> dict[str, Any]:
        """The concept check's evidence; ``window_scores`` (degradations) and ``window_status`` draw its sparkline."""
        return {
            "reference": self.reference,
            "current": self.current,
            "standard_error": self.standard_error,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "whole_log_degradation": self._whole_log_degradation,
            "onset": self.onset,
            "window_scores": [w.degradation for w in self.windows],
            "window_status": [w.status.value for w in self.windows],
        }

    @property
    def _whole_log_degradation(self) -> float:
        return self.whole_log_degradation if self.whole_log_degradation is not None else self.degradation


@dataclass(frozen=True)
class ProxyWindow:
    """A proxy metric on one window's rows, judged against the policy's bounds within the window's noise."""

    start: dt.datetime
    end: dt.datetime
    rows: int
    value: float | None
    status: Status

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "rows": self.rows, "value": self.value, "status": self.status.value}


@dataclass(frozen=True)
class ProxyDrift:
    """A proxy (business) metric on the reference, the current log and per window (docs/reports.md,
    ``proxy_metrics``). ``status`` judges the whole current log; ``onset`` the first run of failing windows."""

    name: str
    kind: str  # mean, rate, ratio
    per: str  # request, query
    higher_is_better: bool
    reference: float
    current: float
    min: float | None
    max: float | None
    status: Status
    onset: dt.datetime | None = None
    windows: tuple[ProxyWindow, ...] = ()

    @property
    def failed(self) -> bool:
        """Beyond a bound over the whole log, or for long enough in a run of windows."""
        return self.onset is not None or self.status == Status.FAIL

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "per": self.per,
            "higher_is_better": self.higher_is_better,
            "reference": self.reference,
            "current": self.current,
            "min": self.min,
            "max": self.max,
            "status": self.status.value,
            "onset": self.onset,
            "windows": [w.to_dict() for w in self.windows],
        }
