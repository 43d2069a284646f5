"""What a drill is made of: a fault aimed at a log, the replay grid, each window's outcome, each fault's result."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles

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
