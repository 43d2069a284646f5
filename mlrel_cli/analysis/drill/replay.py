"""Replaying the policy's checks window by window on a faulted copy, as a cron job would, against the healthy log."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis.drill.payloads import ReplayPlan, Scenario
from mlrel_cli.analysis.drill.plan import CANDIDATE, ROW, canary_only, memory_log
from mlrel_cli.errors import MlrelError
from mlrel_cli.logs import Log
from mlrel_cli.logs.values import timestamps_keeping_rows
from mlrel_cli.payloads.drill import FaultResult, WindowOutcome, from_us
from mlrel_cli.policy import Policy
from mlrel_cli.report import Status


def window_edges(table: pa.Table, plan: ReplayPlan) -> tuple[pa.Table, np.ndarray]:
    """The table sorted by time, and the row offsets where each window starts (and the last one ends)."""
    times = timestamps_keeping_rows(table.column(plan.roles.timestamp), "drill copy")
    if not _sorted(times):
        order = np.argsort(times, kind="stable")
        table, times = table.take(pa.array(order)), times[order]
    starts = plan.starts_us
    return table, np.searchsorted(times, np.append(starts, starts[-1] + plan.width_us), side="left")


def _validate_window(table: pa.Table, edges: np.ndarray, k: int, plan: ReplayPlan, policy: Policy) -> tuple[int, set[str]]:
    """The rows of window k, and the validate checks a cron job at its end would see fail."""
    from mlrel_cli.analysis.validate import validate

    rows = int(edges[k + 1] - edges[k])
    if rows == 0:
        return 0, {"volume"}  # the cron job finds no new rows: an empty window is what the volume check exists for
    now = from_us(int(plan.starts_us[k]) + plan.width_us)
    window = memory_log(labels_as_of(table.slice(int(edges[k]), rows), plan, policy, now), "log")
    try:
        report = validate(window, policy, reference=plan.reference, now=now)
    except MlrelError as exc:
        return rows, {f"error: {exc}"}  # the cron job exits 2: loud, so it is caught
    failing = {c.name for c in report.checks if c.status == Status.FAIL}
    if plan.canary is not None:
        failing |= _canary_failures(window, plan, policy)
    return rows, failing


def labels_as_of(table: pa.Table, plan: ReplayPlan, policy: Policy, now: dt.datetime) -> pa.Table:
    """The labels a cron job running at ``now`` has: those whose arrival time (``columns.label_timestamp``) is
    known and later are not there yet. Labels without an arrival time are taken as arrived with the prediction."""
    label, arrival = plan.roles.label, policy.columns.label_timestamp
    if label is None or label not in table.column_names or arrival not in table.column_names:
        return table
    times = timestamps_keeping_rows(table.column(arrival), "label arrival")
    late = pa.array(times > int(now.timestamp() * 1_000_000))
    column = table.column(label)
    blank = pa.nulls(len(table), column.type)
    return table.set_column(table.column_names.index(label), label, pc.if_else(late, blank, column))


def _canary_failures(window: Log, plan: ReplayPlan, policy: Policy) -> set[str]:
    """compare's canary judgement of the candidate against the baseline on this window: its failing checks."""
    from mlrel_cli.analysis.compare import compare_logs

    assert plan.baseline_version is not None
    try:
        report = compare_logs(policy, window, plan.baseline_version, [CANDIDATE], None, [], None, mode="canary")
    except MlrelError as exc:
        return {f"error: compare: {exc}"}
    return {"compare:" + c.name.partition(":")[2] for c in report.checks if c.status == Status.FAIL}


class HealthyReplay:
    """The healthy log's failing checks per window, computed the first time a fault's replay reaches that window
    (most faults are caught in the first one, so most healthy windows are never needed)."""

    def __init__(self, plan: ReplayPlan, policy: Policy) -> None:
        self.plan, self.policy = plan, policy
        self.table, self.edges = window_edges(plan.replayed, plan)
        self._validate: dict[int, set[str]] = {}
        self._drift: list[set[str]] | None = None

    def __getitem__(self, k: int) -> set[str]:
        if k not in self._validate:
            self._validate[k] = _validate_window(self.table, self.edges, k, self.plan, self.policy)[1]
        if self._drift is None:
            self._drift = _drift_failures(self.table, self.plan, self.policy, self.plan.n_windows)
        return self._validate[k] | self._drift[k]


def _replay(table: pa.Table, plan: ReplayPlan, policy: Policy, healthy: HealthyReplay) -> list[WindowOutcome]:
    """Each window of the faulted log as a cron job would check it, with the checks that fail there and pass
    on the healthy log; the replay stops at the first such window: the detection."""
    table, edges = window_edges(table, plan)
    checked: list[tuple[int, set[str]]] = []
    for k in range(plan.n_windows):
        rows, failing = _validate_window(table, edges, k, plan, policy)
        checked.append((rows, failing))
        if failing - healthy[k]:
            break
    # drift over the same windows, in one windowed run: its per-window summaries are the cron job's
    n = len(checked)
    drifted = _drift_failures(table.slice(int(edges[0]), int(edges[n] - edges[0])), plan, policy, n)
    out = []
    for k, ((rows, failing), more) in enumerate(zip(checked, drifted, strict=True)):
        new = (failing | more) - healthy[k]
        start = int(plan.starts_us[k])
        out.append(WindowOutcome(start, start + plan.width_us, rows, tuple(sorted(new))))
        if new:
            break
    return out


