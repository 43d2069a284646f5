"""What a drill is made of: a fault aimed at a log, the replay grid, each window's outcome, each fault's result."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.durations import format_duration
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles
from mlrel_cli.report import Status

Progress = Callable[[str], None]

WEEK_S = 7 * 86400
DEFAULT_HORIZON_WINDOWS = 12
MIN_HEALTHY_WINDOWS = 1


@dataclass(frozen=True)
class Scenario:
    """One fault of the registry (``mlrel_cli.faults``) aimed at this log: the column it hits, its size,
    the check expected to catch it; ``skipped`` says why it cannot apply here (no latency column, ...)."""

    name: str
    size: float
    column: str | None
    needs: str | None
    expected_check: str | None
    inject: Callable[[pa.Table, dt.datetime, int], pa.Table] | None
    skipped: str | None = None


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
    start_us: int
    rows: int
    new_failures: tuple[str, ...]  # checks failing here and not on the healthy window


@dataclass(frozen=True)
class FaultResult:
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

    def to_dict(self, width_us: int) -> dict[str, Any]:
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
            "windows": [
                {
                    "start": from_us(w.start_us),
                    "end": from_us(w.start_us + width_us),
                    "rows": w.rows,
                    "failing": list(w.new_failures),
                }
                for w in self.windows
            ],
        }


@dataclass(frozen=True)
class ReplayPlan:
    """The replay grid shared by every fault: windows of ``width_us`` from the injection time."""

    table: pa.Table  # the healthy log, sorted by time, labels joined
    replayed: pa.Table  # its rows inside the replayed windows: the only rows a fault needs to touch
    roles: Roles
    reference: Log
    injected_us: int
    width_us: int
    n_windows: int
    budget: dt.timedelta
    rollback: dt.timedelta
    seed: int
    canary: np.ndarray | None = None  # rows of ``replayed`` served by the canary, where a fault lands
    baseline_version: str | None = None

    @property
    def starts_us(self) -> np.ndarray:
        return self.injected_us + np.arange(self.n_windows, dtype=np.int64) * self.width_us


def from_us(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(us))
