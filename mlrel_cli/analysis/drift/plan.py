"""Drift's plan: which columns are compared, how (method, thresholds, critical), and the window grid."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pyarrow as pa

from mlrel_cli.engine.interface import Engine
from mlrel_cli.errors import LogError, PolicyError
from mlrel_cli.facts.windows import WindowGrid, window_grid
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles, is_text_like, kind_of_type
from mlrel_cli.policy import Policy
from mlrel_cli.stats.drift import METHOD_BY_NAME, Method
from mlrel_cli.tasks import task_of

MISSING_FROM_CURRENT = "in the reference, missing from the current log"
TEXT_LIKE = "mostly distinct values: an id or free text, not categories"


@dataclass(frozen=True)
class ColumnPlan:
    """What to compare for one column: where it is on each side and how to judge it."""

    name: str
    role: str
    kind: str
    method: Method
    fail: float | str
    warn: float | None
    source: str
    critical: bool
    reference_column: str
    current_column: str


def plan_columns(
    policy: Policy,
    reference: Log,
    current: Log,
    ref_roles: Roles,
    cur_roles: Roles,
    few_values: Callable[[str], bool],
) -> tuple[list[ColumnPlan], dict[str, str]]:
    """Which columns to compare, with which method and thresholds; the others with the reason they are not.
    A categorical feature of mostly distinct values (an id) is found once its reference summary is known
    (``text_like``)."""
    spec = policy.drift
    _check_named_columns(policy, current, cur_roles)
    critical = set(spec.critical) | {name for name, f in spec.features.items() if f.critical}
    columns: list[tuple[str, str, str]] = [(name, "feature", kind) for name, kind in cur_roles.features.items()]
    if spec.prediction:
        columns.append((cur_roles.prediction, "prediction", ""))
    if spec.label and ref_roles.label is not None and current.has(policy.columns.label):  # the log's or --labels' own
        columns.append((policy.columns.label, "label", ""))

    plans: list[ColumnPlan] = []
    not_compared: dict[str, str] = {}
    for name, role, kind in columns:
        if not reference.has(name):
            not_compared[name] = "not in the reference"
            continue
        ref_kind = _same_kind(name, reference, current)
        if kind == "text":
            not_compared[name] = "declared text"
            continue
        if role != "feature":
            kind = _output_kind(name, role, ref_kind, policy, few_values)
        method, fail, warn, source = _method_of(name, kind, policy)
        plans.append(
            ColumnPlan(
                name=name,
                role=role,
                kind=kind,
                method=method,
                fail=fail,
                warn=warn,
                source=source,
                critical=name in critical,
                reference_column=name,
                current_column=name,
            )
        )
    return plans, not_compared


def _check_named_columns(policy: Policy, current: Log, cur_roles: Roles) -> None:
    """Every column the drift section names is one the current log compares: a critical feature not compared
    would turn the gate off without a word."""
    from mlrel_cli.logs.roles import check_critical_columns

    for name in policy.drift.features:
        if name not in cur_roles.features and name != cur_roles.prediction and name != cur_roles.label:
            raise PolicyError(
                f"drift.features.{name}: '{name}' is not a feature of the current log",
                policy.source_of(f"drift.features.{name}"),
            )
    check_critical_columns(policy, cur_roles, current)


def _same_kind(name: str, reference: Log, current: Log) -> str | None:
    """The column's kind, which both sides must share (a boolean compares only with a boolean)."""
    ref_type, cur_type = reference.schema.field(name).type, current.schema.field(name).type
    ref_kind, cur_kind = kind_of_type(ref_type), kind_of_type(cur_type)
    if ref_kind != cur_kind or pa.types.is_boolean(ref_type) != pa.types.is_boolean(cur_type):
        raise LogError(
            f"column '{name}' is {ref_type} in the reference but {cur_type} in the current log: they cannot be compared",
            current.path,
        )
    return ref_kind


def _output_kind(name: str, role: str, ref_kind: str | None, policy: Policy, few_values: Callable[[str], bool]) -> str:
    """How the prediction or the label is compared: the outputs of a classifier as classes when they are classes
    (integer ids included), the label and the prediction alike, since Wasserstein on class ids measures nothing."""
    kind = ref_kind or "categorical"
    task = task_of(policy.task)
    if (task is None or task.classification) and ref_kind == "numeric":  # no task set: perhaps a classifier
        kind = "categorical" if (task is not None and task.reads == "classes") or few_values(name) else "numeric"
    if role == "prediction" and ref_kind == "categorical":
        kind = "categorical"
    return kind


def _method_of(name: str, kind: str, policy: Policy) -> tuple[Method, float | str, float | None, str]:
    """The column's method and its fail and warn thresholds, with the policy key the fail threshold comes from:
    the column's own, else its kind's; a test's is the run's alpha."""
    spec = policy.drift
    feature_spec = spec.features.get(name)
    method_name = (feature_spec.method if feature_spec else None) or getattr(spec.methods, kind)
    method = METHOD_BY_NAME[method_name]
    if kind not in method.kinds:
        where = f"drift.features.{name}.method" if feature_spec and feature_spec.method else f"drift.methods.{kind}"
        raise PolicyError(
            f"{where}: method '{method_name}' does not apply to {kind} column '{name}'"
            f" (use one of {', '.join(m for m, info in METHOD_BY_NAME.items() if kind in info.kinds)})",
            policy.source_of(where),
        )
    if method.is_test:
        return method, spec.tests.alpha, None, policy.source_of("drift.tests.alpha")
    fail: float | str = method.fail
    warn = method.warn
    source = policy.source_of(f"drift.methods.{kind}")
    if feature_spec is not None:
        if feature_spec.fail is not None:
            fail = feature_spec.fail
            source = policy.source_of(f"drift.features.{name}.fail")
        if feature_spec.warn is not None:
            warn = feature_spec.warn
    return method, fail, warn, source


def text_like(plan: ColumnPlan, policy: Policy, distinct_and_present: Callable[[], tuple[int, int]]) -> bool:
    """A categorical feature whose kind the policy does not declare, of mostly distinct values: not compared."""
    declared = policy.features is not None and plan.name in policy.features and policy.features[plan.name].kind
    candidate = plan.role == "feature" and plan.kind == "categorical" and not declared
    return candidate and is_text_like(*distinct_and_present())


def window_grid_of(engine: Engine, current: Log, timestamp: str, width: dt.timedelta) -> WindowGrid:
    """The current log's windows of ``width``, aligned on the clock, from its oldest and newest timestamp."""
    where = f"{current.path}: {timestamp}"
    times = engine.reduce(current, [timestamp], partial(_time_facts, column=timestamp, where=where))["time"]
    if not times.count:
        raise LogError(f"timestamp column '{timestamp}' has no values to cut windows from", current.path)
    origin, n_windows = window_grid(times.oldest, times.newest, width, current.path)
    return WindowGrid(timestamp, where, origin, int(width.total_seconds() * 1_000_000), n_windows)


def _time_facts(table: pa.Table, column: str, where: str) -> dict[str, Any]:
    from mlrel_cli.facts.columns import TimeFacts

    return {"time": TimeFacts.of(table.column(column), where)}