def _sorted(values: np.ndarray) -> bool:
    return bool(len(values) < 2 or np.all(values[1:] >= values[:-1]))


def _drift_failures(table: pa.Table, plan: ReplayPlan, policy: Policy, n_windows: int) -> list[set[str]]:
    """Per window, the drift checks a cron job running drift on that window alone would fail:
    a drifted critical feature, too large a share of drifted features; one windowed drift run gives them all."""
    from mlrel_cli.analysis.drift import drift

    empty: list[set[str]] = [set() for _ in range(n_windows)]
    if table.num_rows == 0:
        return empty
    # concept drift is judged on the whole log only, never per window: a cron job's window needs none of it
    windowed = policy.model_copy(update={"drift": policy.drift.model_copy(update={"concept": False})})
    windowed._sources, windowed._files = policy._sources, policy._files
    try:
        report = drift(
            plan.reference, memory_log(table, "current log"), windowed, window=dt.timedelta(microseconds=plan.width_us)
        )
    except MlrelError as exc:
        return [{f"error: {exc}"} for _ in range(n_windows)]
    first = timestamps_keeping_rows(table.column(plan.roles.timestamp), "drill copy")
    origin = int(first[first >= 0].min())
    offset = (plan.injected_us - (origin - origin % plan.width_us)) // plan.width_us  # <= 0 when the first windows are empty
    critical = {f.name for f in report.sections.get("features", []) if f.critical}  # drift's FeatureDrift
    features = {f.name for f in report.sections.get("features", [])}
    judged = [0] * n_windows
    drifted = [0] * n_windows
    for check in report.checks:
        if not check.name.startswith(("drift:", "proxy:")):
            continue
        statuses = check.details.get("window_status") or []
        name = check.name.removeprefix("drift:")
        for k in range(n_windows):
            j = k + offset
            if not 0 <= j < len(statuses):
                continue
            if name in features and statuses[j] != Status.INCONCLUSIVE.value:
                judged[k] += 1
            if statuses[j] != Status.FAIL.value:
                continue
            if name in features:
                drifted[k] += 1
            if name in critical or check.name.startswith("proxy:"):
                empty[k].add(check.name)
    for k in range(n_windows):
        if judged[k] and drifted[k] / judged[k] > policy.drift.max_drifted_share:
            empty[k].add("drifted_share")
    return empty


def _not_run(scenario: Scenario, injected_at: dt.datetime, required: bool, why: str | None) -> FaultResult:
    """A fault that could not be rehearsed on this log: skipped, saying why."""
    return FaultResult(
        fault=scenario.name,
        size=scenario.size,
        injected_at=injected_at,
        caught=False,
        check=None,
        expected_check=scenario.expected_check,
        delay_s=None,
        rows_until_detection=None,
        within_budget=False,
        required=required,
        windows=(),
        error=why,
        column=scenario.column,
    )


def run_fault(scenario: Scenario, plan: ReplayPlan, policy: Policy, healthy: HealthyReplay) -> FaultResult:
    required = policy.drill.required is None or scenario.name in policy.drill.required
    injected_at = from_us(plan.injected_us)
    if scenario.inject is None:
        return _not_run(scenario, injected_at, required, scenario.skipped)
    try:
        if plan.canary is None:
            faulted = scenario.inject(plan.replayed, injected_at, plan.seed)
        else:
            indexed = plan.replayed.append_column(ROW, pa.array(np.arange(plan.replayed.num_rows)))
            faulted = canary_only(plan.replayed, scenario.inject(indexed, injected_at, plan.seed), plan.canary)
    except (ValueError, KeyError, TypeError, pa.ArrowInvalid) as exc:
        return _not_run(scenario, injected_at, required, f"cannot be injected into this log: {exc}")
    outcomes = _replay(faulted, plan, policy, healthy)
    result = _judge(scenario.name, scenario.size, scenario.expected_check, required, plan, outcomes, faulted)
    return replace(result, column=scenario.column)


def _judge(
    name: str,
    size: float,
    expected: str | None,
    required: bool,
    plan: ReplayPlan,
    new: list[WindowOutcome],
    faulted: pa.Table,
) -> FaultResult:
    caught_at = next((k for k, w in enumerate(new) if w.new_failures), None)
    injected_at = from_us(plan.injected_us)
    if caught_at is None:
        return FaultResult(name, size, injected_at, False, None, expected, None, None, False, required, tuple(new))
    failures = new[caught_at].new_failures
    check = next((c for c in failures if expected and c.startswith(expected)), failures[0])
    delay_s = (caught_at + 1) * plan.width_us / 1_000_000
    times = timestamps_keeping_rows(faulted.column(plan.roles.timestamp), "drill copy")
    end = plan.injected_us + (caught_at + 1) * plan.width_us
    rows = int(np.count_nonzero((times >= plan.injected_us) & (times < end)))
    within = delay_s + plan.rollback.total_seconds() <= plan.budget.total_seconds()
    return FaultResult(name, size, injected_at, True, check, expected, delay_s, rows, within, required, tuple(new))
