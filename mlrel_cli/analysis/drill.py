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
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from mlrel_cli.durations import format_duration
from mlrel_cli.errors import LogError, MlrelError, PolicyError
from mlrel_cli.logs import Log, Roles, join_labels, resolve_roles, timestamps_keeping_rows
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Report, Status

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
                    "start": _from_us(w.start_us),
                    "end": _from_us(w.start_us + width_us),
                    "rows": w.rows,
                    "failing": list(w.new_failures),
                }
                for w in self.windows
            ],
        }


@dataclass(frozen=True)
class _Plan:
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


# ---------------------------------------------------------------- entry point


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
    chosen = _choose_faults(faults, names, policy)
    plan = _plan(log, policy, reference, labels, every or policy.drill.every, at, seed)
    if plan.n_windows < MIN_HEALTHY_WINDOWS:
        return _inconclusive(log, policy, plan, "no full --every window after the injection time: the log is too short")
    healthy = _Baseline(plan, policy)
    baselines: dict[tuple[str, int, int], _Baseline] = {}  # one healthy replay per suggestion tried, shared by faults
    results = []
    for name in chosen:
        scenario = aim(faults[name], plan, policy)
        result = _run_fault(scenario, plan, policy, healthy)
        if suggest and result.error is None and not (result.caught and result.within_budget):
            result = _with_suggestion(result, scenario, plan, policy, baselines)
        results.append(result)
        progress(name)
    return _report(log, policy, plan, results, reference)


def available_faults() -> tuple[Any, ...]:
    """The fault registry of ``mlrel_cli.faults``, in its order."""
    try:
        from mlrel_cli import faults as registry
    except ImportError:
        raise MlrelError("no fault injectors are available: this build has no mlrel_cli.faults") from None
    return tuple(registry.FAULTS)


# a fault that needs a role the log does not have is skipped, with the reason
_NEEDS_ROLE = {
    "label_flip": "label",
    "segment_degradation": "label",
    "latency_spike": "latency",
    "duplicated_ids": "id",
}


def aim(fault: Any, plan: _Plan, policy: Policy) -> Scenario:
    """Choose the column a fault hits in this log (``drill.columns`` or the first that fits) and bind its arguments."""
    from mlrel_cli import faults as registry

    roles = plan.roles
    size = float(policy.drill.sizes.get(fault.name, fault.size))
    column, why = _target(fault, plan, policy)
    role = _NEEDS_ROLE.get(fault.name)
    if role is not None and getattr(roles, role) is None:
        why = f"the log has no {role} column ('{getattr(policy.columns, role)}')"
    if fault.name == "ranking_degradation" and not (policy.columns.query and policy.columns.query in plan.table.column_names):
        why = "not a ranking log (columns.query is not set or not in the log)"
    expected = fault.check.format(column=column) if fault.check else None
    fault_roles = registry.Roles(
        timestamp=roles.timestamp or policy.columns.timestamp,
        id=roles.id or policy.columns.id,
        prediction=roles.prediction,
        label=roles.label or policy.columns.label,
        latency=roles.latency or policy.columns.latency,
        query=policy.columns.query,
        position=policy.columns.position,
    )

    def inject(table: pa.Table, start: dt.datetime, seed: int) -> pa.Table:
        if fault.needs is None:
            return fault.inject(table, size=size, start=start, seed=seed, roles=fault_roles)
        return fault.inject(table, column, size=size, start=start, seed=seed, roles=fault_roles)

    return Scenario(fault.name, size, column, fault.needs, expected, None if why else inject, why)


