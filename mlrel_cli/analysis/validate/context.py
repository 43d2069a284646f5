"""What every validate check reads: the run's context, and the small judging helpers they share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlrel_cli.facts.labelled import NO_VALUE, segment_text
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Status

if TYPE_CHECKING:
    from mlrel_cli.analysis.validate.facts import Facts

__all__ = ["NO_VALUE", "Context", "Progress", "Setup", "segment_text"]

Progress = Callable[[str], None]


@dataclass
class Setup:
    """The run's inputs, as the plan reads them before any fact is gathered."""

    log: Log
    policy: Policy
    roles: Roles
    reference: Log | None
    reference_roles: Roles | None
    labels: Log | None  # the --labels file, joined on the id by the engine (Engine.labelled_log)
    now: dt.datetime
    progress: Progress

    def source(self, path: str) -> str:
        return self.policy.source_of(path)


@dataclass
class Context(Setup):
    """What every check reads: the run's inputs and the facts the engine gathered for them."""

    facts: Facts


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
