"""Time windows of the current log: the grid (aligned on the clock) and which rows fall in each window.

The same grid on every engine: the local engine assigns a whole column's
rows, the Dask engine each row group's, and per-window parts merge window by
window (facts/merge.WindowParts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from mlrel_cli.durations import format_duration
from mlrel_cli.errors import LogError


@dataclass
class Windows:
    starts_us: np.ndarray  # start of each window
    width_us: int
    order: np.ndarray  # current rows sorted by window (rows without a timestamp dropped)
    bounds: np.ndarray  # offsets into order: window i is order[bounds[i]:bounds[i+1]]

    def rows(self) -> list[np.ndarray]:
        """Each window's rows, in window order."""
        return [self.order[self.bounds[i] : self.bounds[i + 1]] for i in range(len(self.starts_us))]


def window_grid(oldest_us: int, newest_us: int, width: dt.timedelta, where: str) -> tuple[int, int]:
    """The first window's start, aligned on the clock (10:00, 11:00, ...), and how many windows there are."""
    width_us = int(width.total_seconds() * 1_000_000)
    origin = oldest_us - oldest_us % width_us
    n_windows = (newest_us - origin) // width_us + 1
    if n_windows > 10_000:
        raise LogError(
            f"--window {format_duration(width)} cuts the current log into {n_windows:,} windows; use a larger window", where
        )
    return origin, n_windows


def assign_windows(ts: np.ndarray, origin: int, width_us: int, n_windows: int) -> Windows:
    """Rows (timestamps in µs, -1 when missing) grouped by window; rows outside the grid belong to none."""
    index = np.where(ts >= 0, (ts - origin) // width_us, -1)
    index[index >= n_windows] = -1
    order = np.argsort(index, kind="stable")
    order = order[index[order] >= 0]
    bounds = np.searchsorted(index[order], np.arange(n_windows + 1))
    starts = origin + np.arange(n_windows, dtype=np.int64) * width_us
    return Windows(starts, width_us, order, bounds)


class WindowGrid(NamedTuple):
    """The windows of a log, as every engine cuts them: the timestamp column (and where it is, for errors), the
    first window's start and the width in µs, and how many windows. A tuple, so builders pickle it for workers."""

    column: str
    where: str
    origin: int
    width_us: int
    n_windows: int

    @property
    def starts_us(self) -> np.ndarray:
        return self.origin + np.arange(self.n_windows, dtype=np.int64) * self.width_us

    def assign(self, ts: np.ndarray) -> Windows:
        """Which rows (timestamps in µs, -1 when missing) fall in each window."""
        return assign_windows(ts, self.origin, self.width_us, self.n_windows)