def _target(fault: Any, plan: _Plan, policy: Policy) -> tuple[str | None, str | None]:
    """The column a fault needs, and why there is none."""
    needs = fault.needs
    if needs is None:
        return None, None
    chosen = policy.drill.columns.get(fault.name)
    if chosen is not None:
        if chosen not in plan.table.column_names:
            raise PolicyError(
                f"drill.columns.{fault.name}: column '{chosen}' is not in the log",
                policy.source_of(f"drill.columns.{fault.name}"),
            )
        return chosen, None
    features = plan.roles.features
    if needs == "feature":
        # numeric first (a shift or a unit bug means most there); only out_of_range cannot hit a categorical one
        numeric = [n for n, kind in features.items() if kind == "numeric"]
        anything = numeric + [n for n in features if n not in numeric] if fault.name != "out_of_range" else numeric
        if anything:
            return anything[0], None
        return None, "the log has no numeric feature" if fault.name == "out_of_range" else "the log has no feature"
    if needs == "categorical":
        categorical = [n for n, kind in features.items() if kind == "categorical"]
        return (categorical[0], None) if categorical else (None, "the log has no categorical feature")
    if needs == "segment":
        # a declared segment first; else a categorical feature, so a drill shows what declaring it would catch
        options = [*policy.segments, *(n for n, kind in features.items() if kind == "categorical")]
        return (options[0], None) if options else (None, "the log has no segment or categorical feature")
    if needs == "proxy":
        for spec in policy.proxy_metrics.values():
            column = spec.column or spec.numerator
            if column and column in plan.table.column_names:
                return column, None
        return None, "the policy declares no proxy metric (proxy_metrics:)"
    return None, f"needs a {needs} column"


def budget_of(policy: Policy) -> dt.timedelta:
    """``drill.budget``, or the week's error budget of ``postmortem.availability_target`` (99.95 % -> about 5 min)."""
    if policy.drill.budget is not None:
        return policy.drill.budget
    return dt.timedelta(seconds=round((1.0 - policy.postmortem.availability_target) * WEEK_S))


