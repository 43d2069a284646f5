"""The drill's result per fault (the report's ``faults``), typed until the JSON edge (docs/drill.md): built by
analysis/drill, read by the drill's report and the HTML timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from mlrel_cli.durations import format_duration
from mlrel_cli.report import Status


@dataclass(frozen=True)
class Suggestion:
    """A policy change (or a shorter --every) that would catch a missed or late fault, and whether replaying proved it."""

    change: str
    patch: dict[str, Any] = field(default_factory=dict)
    every: dt.timedelta | None = None
    verified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "policy": self.patch or None,
            "every": format_duration(self.every) if self.every else None,
            "verified": self.verified,
        }


@dataclass(frozen=True)
class WindowOutcome:
    """One replayed window from the injection: its rows and the checks failing there that pass on the healthy log."""

    start_us: int
    end_us: int
    rows: int
    new_failures: tuple[str, ...]  # checks failing here and not on the healthy window

    @property
    def start(self) -> dt.datetime:
        return from_us(self.start_us)

    @property
    def end(self) -> dt.datetime:
        return from_us(self.end_us)


@dataclass(frozen=True)
class FaultResult:
    """One fault's drill: caught or not, by which check, how late; ``error`` says why it was skipped."""

    fault: str
    size: float
    injected_at: dt.datetime
    caught: bool
    check: str | None
    expected_check: str | None
    delay_s: float | None
    rows_until_detection: int | None
    within_budget: bool
    required: bool
    windows: tuple[WindowOutcome, ...]
    suggestion: Suggestion | None = None
    error: str | None = None
    column: str | None = None

    @property
    def status(self) -> Status:
        if self.error is not None:
            return Status.SKIPPED
        if self.caught and self.within_budget:
            return Status.PASS
        return Status.FAIL if self.required else Status.WARN

    def to_json(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "column": self.column,
            "size": self.size,
            "injected_at": self.injected_at,
            "caught": self.caught,
            "check": self.check,
            "expected_check": self.expected_check,
            "delay_s": self.delay_s,
            "rows_until_detection": self.rows_until_detection,
            "within_budget": self.within_budget,
            "required": self.required,
            "status": self.status.value,
            "suggestion": self.suggestion.to_dict() if self.suggestion else None,
            "skipped": self.error,
            "windows": [{"start": w.start, "end": w.end, "rows": w.rows, "failing": list(w.new_failures)} for w in self.windows],
        }


def from_us(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(us))
