"""Aiming each fault at this log, and the replay grid every fault shares (windows from the injection time)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from mlrel_cli.analysis.drill.payloads import DEFAULT_HORIZON_WINDOWS, WEEK_S, ReplayPlan, Scenario
from mlrel_cli.errors import LogError, MlrelError, PolicyError
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles, resolve_roles
from mlrel_cli.logs.values import timestamps_keeping_rows
from mlrel_cli.payloads.drill import from_us
from mlrel_cli.policy import Policy


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


def aim(fault: Any, plan: ReplayPlan, policy: Policy) -> Scenario:
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


def _target(fault: Any, plan: ReplayPlan, policy: Policy) -> tuple[str | None, str | None]:
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


def choose_faults(faults: Mapping[str, Any], names: Sequence[str] | None, policy: Policy) -> list[str]:
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


def build_plan(
    log: Log,
    policy: Policy,
    reference: Log | None,
    labels: Log | None,
    every: dt.timedelta,
    at: dt.datetime | None,
    seed: int,
) -> ReplayPlan:
    """The replay: the log's rows in time order (with --labels joined), where the faults are injected, the windows
    replayed from there, the reference they are judged against and, with ``drill.canary``, the candidate's rows."""
    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    if roles.timestamp is None:
        raise LogError(
            f"drill replays the log window by window and needs a timestamp column '{policy.columns.timestamp}' "
            "(set columns.timestamp)",
            log.path,
        )
    timestamp = roles.timestamp
    table = log.read(log.column_names)
    if labels is not None:
        table = _with_labels(table, log, roles, labels, policy)
        roles = resolve_roles(memory_log(table, log.label, log.path), policy)
    table, times = _in_time_order(table, timestamp, log.path)
    width_us = int(every.total_seconds() * 1_000_000)
    injected = _injection_time(times, at, width_us)
    horizon = policy.drill.horizon or every * DEFAULT_HORIZON_WINDOWS
    horizon_windows = max(1, int(horizon.total_seconds() * 1_000_000) // width_us)
    full = (int(times[-1]) + 1 - injected) // width_us
    n_windows = int(max(0, min(horizon_windows, full)))
    lo = int(np.searchsorted(times, injected, side="left"))
    hi = int(np.searchsorted(times, injected + n_windows * width_us, side="left"))
    if reference is None:
        if lo == 0:
            raise MlrelError("no --reference and no healthy rows before the injection time to serve as one (use --at)")
        reference = memory_log(table.slice(0, lo), "reference (healthy rows before the injection)")
    canary = baseline_version = None
    if policy.drill.canary is not None:
        table, roles, canary, baseline_version = _canary_split(table, policy, lo, hi, seed)
    return ReplayPlan(
        canary=canary,
        baseline_version=baseline_version,
        table=table,
        replayed=table.slice(lo, hi - lo),
        roles=roles,
        reference=reference,
        injected_us=injected,
        width_us=width_us,
        n_windows=n_windows,
        budget=budget_of(policy),
        rollback=policy.drill.rollback_time,
        seed=seed,
    )


def _in_time_order(table: pa.Table, timestamp: str, path: str) -> tuple[pa.Table, np.ndarray]:
    """The rows with a timestamp, oldest first (ties in log order), and their times in microseconds."""
    times = timestamps_keeping_rows(table.column(timestamp), f"{path}: {timestamp}")
    keep = times >= 0
    if not keep.any():
        raise LogError(f"timestamp column '{timestamp}' has no values", path)
    order = np.argsort(times, kind="stable")
    order = order[keep[order]]
    return table.take(pa.array(order)), times[order]


def _injection_time(times: np.ndarray, at: dt.datetime | None, width_us: int) -> int:
    """When the faults start, on the clock grid of the cron windows as drift cuts them: ``--at``, or mid-log, so
    there is healthy history before and room to detect after."""
    oldest, newest = int(times[0]), int(times[-1])
    if at is None:
        middle = oldest + (newest - oldest) // 2
        return middle - middle % width_us
    injected = int(at.timestamp() * 1_000_000)
    if not oldest <= injected <= newest:
        raise MlrelError(
            f"--at {at.isoformat()} is outside the log ({from_us(oldest):%Y-%m-%d %H:%M} to {from_us(newest):%Y-%m-%d %H:%M} UTC)"
        )
    return injected - injected % width_us


def _with_labels(table: pa.Table, log: Log, roles: Roles, labels: Log, policy: Policy) -> pa.Table:
    """The log's rows with the labels file joined on the id as validate and drift join it (Engine.labelled_log; the
    drill replays in memory, so on the local engine), and when each label arrived inline as a log can carry it: a
    window's cron job sees only the labels arrived by then."""
    from mlrel_cli.engine import open_engine
    from mlrel_cli.engine.interface import LABEL_ARRIVED

    with open_engine("local") as engine:
        joined = engine.labelled_log(log, roles, labels, policy)
    name = policy.columns.label
    label = joined.column(name).combine_chunks()
    if name in table.column_names:
        table = table.set_column(table.column_names.index(name), name, label)
    else:
        table = table.append_column(name, label)
    arrival = policy.columns.label_timestamp
    if joined.has(LABEL_ARRIVED) and arrival not in table.column_names:
        times_us = joined.column(LABEL_ARRIVED).to_numpy()
        arrived = pa.array(times_us, type=pa.int64(), mask=times_us < 0).cast(pa.timestamp("us", tz="UTC"))
        table = table.append_column(arrival, arrived)
    return table


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


def canary_only(healthy: pa.Table, faulted: pa.Table, canary: np.ndarray) -> pa.Table:
    """The canary's rows from the faulted copy (those it kept: a gap drops rows), the others healthy."""
    rows = faulted.column(ROW).to_numpy()
    hit = faulted.filter(pa.array(canary[rows])).drop_columns([ROW])
    kept = healthy.filter(pa.array(~canary))
    combined = pa.concat_tables([kept, hit.cast(kept.schema, safe=False)] if hit.schema != kept.schema else [kept, hit])
    return combined
