"""What every validate check reads: the run's context, and the small judging helpers they share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.logs import JoinedLabels, Log, Roles
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Status

if TYPE_CHECKING:
    from mlrel_cli.analysis.validate.facts import Facts

Progress = Callable[[str], None]


@dataclass
class Context:
    log: Log
    policy: Policy
    roles: Roles
    reference: Log | None
    reference_roles: Roles | None
    labels: JoinedLabels | None
    now: dt.datetime
    progress: Progress
    facts: Facts = None  # type: ignore[assignment]  # gathered right after construction: the plan reads the context

    def source(self, path: str) -> str:
        return self.policy.source_of(path)


def judge_max(value: float, fail: float | None, warn: float | None = None) -> Status:
    if fail is not None and value > fail:
        return Status.FAIL
    if warn is not None and value > warn:
        return Status.WARN
    return Status.PASS


def judge_min(value: float, fail: float | None, warn: float | None = None) -> Status:
    if fail is not None and value < fail:
        return Status.FAIL
    if warn is not None and value < warn:
        return Status.WARN
    return Status.PASS


def skipped(name: str, why: str) -> Check:
    return Check(name=name, status=Status.SKIPPED, message=why)


def from_us(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(us))


def human(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{sign}{seconds / size:.1f}{unit}"
    return f"{sign}{seconds:.0f}s"


def label_array(ctx: Context) -> pa.Array | None:
    if ctx.labels is not None:
        return ctx.labels.labels
    if ctx.roles.label is not None:
        return ctx.log.column(ctx.roles.label).combine_chunks()
    return None


NO_VALUE = "\x00none"  # a missing segment value, as text that no real value is


def segment_text(column: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(pc.cast(column, pa.string()), NO_VALUE).to_numpy(zero_copy_only=False).astype(str)


def too_few_to_judge(ctx: Context, count: int, what: str) -> Check:
    """The performance check when fewer labelled rows (or queries) than ``performance.min_rows`` are there."""
    needed = ctx.policy.validate_.performance.min_rows
    return Check(
        name="performance",
        status=Status.INCONCLUSIVE,
        value=count,
        threshold=needed,
        message=f"only {count:,} {what}; at least {needed:,} are needed to judge the metrics",
        source=ctx.source("validate.performance.min_rows"),
    )
