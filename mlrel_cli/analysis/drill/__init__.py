"""``mlrel drill``: rehearse incidents against the policy and measure how fast each one would be caught.

For each fault, a copy of the healthy log (in memory; the inputs are never
written) gets the fault from the injection time onward. The policy's checks
are then replayed as a cron job would run them: ``validate`` on each new
``--every`` window as it arrives, and ``drift`` over the same windows (one
windowed drift run per fault: its per-window summaries are the cron job's).
A window catches the fault when a check fails there that does not fail on the
same window of the healthy log, so a check that is noisy on healthy traffic
is never credited with a catch. The delay is counted from the injection to
the end of the catching window, when the cron job would report; the fault is
within budget when that delay plus the policy's rollback time fits the error
budget (``drill:`` section of the policy, docs/drill.md).

A missed or late fault gets suggestions (a smaller window, a lower
threshold, a critical feature, a declared segment); each is verified by
replaying the same fault with the suggestion applied, and only the ones
that make it caught in budget are reported as such.

Read top to bottom: ``plan.py`` aims each fault at the log and cuts the replay grid, ``replay.py`` replays the
checks window by window against the healthy log, ``suggest.py`` proposes and verifies a change for a missed or
late fault, ``report.py`` writes the Report; ``payloads.py`` holds what they pass each other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from mlrel_cli.analysis.drill.payloads import MIN_HEALTHY_WINDOWS, Progress, Scenario
from mlrel_cli.analysis.drill.plan import aim, available_faults, budget_of, build_plan, choose_faults, memory_log
from mlrel_cli.analysis.drill.replay import HealthyReplay, run_fault
from mlrel_cli.analysis.drill.report import drill_report, inconclusive
from mlrel_cli.analysis.drill.suggest import apply_patch, with_suggestion
from mlrel_cli.logs import Log
from mlrel_cli.payloads.drill import FaultResult, Suggestion
from mlrel_cli.policy import Policy
from mlrel_cli.report import Report


def drill(
    log: Log,
    policy: Policy,
    reference: Log | None = None,
    labels: Log | None = None,
    every: dt.timedelta | None = None,
    names: Sequence[str] | None = None,
    at: dt.datetime | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    suggest: bool = True,
    registry: Sequence[Any] | None = None,
) -> Report:
    """Inject each fault into a copy of the healthy log, replay the policy's checks window by window, judge.

    ``registry`` is a sequence of ``mlrel_cli.faults.Fault`` records (default: ``mlrel_cli.faults.FAULTS``).
    """
    progress = progress or (lambda _step: None)
    faults = {fault.name: fault for fault in (registry if registry is not None else available_faults())}
    chosen = choose_faults(faults, names, policy)
    plan = build_plan(log, policy, reference, labels, every or policy.drill.every, at, seed)
    if plan.n_windows < MIN_HEALTHY_WINDOWS:
        return inconclusive(log, policy, plan, "no full --every window after the injection time: the log is too short")
    healthy = HealthyReplay(plan, policy)
    baselines: dict[tuple[str, int, int], HealthyReplay] = {}  # one healthy replay per suggestion tried, shared by faults
    results = []
    for name in chosen:
        scenario = aim(faults[name], plan, policy)
        result = run_fault(scenario, plan, policy, healthy)
        if suggest and result.error is None and not (result.caught and result.within_budget):
            result = with_suggestion(result, scenario, plan, policy, baselines)
        results.append(result)
        progress(name)
    return drill_report(log, policy, plan, results, reference)


__all__ = [
    "FaultResult",
    "Scenario",
    "Suggestion",
    "apply_patch",
    "available_faults",
    "budget_of",
    "drill",
    "memory_log",
]