def _choose_faults(faults: Mapping[str, Any], names: Sequence[str] | None, policy: Policy) -> list[str]:
    import difflib

    if not faults:
        raise MlrelError("no fault injectors are available (mlrel_cli.faults)")
    wanted = list(dict.fromkeys(names)) if names else [*faults]
    named = [(f"drill.required[{i}]", "drill.required", n) for i, n in enumerate(policy.drill.required or [])]
    named += [(f"drill.{key}.{n}", f"drill.{key}", n) for key in ("sizes", "columns") for n in getattr(policy.drill, key)]
    for where, key, name in named:
        if name not in faults:
            close = difflib.get_close_matches(name, list(faults), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise PolicyError(f"{where}: unknown fault '{name}'{hint}", policy.source_of(key))
    for name in wanted:
        if name not in faults:
            close = difflib.get_close_matches(name, list(faults), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise MlrelError(f"--faults: unknown fault '{name}'{hint}; known: {', '.join(faults)}")
    return wanted


# ---------------------------------------------------------------- the replay grid


def memory_log(table: pa.Table, label: str, path: str = "<drill copy>") -> Log:
    """A Log over an in-memory table: the analyses read it like a file, and nothing touches the disk."""
    return Log(
        label=label,
        path=path,
        files=(),
        schema=table.schema,
        num_rows=table.num_rows,
        row_groups=1,
        partition_columns=frozenset(),
        dataset=ds.dataset(table),
    )


def _plan(
    log: Log,
    policy: Policy,
    reference: Log | None,
    labels: Log | None,
    every: dt.timedelta,
    at: dt.datetime | None,
    seed: int,
) -> _Plan:
    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    if roles.timestamp is None:
        raise LogError(
            f"drill replays the log window by window and needs a timestamp column '{policy.columns.timestamp}' "
            "(set columns.timestamp)",
            log.path,
        )
    table = log.read(log.column_names)
    if labels is not None:
        joined = join_labels(log, roles, labels, policy)
        name = policy.columns.label
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, joined.labels)
        else:
            table = table.append_column(name, joined.labels)
        arrival = policy.columns.label_timestamp
        if joined.label_times_us is not None and arrival not in table.column_names:
            # when each label arrived, inline as a log can carry it: a window's cron job sees only those arrived by then
            times_us = joined.label_times_us
            table = table.append_column(
                arrival, pa.array(times_us, type=pa.int64(), mask=times_us < 0).cast(pa.timestamp("us", tz="UTC"))
            )
        roles = resolve_roles(memory_log(table, log.label, log.path), policy)
    times = timestamps_keeping_rows(table.column(roles.timestamp), f"{log.path}: {roles.timestamp}")
    keep = times >= 0
    if not keep.any():
        raise LogError(f"timestamp column '{roles.timestamp}' has no values", log.path)
    order = np.argsort(times, kind="stable")
    order = order[keep[order]]
    table = table.take(pa.array(order))
    times = times[order]
    width_us = int(every.total_seconds() * 1_000_000)
    oldest, newest = int(times[0]), int(times[-1])
    if at is not None:
        injected = int(at.timestamp() * 1_000_000)
        if not oldest <= injected <= newest:
            raise MlrelError(
                f"--at {at.isoformat()} is outside the log ({_from_us(oldest):%Y-%m-%d %H:%M} to "
                f"{_from_us(newest):%Y-%m-%d %H:%M} UTC)"
            )
        injected -= injected % width_us  # onto the clock grid of the cron windows, as drift cuts them
    else:
        # mid-log, on the clock grid of the windows, so there is healthy history before and room to detect after
        middle = oldest + (newest - oldest) // 2
        injected = middle - middle % width_us
    horizon = policy.drill.horizon or every * DEFAULT_HORIZON_WINDOWS
    horizon_windows = max(1, int(horizon.total_seconds() * 1_000_000) // width_us)
    full = (newest + 1 - injected) // width_us
    n_windows = int(max(0, min(horizon_windows, full)))
    if reference is None:
        before = int(np.searchsorted(times, injected, side="left"))
        if before == 0:
            raise MlrelError("no --reference and no healthy rows before the injection time to serve as one (use --at)")
        ref_log = memory_log(table.slice(0, before), "reference (healthy rows before the injection)")
    else:
        ref_log = reference
    lo = int(np.searchsorted(times, injected, side="left"))
    hi = int(np.searchsorted(times, injected + n_windows * width_us, side="left"))
    canary = baseline_version = None
    if policy.drill.canary is not None:
        table, roles, canary, baseline_version = _canary_split(table, policy, lo, hi, seed)
    return _Plan(
        canary=canary,
        baseline_version=baseline_version,
        table=table,
        replayed=table.slice(lo, hi - lo),
        roles=roles,
        reference=ref_log,
        injected_us=injected,
        width_us=width_us,
        n_windows=n_windows,
        budget=budget_of(policy),
        rollback=policy.drill.rollback_time,
        seed=seed,
    )


CANDIDATE = "drill-candidate"
ROW = "__drill_row"


def _canary_split(table: pa.Table, policy: Policy, lo: int, hi: int, seed: int) -> tuple[pa.Table, Roles, np.ndarray, str]:
    """From the injection on, a seeded ``drill.canary`` share of the rows is served by a candidate version:
    the faults land only there, and compare's canary judgement runs on each window beside validate and drift."""
    column = policy.columns.model_version
    if column in table.column_names:
        counts = pc.value_counts(table.column(column).slice(0, lo) if lo else table.column(column))
        top = max(counts.to_pylist(), key=lambda item: item["counts"])
        baseline = str(top["values"])
        versions = pc.cast(table.column(column), pa.string()).to_numpy(zero_copy_only=False).astype(object)
    else:
        baseline = "baseline"
        versions = np.full(table.num_rows, baseline, dtype=object)
    share = float(policy.drill.canary or 0.0)
    canary = np.random.default_rng([seed, 1]).random(hi - lo) < share
    versions[lo:hi] = np.where(canary, CANDIDATE, versions[lo:hi])
    array = pa.array(versions.tolist(), type=pa.string())
    if column in table.column_names:
        table = table.set_column(table.column_names.index(column), column, array)
    else:
        table = table.append_column(column, array)
    return table, resolve_roles(memory_log(table, "log"), policy), canary, baseline


def _canary_only(healthy: pa.Table, faulted: pa.Table, canary: np.ndarray) -> pa.Table:
    """The canary's rows from the faulted copy (those it kept: a gap drops rows), the others healthy."""
    rows = faulted.column(ROW).to_numpy()
    hit = faulted.filter(pa.array(canary[rows])).drop_columns([ROW])
    kept = healthy.filter(pa.array(~canary))
    combined = pa.concat_tables([kept, hit.cast(kept.schema, safe=False)] if hit.schema != kept.schema else [kept, hit])
    return combined


# ---------------------------------------------------------------- replay


def _edges(table: pa.Table, plan: _Plan) -> tuple[pa.Table, np.ndarray]:
    """The table sorted by time, and the row offsets where each window starts (and the last one ends)."""
    times = timestamps_keeping_rows(table.column(plan.roles.timestamp), "drill copy")
    if not _sorted(times):
        order = np.argsort(times, kind="stable")
        table, times = table.take(pa.array(order)), times[order]
    starts = plan.starts_us
    return table, np.searchsorted(times, np.append(starts, starts[-1] + plan.width_us), side="left")


def _validate_window(table: pa.Table, edges: np.ndarray, k: int, plan: _Plan, policy: Policy) -> tuple[int, set[str]]:
    """The rows of window k, and the validate checks a cron job at its end would see fail."""
    from mlrel_cli.analysis.validate import validate

    rows = int(edges[k + 1] - edges[k])
    if rows == 0:
        return 0, {"volume"}  # the cron job finds no new rows: an empty window is what the volume check exists for
    now = _from_us(int(plan.starts_us[k]) + plan.width_us)
    window = memory_log(_labels_as_of(table.slice(int(edges[k]), rows), plan, policy, now), "log")
    try:
        report = validate(window, policy, reference=plan.reference, now=now)
    except MlrelError as exc:
        return rows, {f"error: {exc}"}  # the cron job exits 2: loud, so it is caught
    failing = {c.name for c in report.checks if c.status == Status.FAIL}
    if plan.canary is not None:
        failing |= _canary_failures(window, plan, policy)
    return rows, failing


def _labels_as_of(table: pa.Table, plan: _Plan, policy: Policy, now: dt.datetime) -> pa.Table:
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


def _canary_failures(window: Log, plan: _Plan, policy: Policy) -> set[str]:
    """compare's canary judgement of the candidate against the baseline on this window: its failing checks."""
    from mlrel_cli.analysis.compare import compare_logs

    assert plan.baseline_version is not None
    try:
        report = compare_logs(policy, window, plan.baseline_version, [CANDIDATE], None, [], None, mode="canary")
    except MlrelError as exc:
        return {f"error: compare: {exc}"}
    return {"compare:" + c.name.partition(":")[2] for c in report.checks if c.status == Status.FAIL}


class _Baseline:
    """The healthy log's failing checks per window, computed the first time a fault's replay reaches that window
    (most faults are caught in the first one, so most healthy windows are never needed)."""

    def __init__(self, plan: _Plan, policy: Policy) -> None:
        self.plan, self.policy = plan, policy
        self.table, self.edges = _edges(plan.replayed, plan)
        self._validate: dict[int, set[str]] = {}
        self._drift: list[set[str]] | None = None

    def __getitem__(self, k: int) -> set[str]:
        if k not in self._validate:
            self._validate[k] = _validate_window(self.table, self.edges, k, self.plan, self.policy)[1]
        if self._drift is None:
            self._drift = _drift_failures(self.table, self.plan, self.policy, self.plan.n_windows)
        return self._validate[k] | self._drift[k]


def _replay(table: pa.Table, plan: _Plan, policy: Policy, healthy: _Baseline) -> list[WindowOutcome]:
    """Each window of the faulted log as a cron job would check it, with the checks that fail there and pass
    on the healthy log; the replay stops at the first such window: the detection."""
    table, edges = _edges(table, plan)
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
        out.append(WindowOutcome(int(plan.starts_us[k]), rows, tuple(sorted(new))))
        if new:
            break
    return out


def _sorted(values: np.ndarray) -> bool:
    return bool(len(values) < 2 or np.all(values[1:] >= values[:-1]))


def _drift_failures(table: pa.Table, plan: _Plan, policy: Policy, n_windows: int) -> list[set[str]]:
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


def _run_fault(scenario: Scenario, plan: _Plan, policy: Policy, healthy: _Baseline) -> FaultResult:
    required = policy.drill.required is None or scenario.name in policy.drill.required
    injected_at = _from_us(plan.injected_us)
    if scenario.inject is None:
        return _not_run(scenario, injected_at, required, scenario.skipped)
    try:
        if plan.canary is None:
            faulted = scenario.inject(plan.replayed, injected_at, plan.seed)
        else:
            indexed = plan.replayed.append_column(ROW, pa.array(np.arange(plan.replayed.num_rows)))
            faulted = _canary_only(plan.replayed, scenario.inject(indexed, injected_at, plan.seed), plan.canary)
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
    plan: _Plan,
    new: list[WindowOutcome],
    faulted: pa.Table,
) -> FaultResult:
    caught_at = next((k for k, w in enumerate(new) if w.new_failures), None)
    injected_at = _from_us(plan.injected_us)
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


# ---------------------------------------------------------------- suggestions


def _with_suggestion(
    result: FaultResult, scenario: Scenario, plan: _Plan, policy: Policy, baselines: dict[tuple[str, int, int], _Baseline]
) -> FaultResult:
    """The first candidate change that, replayed, catches the fault (in budget, for a late one); else the first one."""
    candidates = list(_candidates(result, scenario, plan, policy))
    for candidate in candidates:
        if _verify(candidate, scenario, plan, policy, baselines):
            return replace(result, suggestion=replace(candidate, verified=True))
    return replace(result, suggestion=candidates[0] if candidates else None)


def _candidates(result: FaultResult, scenario: Scenario, plan: _Plan, policy: Policy) -> Iterable[Suggestion]:
    """Policy changes worth replaying for a missed or late fault, the least intrusive first."""
    budget_s = plan.budget.total_seconds() - plan.rollback.total_seconds()
    width_s = plan.width_us / 1_000_000
    if result.caught:
        # late: a cron job every (budget - rollback) or less reports the first window in time
        every = _round_down_duration(budget_s) if budget_s > 0 else None
        if every is not None and every.total_seconds() < width_s:
            yield Suggestion(f"run the checks every {format_duration(every)} (--every, drill.every)", every=every)
        return
    target = scenario.column
    features = plan.roles.features
    if scenario.needs == "segment" and target and target not in policy.segments:
        yield Suggestion(
            f"declare '{target}' a segment (segments:), so the metrics are judged per {target}",
            patch={"segments": [*policy.segments, target]},
        )
    if scenario.name == "null_burst" and target:
        yield Suggestion(
            f"lower features.{target}.max_missing to 0.05",
            patch={"features": {target: {"max_missing": 0.05}}} if policy.features is not None else {},
        )
        yield Suggestion("lower validate.missing.max_fraction to 0.05", patch={"validate": {"missing": {"max_fraction": 0.05}}})
    if scenario.name == "traffic_gap" and plan.n_windows:
        # 80 % of the quietest healthy window: no false alarm on this traffic, and a gap of a fifth of a window shows
        floor = max(1, int(0.8 * int(_window_rows(plan).min())))
        yield Suggestion(
            f"set validate.volume.min_rows to {floor:,} (80 % of the quietest healthy {format_duration(_width(plan))} window)",
            patch={"validate": {"volume": {"min_rows": floor}}},
        )
    if scenario.name == "unseen_categories":
        yield Suggestion(
            "lower validate.unseen_categories.max_fraction to 0.001",
            patch={"validate": {"unseen_categories": {"max_fraction": 0.001}}},
        )
    if scenario.name == "out_of_range":
        yield Suggestion("lower validate.ranges.max_fraction to 0.001", patch={"validate": {"ranges": {"max_fraction": 0.001}}})
    if scenario.name in ("label_flip", "segment_degradation", "ranking_degradation"):
        yield from _tighter_metric_bounds(plan, policy)
    if target and target in features and target not in policy.drift.critical:
        yield Suggestion(
            f"mark '{target}' critical (drift.critical), so its drift alone fails the run",
            patch={"drift": {"critical": [*policy.drift.critical, target]}},
        )
    if target and target in features:
        critical = sorted({*policy.drift.critical, target})
        for fail in _lower_thresholds(policy, target, features[target]):
            yield Suggestion(
                f"lower drift.features.{target}.fail to {fail:g} (and mark it critical)",
                patch={"drift": {"features": {target: {"fail": fail}}, "critical": critical}},
            )


def _tighter_metric_bounds(plan: _Plan, policy: Policy) -> Iterable[Suggestion]:
    """For a missed concept change: each bounded metric's limit moved to 5 % short of its value on the first healthy
    window (the replay then says whether that still passes on healthy traffic and catches the fault)."""
    from mlrel_cli.analysis.validate import validate
    from mlrel_cli.stats.names import METRIC_BY_NAME

    table, edges = _edges(plan.replayed, plan)
    rows = int(edges[1] - edges[0])
    if rows == 0:
        return
    now = _from_us(int(plan.starts_us[0]) + plan.width_us)
    window = memory_log(_labels_as_of(table.slice(int(edges[0]), rows), plan, policy, now), "log")
    try:
        report = validate(window, policy, reference=plan.reference, now=now)
    except MlrelError:
        return
    values = {c.name.removeprefix("performance:"): c.value for c in report.checks if c.name.startswith("performance:")}
    for name, bound in policy.validate_.performance.metrics.items():
        value, info = values.get(name), METRIC_BY_NAME.get(name)
        if not isinstance(value, int | float) or info is None or not math.isfinite(value):
            continue
        if info.higher_is_better:
            limit = round(value - 0.05 * abs(value), 4)
            if bound.min is None or limit > bound.min:
                yield Suggestion(
                    f"raise validate.performance.metrics.{name}.min to {limit:g}",
                    patch={"validate": {"performance": {"metrics": {name: {"min": limit}}}}},
                )
        else:
            limit = round(value + 0.05 * abs(value), 4)
            if bound.max is None or limit < bound.max:
                yield Suggestion(
                    f"lower validate.performance.metrics.{name}.max to {limit:g}",
                    patch={"validate": {"performance": {"metrics": {name: {"max": limit}}}}},
                )


def _window_rows(plan: _Plan) -> np.ndarray:
    """Rows of each replayed window of the healthy log."""
    times = timestamps_keeping_rows(plan.replayed.column(plan.roles.timestamp), "drill copy")
    starts = plan.starts_us
    return np.diff(np.searchsorted(times, np.append(starts, starts[-1] + plan.width_us), side="left"))


def _width(plan: _Plan) -> dt.timedelta:
    return dt.timedelta(microseconds=plan.width_us)


def _lower_thresholds(policy: Policy, feature: str, kind: str) -> list[float]:
    """Half and a quarter of the feature's drift threshold, for a distance (a test's alpha is not lowered)."""
    from mlrel_cli.stats.drift import METHOD_BY_NAME

    spec = policy.drift.features.get(feature)
    name = spec.method if spec and spec.method else getattr(policy.drift.methods, kind, policy.drift.methods.numeric)
    method = METHOD_BY_NAME.get(name)
    if method is None or method.is_test:
        return []
    current = spec.fail if spec and isinstance(spec.fail, int | float) else method.fail
    return [round(float(current) / 2, 6), round(float(current) / 4, 6)] if current > 0 else []


def _round_down_duration(seconds: float) -> dt.timedelta | None:
    for step in (3600, 900, 600, 300, 120, 60, 30, 10):
        if seconds >= step:
            return dt.timedelta(seconds=step * (seconds // step) if step >= 3600 else step)
    return None


def apply_patch(policy: Policy, patch: Mapping[str, Any]) -> Policy:
    """The policy with a suggestion's keys merged in, validated again (a suggestion is a real policy change)."""
    from mlrel_cli.policy import Policy as PolicyModel

    data = _merge(policy.model_dump(by_alias=True, exclude_unset=True), dict(patch))
    patched = PolicyModel.model_validate(data)
    patched._sources = dict(policy._sources)
    patched._files = policy.files
    return patched


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _verify(
    candidate: Suggestion, scenario: Scenario, plan: _Plan, policy: Policy, baselines: dict[tuple[str, int, int], _Baseline]
) -> bool:
    """Replay the fault with the suggestion applied: does it catch it now?"""
    if not candidate.patch and candidate.every is None:
        return False
    patched = apply_patch(policy, candidate.patch) if candidate.patch else policy
    trial = plan
    if candidate.every is not None:
        # a late fault: only the windows that end within the budget can prove the shorter cadence
        width_us = int(candidate.every.total_seconds() * 1_000_000)
        in_budget = int((plan.budget - plan.rollback).total_seconds() * 1_000_000) // width_us
        span = plan.n_windows * plan.width_us
        trial = replace(plan, width_us=width_us, n_windows=max(1, min(in_budget, span // width_us)))
    try:
        key = (json.dumps(candidate.patch, sort_keys=True, default=str), trial.width_us, trial.n_windows)
        if key not in baselines:
            baselines[key] = _Baseline(trial, patched)
        result = _run_fault(scenario, trial, patched, baselines[key])
    except MlrelError:
        return False
    # a missed fault is helped by being caught at all; a late one only by being caught in time
    return result.caught and (result.within_budget or candidate.every is None)


# ---------------------------------------------------------------- report


def _report(log: Log, policy: Policy, plan: _Plan, results: list[FaultResult], reference: Log | None) -> Report:
    checks = [_fault_check(r, plan, policy) for r in results]
    failed = [r for r in results if r.status == Status.FAIL]
    caught = sum(r.caught for r in results)
    in_budget = sum(r.caught and r.within_budget for r in results)
    judged = [r for r in results if r.error is None]
    if failed:
        status = Status.FAIL
    elif not judged:
        status = Status.INCONCLUSIVE  # no fault could be injected into this log: nothing was rehearsed
    else:
        status = Status.WARN if in_budget < len(judged) else Status.PASS
    summary = (
        f"{caught} of {len(judged)} faults caught, {in_budget} within the {format_duration(plan.budget)} budget "
        f"(checks every {format_duration(dt.timedelta(microseconds=plan.width_us))}, "
        f"rollback {format_duration(plan.rollback)})."
    )
    if len(judged) < len(results):
        summary += f" {len(results) - len(judged)} skipped: not applicable to this log."
    if failed:
        summary += " Required and missed or late: " + ", ".join(r.fault for r in failed) + "."
    table_rows = [
        [
            r.fault,
            f"{r.size:g}",
            r.check or ("skipped: " + r.error if r.error else "missed"),
            _delay_text(r),
            "-" if r.error else ("yes" if r.within_budget else "no"),
        ]
        for r in results
    ]
    return Report(
        command="drill",
        status=status,
        summary=summary,
        checks=tuple(checks),
        inputs={
            "log": log.path,
            "rows": log.num_rows,
            "reference": reference.path if reference else plan.reference.label,
            "policy": list(policy.files),
            "every": format_duration(dt.timedelta(microseconds=plan.width_us)),
            "injected_at": _from_us(plan.injected_us),
            "windows": plan.n_windows,
            "budget": format_duration(plan.budget),
            "detection_budget_s": (plan.budget - plan.rollback).total_seconds(),
            "rollback_time": format_duration(plan.rollback),
            "seed": plan.seed,
            "canary": policy.drill.canary,
        },
        sections={
            "faults": [r.to_dict(plan.width_us) for r in results],
            "table": {
                "title": "Drill",
                "columns": ["fault", "size", "caught by", "delay", "within budget"],
                "rows": table_rows,
            },
        },
    )


def _delay_text(result: FaultResult) -> str:
    if result.delay_s is None:
        return "-"
    return f"{format_duration(dt.timedelta(seconds=result.delay_s))} ({result.rows_until_detection:,} rows)"


def _fault_check(result: FaultResult, plan: _Plan, policy: Policy) -> Check:
    if result.error:
        message = f"skipped: {result.error}"
    elif result.caught:
        message = f"caught by {result.check} after {_delay_text(result)}"
        if not result.within_budget:
            message += f"; with the {format_duration(plan.rollback)} rollback that is over the budget"
    else:
        horizon = dt.timedelta(microseconds=plan.n_windows * plan.width_us)
        message = f"missed: no check failed in the {format_duration(horizon)} after the injection"
    if result.suggestion is not None:
        message += f"; suggestion: {result.suggestion.change}" + ("" if result.suggestion.verified else " (not verified)")
    return Check(
        name=f"fault:{result.fault}",
        status=result.status,
        value=result.delay_s,
        threshold=(plan.budget - plan.rollback).total_seconds(),
        message=message,
        details={"check": result.check, "rows_until_detection": result.rows_until_detection, "size": result.size},
        source=policy.source_of("drill.budget"),
    )


def _inconclusive(log: Log, policy: Policy, plan: _Plan, why: str) -> Report:
    return Report(
        command="drill",
        status=Status.INCONCLUSIVE,
        summary=f"Nothing to judge: {why}.",
        checks=(Check(name="drill", status=Status.INCONCLUSIVE, message=why),),
        inputs={"log": log.path, "rows": log.num_rows, "every": format_duration(dt.timedelta(microseconds=plan.width_us))},
        sections={"faults": []},
    )


def _from_us(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(us))


__all__ = ["FaultResult", "Scenario", "Suggestion", "apply_patch", "budget_of", "drill", "memory_log"]
