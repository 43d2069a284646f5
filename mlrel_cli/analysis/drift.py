"""``mlrel drift``: how far production moved from the reference, in which features, and since when.

Per feature: a summary of each side (read one column at a time), the
method's score against its threshold, the score an unchanged log of the
same size would reach by chance (below it the feature is judged; above it
the feature is inconclusive), unseen categories and the missing-rate
change; with a window, the same per window and the onset. Then the
prediction, the label and the performance metric. The verdict is the
policy's: a drifted critical feature, too large a share of drifted
features, or a degraded metric fails the run.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from statistics import NormalDist
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.durations import format_duration
from mlrel_cli.engine.interface import Engine
from mlrel_cli.errors import LogError, PolicyError
from mlrel_cli.facts.profile import ProfileLog
from mlrel_cli.facts.windows import Windows, assign_windows, window_grid
from mlrel_cli.logs import Log, Roles, infer_task, is_text_like, join_labels, kind_of_type, resolve_roles, to_numpy_float
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Report, Status
from mlrel_cli.stats.drift import METHOD_BY_NAME, Method, adjust_p_values, breaches, null_quantile
from mlrel_cli.stats.inference import bootstrap_se
from mlrel_cli.stats.metrics import metric_value
from mlrel_cli.stats.names import BINARY, METRIC_BY_NAME, MULTICLASS, REGRESSION
from mlrel_cli.stats.sketch import QuantileSketch
from mlrel_cli.stats.summaries import MAX_CATEGORIES, CategoricalSummary, NumericSummary, TooManyCategories

Progress = Callable[[str], None]
DEFAULT_CONCEPT_METRIC = {BINARY: "roc_auc", MULTICLASS: "accuracy", REGRESSION: "rmse"}
TOP_UNSEEN = 5


@dataclass(frozen=True)
class WindowScore:
    start: dt.datetime
    end: dt.datetime
    rows: int
    score: float | None
    threshold: float | None
    status: Status


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    role: str  # feature, prediction, label
    kind: str
    method: str
    score: float | None
    statistic: float | None
    p_value: float | None
    threshold: float
    warn: float | None
    status: Status
    message: str
    source: str
    critical: bool
    rows_reference: int
    rows_current: int
    noise: float | None = None
    missing_reference: float = 0.0
    missing_current: float = 0.0
    unseen: dict[str, Any] | None = None
    windows: tuple[WindowScore, ...] = ()
    onset: dt.datetime | None = None
    histogram: dict[str, list[Any]] | None = None
    whole_log_score: float | None = None  # set when ``score`` is the breaching window's

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "kind": self.kind,
            "method": self.method,
            "score": self.score,
            "whole_log_score": self.whole_log_score if self.whole_log_score is not None else self.score,
            "threshold": self.threshold,
            "warn_threshold": self.warn,
            "status": self.status.value,
            "onset": self.onset,
            "critical": self.critical,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "noise": self.noise,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "missing_reference": self.missing_reference,
            "missing_current": self.missing_current,
            "missing_change": self.missing_current - self.missing_reference,
            "unseen": self.unseen,
            "threshold_source": self.source,
            "message": self.message,
            "histogram": self.histogram,
            "windows": [
                {
                    "start": w.start,
                    "end": w.end,
                    "rows": w.rows,
                    "score": w.score,
                    "threshold": w.threshold,
                    "status": w.status.value,
                }
                for w in self.windows
            ],
        }


@dataclass(frozen=True)
class _Plan:
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


@dataclass
class _Sides:
    """Values of one column on each side, summarised."""

    reference: NumericSummary | CategoricalSummary
    current: NumericSummary | CategoricalSummary
    windows: list[NumericSummary | CategoricalSummary] = field(default_factory=list)


def drift(
    reference: Log,
    current: Log,
    policy: Policy,
    window: dt.timedelta | None = None,
    labels: Log | None = None,
    progress: Progress | None = None,
    engine: str | None = None,
    scheduler: str | None = None,
) -> Report:
    progress = progress or (lambda _step: None)
    spec = policy.drift
    engine = engine or policy.engine
    ref_roles = resolve_roles(reference, policy)
    cur_roles = resolve_roles(current, policy, label_from_labels_file=labels is not None)
    window = window or spec.window
    labels_type = None
    if labels is not None and labels.has(policy.columns.label):
        labels_type = labels.schema.field(policy.columns.label).type
    from mlrel_cli.engine import check_engine, open_engine

    distributed = check_engine(engine, labels=labels) == "dask"  # a profile as the reference: the engine answers
    if window is not None and cur_roles.timestamp is None:
        raise LogError(
            f"--window needs a timestamp column, and the current log has no column "
            f"'{policy.columns.timestamp}' (set columns.timestamp)",
            current.path,
        )

    windows = None
    precomputed: dict[str, tuple[Any, Any, list[Any]]] = {}
    if distributed:
        with open_engine(engine, scheduler, policy.engine_timeout) as cluster:
            plans, not_compared = _plan(policy, reference, current, ref_roles, cur_roles, labels_type,
                                        partial(cluster.few_values, reference), distributed=True)  # fmt: skip
            windows, precomputed, grid = _summarise_on_cluster(cluster, plans, reference, current, cur_roles, window)
            proxies_on_cluster = _proxies_on_cluster(cluster, reference, current, policy, windows, grid)
            if spec.concept:
                concept_on_cluster = _concept_on_cluster(cluster, reference, current, ref_roles, cur_roles, policy)
        for plan in list(plans):
            if plan.name not in precomputed:
                not_compared[plan.name] = f"more than {MAX_CATEGORIES:,} distinct values: an id or free text, not categories"
            elif plan.role == "feature" and plan.kind == "categorical" and not _declared_kind(policy, plan.name):
                ref_summary = precomputed[plan.name][0]  # the local engine's test, on the merged counts
                if is_text_like(len(ref_summary.categories), ref_summary.count):
                    not_compared[plan.name] = "mostly distinct values: an id or free text, not categories"
            if plan.name in not_compared:
                plans.remove(plan)
    else:
        plans, not_compared = _plan(
            policy, reference, current, ref_roles, cur_roles, labels_type, partial(_few_values, reference)
        )
        if window is not None:
            assert cur_roles.timestamp is not None
            windows = _cut_windows(current, cur_roles.timestamp, window)

    for name in ref_roles.features:  # a feature the pipeline stopped sending is the worst drift of all
        if name not in cur_roles.features and not current.has(name):
            not_compared[name] = MISSING_FROM_CURRENT

    current_labels = None
    if labels is not None:
        current_labels = join_labels(current, cur_roles, labels, policy).labels

    from mlrel_cli.stats.drift import comparison_false_alarm_rate

    rate = comparison_false_alarm_rate(
        spec.run_false_alarm_rate, spec.false_alarm_rate, sum(not plan.method.is_test for plan in plans)
    )

    def run(plan: _Plan) -> FeatureDrift:
        result = _compare(plan, reference, current, policy, windows, current_labels, precomputed.get(plan.name), rate)
        progress(plan.name)
        return result

    # two columns in flight per core: enough to overlap reading with sorting, and memory stays ~ 4 columns
    workers = max(1, min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(run, plans))
    results = [breach_verdict(r) for r in _correct_tests(results, policy)]

    concept = None
    task = policy.task
    if spec.concept and distributed:
        concept, task = concept_on_cluster
    elif spec.concept:
        concept, task = _concept(reference, current, ref_roles, cur_roles, current_labels, policy)
    proxies = proxies_on_cluster if distributed else _proxy_windows(reference, current, policy, windows, cur_roles)
    report = _report(results, not_compared, concept, policy, reference, current, window, task)
    report = replace(report, inputs={**report.inputs, "engine": engine})
    if not proxies:
        return report
    return _with_proxies(report, proxies)


def _proxy_values(log: Log, policy: Policy, name: str, rows: np.ndarray | None, query: np.ndarray | None) -> tuple[float, float]:
    """The proxy metric on these rows, and its standard error."""
    from mlrel_cli.stats.ranking import proxy_standard_error, proxy_value

    spec = policy.proxy_metrics[name]

    def column(col: str | None) -> np.ndarray | None:
        if not col:
            return None
        if not log.has(col):
            raise PolicyError(
                f"proxy_metrics.{name}: column '{col}' is not in the {log.label}", policy.source_of(f"proxy_metrics.{name}")
            )
        values = log.column(col)
        if pa.types.is_boolean(values.type):
            values = pc.cast(values, pa.float64())
        if kind_of_type(values.type) != "numeric":
            raise PolicyError(f"proxy_metrics.{name}: column '{col}' is {values.type}, not numeric",
                              policy.source_of(f"proxy_metrics.{name}"))  # fmt: skip
        array = to_numpy_float(values)
        return array if rows is None else array[rows]

    q = None
    if spec.per == "query":
        q = query if rows is None or query is None else query[rows]
    inputs = (spec.kind, column(spec.column), column(spec.numerator), column(spec.denominator), q)
    return proxy_value(*inputs), proxy_standard_error(*inputs)


def _query_codes(log: Log, policy: Policy) -> np.ndarray | None:
    if not policy.columns.query or not log.has(policy.columns.query):
        return None
    encoded = pc.dictionary_encode(log.column(policy.columns.query)).combine_chunks()
    return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _proxy_windows(reference: Log, current: Log, policy: Policy, windows: Windows | None, roles: Roles) -> list[dict[str, Any]]:
    """Each proxy metric on the reference, on the current log and per window, judged against its bounds."""
    out = []
    for name, spec in policy.proxy_metrics.items():
        profiled = isinstance(reference, ProfileLog)  # a profile: the value from its stored sums
        ref_query = None if profiled else _query_codes(reference, policy)
        cur_query = _query_codes(current, policy)
        if spec.per == "query" and ((ref_query is None and not profiled) or cur_query is None):
            raise PolicyError(f"proxy_metrics.{name}: per query needs columns.query in both logs",
                              policy.source_of(f"proxy_metrics.{name}"))  # fmt: skip
        if isinstance(reference, ProfileLog):
            ref_value = reference.proxy_value(policy, name)
        else:
            ref_value, _ = _proxy_values(reference, policy, name, None, ref_query)
        cur_value, cur_se = _proxy_values(current, policy, name, None, cur_query)
        per_window = []
        if windows is not None:
            for i in range(len(windows.starts_us)):
                rows = windows.order[windows.bounds[i] : windows.bounds[i + 1]]
                value, se = _proxy_values(current, policy, name, rows, cur_query) if len(rows) else (np.nan, np.nan)
                per_window.append((len(rows), value, se))
        out.append(_proxy_entry(policy, name, ref_value, cur_value, cur_se, windows, per_window))
    return out


def _proxy_entry(
    policy: Policy, name: str, ref_value: float, cur_value: float, cur_se: float, windows: Windows | None,
    per_window: list[tuple[int, float, float]],
) -> dict[str, Any]:  # fmt: skip
    """A proxy metric's report entry: the whole log and each window (rows, value, standard error) judged."""
    spec = policy.proxy_metrics[name]
    z = float(NormalDist().inv_cdf(policy.drift.confidence))

    def judge(value: float, se: float) -> Status:
        """Beyond a bound by more than z standard errors: a window of a few hundred queries is noisy."""
        if not np.isfinite(value):
            return Status.INCONCLUSIVE
        margin = z * se if np.isfinite(se) else 0.0
        low, high = spec.min, spec.max
        if (low is not None and value < low - margin) or (high is not None and value > high + margin):
            return Status.FAIL
        if (low is not None and value < low) or (high is not None and value > high):
            return Status.WARN
        return Status.PASS

    scores: list[WindowScore] = []
    if windows is not None:
        for i, (rows, value, se) in enumerate(per_window):
            start = _from_us(int(windows.starts_us[i]))
            scores.append(WindowScore(start, start + dt.timedelta(microseconds=windows.width_us), rows,
                                      value if np.isfinite(value) else None, spec.min, judge(value, se)))  # fmt: skip
    return {
        "name": name, "kind": spec.kind, "per": spec.per, "higher_is_better": spec.higher_is_better,
        "reference": ref_value, "current": cur_value, "min": spec.min, "max": spec.max,
        "status": judge(cur_value, cur_se), "onset": first_onset(scores, policy.drift.onset_windows),
        "windows": [{"start": w.start, "end": w.end, "rows": w.rows, "value": w.score, "status": w.status.value}
                    for w in scores],
    }  # fmt: skip


def _proxies_on_cluster(
    engine: Engine, reference: Log, current: Log, policy: Policy, windows: Windows | None, grid: Any
) -> list[dict[str, Any]]:
    """Proxy metrics on the cluster: per-request ones from merged sums (per window too), per-query ones from the rows
    shuffled by query (each partition holding whole queries), per window too."""
    from mlrel_cli.facts.proxy import proxy_facts, proxy_inputs
    from mlrel_cli.stats.ranking import mean_and_se, proxy_from_sums

    if not policy.proxy_metrics:
        return []
    per_query = [name for name, spec in policy.proxy_metrics.items() if spec.per == "query"]
    query = policy.columns.query
    if per_query and not (query and reference.has(query) and current.has(query)):
        raise PolicyError(f"proxy_metrics.{per_query[0]}: per query needs columns.query in both logs",
                          policy.source_of(f"proxy_metrics.{per_query[0]}"))  # fmt: skip
    sides = []
    for log, side_grid in ((reference, None), (current, grid)):
        metrics = {name: (spec.kind, proxy_inputs(policy, log, name)) for name, spec in policy.proxy_metrics.items()}
        columns = list(dict.fromkeys(c for _, inputs in metrics.values() for c in inputs.values()))
        if side_grid is not None and side_grid[0] not in columns:
            columns.append(side_grid[0])
        request = {name: m for name, m in metrics.items() if name not in per_query}
        found = engine.reduce(log, columns, partial(proxy_facts, metrics=request, grid=side_grid)) if request else {}
        if per_query:
            n_windows = side_grid[4] if side_grid is not None else 0
            names = [f"proxy:{name}{suffix}" for name in per_query for suffix in ["", *(f"@{i}" for i in range(n_windows))]]
            names += [f"rows@{i}" for i in range(n_windows)]
            units = partial(_query_units, metrics={name: metrics[name] for name in per_query}, grid=side_grid)
            found["per_query"] = engine.per_query_sums(log, [query, *columns], query, units, names)  # type: ignore[list-item,arg-type]
        sides.append(found)
    out = []
    for name, spec in policy.proxy_metrics.items():
        if name in per_query:
            sums = [side["per_query"] for side in sides]
            ref_value, _ = mean_and_se(sums[0][f"proxy:{name}"])
            cur_value, cur_se = mean_and_se(sums[1][f"proxy:{name}"])
            count = len(windows.starts_us) if windows is not None else 0
            per_window = [(int(sums[1][f"rows@{i}"]["n"]), *mean_and_se(sums[1][f"proxy:{name}@{i}"])) for i in range(count)]
        else:
            ref_value, _ = proxy_from_sums(spec.kind, sides[0][f"proxy:{name}"].values)
            cur_value, cur_se = proxy_from_sums(spec.kind, sides[1][f"proxy:{name}"].values)
            parts = sides[1].get(f"proxy:{name}@windows")
            per_window = [(int(p.values["rows"]), *proxy_from_sums(spec.kind, p.values)) for p in parts.parts] if parts else []
        out.append(_proxy_entry(policy, name, ref_value, cur_value, cur_se, windows, per_window))
    return out


def _query_units(
    table: pa.Table, codes: np.ndarray, metrics: dict[str, tuple[str, dict[str, str]]], grid: Any
) -> dict[str, np.ndarray]:
    """Per-query values of each per-query proxy metric, over whole queries and within each window."""
    from mlrel_cli.facts.proxy import as_float
    from mlrel_cli.logs import timestamps_keeping_rows
    from mlrel_cli.stats.ranking import per_query_proxy

    windows = None
    if grid is not None:
        column, where, origin, width, n_windows = grid
        windows = assign_windows(timestamps_keeping_rows(table.column(column), where), origin, width, n_windows)
    units: dict[str, np.ndarray] = {}
    for name, (kind, inputs) in metrics.items():
        arrays = {key: as_float(table.column(column)) for key, column in inputs.items()}

        def per_query(rows: Any, arrays: dict[str, np.ndarray] = arrays, kind: str = kind) -> np.ndarray:
            column, num, den = (arrays[key][rows] if key in arrays else None for key in ("column", "numerator", "denominator"))
            return per_query_proxy(kind, column, num, den, codes[rows])

        units[f"proxy:{name}"] = per_query(slice(None))
        for i in range(len(windows.starts_us) if windows is not None else 0):
            rows = windows.order[windows.bounds[i] : windows.bounds[i + 1]]  # type: ignore[union-attr]
            units[f"proxy:{name}@{i}"] = per_query(rows) if len(rows) else np.empty(0)
            units[f"rows@{i}"] = np.ones(len(rows))
    return units


def _with_proxies(report: Report, proxies: list[dict[str, Any]]) -> Report:
    from dataclasses import replace as replace_report

    checks = list(report.checks)
    for proxy in proxies:
        status = Status.FAIL if proxy["onset"] is not None else proxy["status"]
        bound = {"min": proxy["min"], "max": proxy["max"]}
        since = f" since {proxy['onset']:%Y-%m-%d %H:%M}" if proxy["onset"] else ""
        checks.append(Check(
            name=f"proxy:{proxy['name']}", status=status, value=proxy["current"], threshold=bound,
            message=f"{proxy['name']} {proxy['reference']:.4g} in the reference, {proxy['current']:.4g} now{since}",
            details={"onset": proxy["onset"], "window_scores": [w["value"] for w in proxy["windows"]],
                     "window_status": [w["status"] for w in proxy["windows"]]},
        ))  # fmt: skip
        proxy["status"] = proxy["status"].value
    worst = max([report.status, *(c.status for c in checks[len(report.checks) :])], key=lambda s: s.severity)
    summary = report.summary
    failing = [p for p in proxies if p["onset"] is not None or p["status"] == "fail"]
    if failing:
        summary += (
            " Proxy metrics beyond their bounds: "
            + ", ".join(p["name"] + (f" (since {p['onset']:%Y-%m-%d %H:%M})" if p["onset"] else "") for p in failing)
            + "."
        )
    return replace_report(report, status=worst, summary=summary, checks=tuple(checks),
                          sections={**report.sections, "proxy_metrics": proxies})  # fmt: skip


# ---------------------------------------------------------------- planning


MISSING_FROM_CURRENT = "in the reference, missing from the current log"


def _plan(
    policy: Policy,
    reference: Log,
    current: Log,
    ref_roles: Roles,
    cur_roles: Roles,
    labels_type: pa.DataType | None,
    few_values: Callable[[str], bool],
    distributed: bool = False,
) -> tuple[list[_Plan], dict[str, str]]:
    spec = policy.drift
    critical = set(spec.critical) | {name for name, f in spec.features.items() if f.critical}
    plans: list[_Plan] = []
    not_compared: dict[str, str] = {}
    for name in spec.features:
        if name not in cur_roles.features and name != cur_roles.prediction and name != cur_roles.label:
            raise PolicyError(
                f"drift.features.{name}: '{name}' is not a feature of the current log",
                policy.source_of(f"drift.features.{name}"),
            )
    from mlrel_cli.logs import check_critical_columns  # a critical feature not compared would turn the gate off

    check_critical_columns(policy, cur_roles, current)

    columns: list[tuple[str, str, str]] = [(name, "feature", kind) for name, kind in cur_roles.features.items()]
    if spec.prediction:
        columns.append((cur_roles.prediction, "prediction", ""))
    if spec.label and ref_roles.label is not None and (cur_roles.label is not None or labels_type is not None):
        columns.append((policy.columns.label, "label", ""))

    for name, role, kind in columns:
        if not reference.has(name):
            not_compared[name] = "not in the reference"
            continue
        ref_type = reference.schema.field(name).type
        cur_type = labels_type if role == "label" and labels_type is not None else current.schema.field(name).type
        ref_kind, cur_kind = kind_of_type(ref_type), kind_of_type(cur_type)
        if ref_kind != cur_kind or pa.types.is_boolean(ref_type) != pa.types.is_boolean(cur_type):
            raise LogError(
                f"column '{name}' is {ref_type} in the reference but {cur_type} in the current log: they cannot be compared",
                current.path,
            )
        if kind == "text":
            not_compared[name] = "declared text"
            continue
        plain = role == "feature" and kind == "categorical" and not _declared_kind(policy, name) and not distributed
        if plain and is_text_like(*_distinct_and_present(reference, name)):
            not_compared[name] = "mostly distinct values: an id or free text, not categories"
            continue
        if role != "feature":
            kind = ref_kind or "categorical"
            # the outputs of a classifier are compared as classes when they are classes (integer ids included),
            # the label and the prediction alike: Wasserstein on class ids measures nothing
            if policy.task in (BINARY, MULTICLASS, None) and ref_kind == "numeric":
                kind = "categorical" if policy.task == MULTICLASS or few_values(name) else "numeric"
            if role == "prediction" and ref_kind == "categorical":
                kind = "categorical"
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
        fail: float | str = method.fail
        warn = method.warn
        source = policy.source_of(f"drift.methods.{kind}")
        if feature_spec is not None:
            if feature_spec.fail is not None:
                fail = feature_spec.fail
                source = policy.source_of(f"drift.features.{name}.fail")
            if feature_spec.warn is not None:
                warn = feature_spec.warn
        if method.is_test:
            fail, warn = policy.drift.tests.alpha, None
            source = policy.source_of("drift.tests.alpha")
        plans.append(
            _Plan(
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


def _summarise_on_cluster(
    engine: Engine, plans: list[_Plan], reference: Log, current: Log, roles: Roles, window: dt.timedelta | None
) -> tuple[Windows | None, dict[str, tuple[Any, Any, list[Any]]], Any]:
    """Both sides summarised on the cluster (and the current log per window): only summaries come back."""

    kinds = {plan.reference_column: plan.kind for plan in plans}
    grid = None
    windows = None
    if window is not None:
        assert roles.timestamp is not None
        where = f"{current.path}: {roles.timestamp}"
        times = engine.reduce(current, [roles.timestamp],
                                   partial(_time_facts, column=roles.timestamp, where=where))["time"]  # fmt: skip
        if not times.count:
            raise LogError(f"timestamp column '{roles.timestamp}' has no values to cut windows from", current.path)
        origin, n_windows = window_grid(times.oldest, times.newest, window, current.path)
        width_us = int(window.total_seconds() * 1_000_000)
        grid = (roles.timestamp, where, origin, width_us, n_windows)
        windows = Windows(origin + np.arange(n_windows, dtype=np.int64) * width_us, width_us, np.empty(0), np.empty(0))
    columns = list(kinds) + ([roles.timestamp] if grid and roles.timestamp and roles.timestamp not in kinds else [])
    ref_side = engine.reduce(reference, list(kinds),
                                  partial(drift_summaries, kinds=kinds))  # fmt: skip
    cur_side = engine.reduce(current, columns,
                                  partial(drift_summaries, kinds=kinds, grid=grid))  # fmt: skip

    def summary(sketch: Any) -> Any:
        return NumericSummary.from_sketch(sketch) if isinstance(sketch, QuantileSketch) else sketch

    precomputed = {}
    for plan in plans:
        if any(isinstance(side[column], TooManyCategories)
               for side, column in ((ref_side, plan.reference_column), (cur_side, plan.current_column))):  # fmt: skip
            continue  # not compared: the caller says why
        parts = cur_side.get(f"{plan.current_column}@windows")
        precomputed[plan.name] = (
            summary(ref_side[plan.reference_column]),
            summary(cur_side[plan.current_column]),
            [summary(p) for p in parts.parts] if parts is not None else [],
        )
    return windows, precomputed, grid


def _time_facts(table: pa.Table, column: str, where: str) -> dict[str, Any]:
    from mlrel_cli.facts.columns import TimeFacts

    return {"time": TimeFacts.of(table.column(column), where)}


def _declared_kind(policy: Policy, name: str) -> bool:
    return bool(policy.features is not None and name in policy.features and policy.features[name].kind)


def _distinct_and_present(log: Log, name: str) -> tuple[int, int]:
    if isinstance(log, ProfileLog):
        profiled = log.column_profile(name)
        assert profiled.distinct is not None  # counted for every categorical column
        return profiled.distinct, profiled.present
    column = log.column(name)
    return pc.count_distinct(column).as_py(), len(column) - column.null_count


def _few_values(log: Log, name: str) -> bool:
    if isinstance(log, ProfileLog):
        distinct = log.column_profile(name).distinct  # counted for the outputs, the columns this is asked of
        return distinct is not None and distinct <= 20
    distinct = pc.count_distinct(log.column(name)).as_py()
    return distinct <= 20


def _cut_windows(current: Log, timestamp: str, width: dt.timedelta) -> Windows:
    from mlrel_cli.logs import timestamps_keeping_rows

    ts = timestamps_keeping_rows(current.column(timestamp), f"{current.path}: {timestamp}")
    valid = ts >= 0
    if not valid.any():
        raise LogError(f"timestamp column '{timestamp}' has no values to cut windows from", current.path)
    origin, n_windows = window_grid(int(ts[valid].min()), int(ts[valid].max()), width, current.path)
    return assign_windows(ts, origin, int(width.total_seconds() * 1_000_000), n_windows)


# ---------------------------------------------------------------- reading and summarising


def summarise_column(
    load: Callable[[], pa.ChunkedArray | pa.Array], kind: str, windows: Windows | None
) -> tuple[NumericSummary | CategoricalSummary, list[NumericSummary | CategoricalSummary]]:
    """Summarise one column; ``load`` reads it here so the Arrow copy can be freed before sorting."""
    column = load()
    if kind == "numeric":
        values = float_values(column)
        del column  # from here on only the numpy copy is held: memory of one column, not two
        parts: list[NumericSummary | CategoricalSummary] = []
        if windows is not None:
            ordered = values[windows.order]
            parts = [
                NumericSummary.from_values(ordered[windows.bounds[i] : windows.bounds[i + 1]])
                for i in range(len(windows.starts_us))
            ]
            del ordered
        return NumericSummary.from_values(values, in_place=True), parts
    if isinstance(column, pa.ChunkedArray) and pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    elif pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    if windows is None:
        counts = pc.value_counts(column)
        counts = counts.combine_chunks() if isinstance(counts, pa.ChunkedArray) else counts
        values_field, counts_field = counts.field("values"), counts.field("counts").to_numpy(zero_copy_only=False)
        present = values_field.is_valid().to_numpy(zero_copy_only=False)
        missing = int(counts_field[~present].sum())
        return CategoricalSummary.from_counts(
            [v for v, ok in zip(values_field.to_pylist(), present, strict=True) if ok], counts_field[present], missing
        ), []
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.unify_dictionaries().combine_chunks()
    del column
    categories = encoded.dictionary.to_pylist()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    k = len(categories)
    counts = np.bincount(codes[codes >= 0], minlength=k)
    whole = CategoricalSummary.from_counts(categories, counts, int(np.count_nonzero(codes < 0)))
    ordered = codes[windows.order]
    n_windows = len(windows.starts_us)
    window_of_row = np.repeat(np.arange(n_windows), np.diff(windows.bounds))
    present = ordered >= 0
    matrix = np.bincount(window_of_row[present] * k + ordered[present], minlength=n_windows * k)
    matrix = matrix.reshape(n_windows, k)
    window_missing = np.bincount(window_of_row[~present], minlength=n_windows)
    parts = [CategoricalSummary.from_counts(categories, matrix[i], int(window_missing[i])) for i in range(n_windows)]
    return whole, parts


def drift_summaries(table: Any, kinds: dict[str, str], grid: tuple[str, str, int, int, int] | None = None) -> dict[str, Any]:
    """Runs on a worker: the local engine's summary of each column of a row group, numeric ones as quantile sketches;
    with a window grid (timestamp column, where, origin, width, windows), also one summary per window."""
    from mlrel_cli.facts.merge import WindowParts
    from mlrel_cli.logs import timestamps_keeping_rows
    from mlrel_cli.stats.summaries import capped

    def small(summary: Any) -> Any:
        if isinstance(summary, NumericSummary):
            return QuantileSketch.from_sorted(summary.sorted_values, summary.missing, summary.infinite)
        return summary

    windows = None
    if grid is not None:
        column, where, origin, width, n_windows = grid
        windows = assign_windows(timestamps_keeping_rows(table.column(column), where), origin, width, n_windows)
    out: dict[str, Any] = {}
    for name, kind in kinds.items():
        whole, parts = summarise_column(partial(table.column, name), kind, windows)
        out[name] = small(whole)
        if windows is not None:
            out[f"{name}@windows"] = WindowParts([capped(small(part)) for part in parts])
    return out


def float_values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A writable float64 copy with NaN for nulls, filled chunk by chunk (no combined Arrow copy)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = np.empty(len(column), dtype=np.float64)
    position = 0
    for chunk in chunks:
        out[position : position + len(chunk)] = to_numpy_float(chunk)
        position += len(chunk)
    return out


def _loader(log: Log, name: str, labels: pa.Array | None, role: str) -> Callable[[], pa.Array | pa.ChunkedArray]:
    if role == "label" and labels is not None:
        return lambda: labels
    return lambda: log.column(name)


# ---------------------------------------------------------------- judging


def _compare(
    plan: _Plan,
    reference: Log,
    current: Log,
    policy: Policy,
    windows: Windows | None,
    current_labels: pa.Array | None,
    precomputed: tuple[Any, Any, list[Any]] | None = None,
    false_alarm_rate: float = 0.01,
) -> FeatureDrift:
    spec = policy.drift
    if precomputed is not None:  # built on a cluster: no rows here
        ref_summary, cur_summary, window_summaries = precomputed
    else:
        if isinstance(reference, ProfileLog):
            ref_summary = reference.summary(plan.reference_column, plan.kind)
        else:
            ref_summary, _ = summarise_column(_loader(reference, plan.reference_column, None, plan.role), plan.kind, None)
        cur_summary, window_summaries = summarise_column(
            _loader(current, plan.current_column, current_labels, plan.role), plan.kind, windows
        )
    quantile = 1.0 - false_alarm_rate
    noise_cache: dict[int, float] = {}

    def noise_at(n: int) -> float:
        # sizes rounded down to a quarter power of two: a few noise estimates serve every window, and a
        # smaller size has more noise, so the rounding errs towards 'inconclusive', never towards a false alarm
        bucket = max(1, int(2 ** (np.floor(4 * np.log2(max(n, 1))) / 4)))
        if bucket not in noise_cache:
            noise_cache[bucket] = null_quantile(plan.method, ref_summary, bucket, quantile, spec.bins)
        return noise_cache[bucket]

    def judge(cur: NumericSummary | CategoricalSummary) -> tuple[Status, float | None, Any, float | None, str]:
        """The values' verdict, made a failure when the missing rate moved beyond its noise."""
        status, score, result, threshold, why = judge_values(cur)
        # a label arrives late: its missing share is coverage (validate's label_coverage), not drift
        moved = "" if plan.role == "label" else missing_rate_moved(ref_summary, cur, false_alarm_rate, spec.max_missing_change)
        return (Status.FAIL, score, result, threshold, moved) if moved else (status, score, result, threshold, why)

    def judge_values(cur: NumericSummary | CategoricalSummary) -> tuple[Status, float | None, Any, float | None, str]:
        """status, score, result, threshold, why-inconclusive"""
        if ref_summary.count == 0:
            return Status.INCONCLUSIVE, None, None, None, "no values in the reference"
        if ref_summary.count < spec.min_rows:  # a reference of a few rows says nothing about its distribution
            return Status.INCONCLUSIVE, None, None, None, f"{ref_summary.count:,} reference rows, fewer than {spec.min_rows:,}"
        if cur.count == 0:
            return Status.INCONCLUSIVE, None, None, None, "no values in the current log"
        if cur.count < spec.min_rows:
            return Status.INCONCLUSIVE, None, None, None, f"{cur.count:,} rows, fewer than {spec.min_rows:,}"
        result = plan.method.compute(ref_summary, cur, spec.bins)
        if plan.method.is_test:
            return Status.PASS, result.score, result, plan.method.fail, ""  # decided after correction
        noise = noise_at(cur.count)
        threshold = noise if plan.fail == "auto" else float(plan.fail)
        beyond_noise = breaches(plan.method, result.score, noise)
        if plan.fail != "auto" and noise >= threshold and not (breaches(plan.method, result.score, threshold) and beyond_noise):
            # too few rows to tell a pass from chance; a score past both the threshold and the noise is still drift
            return (
                Status.INCONCLUSIVE,
                result.score,
                result,
                threshold,
                f"{cur.count:,} rows are too few for {plan.method.name}: unchanged data scores up to {noise:.3g} by chance",
            )
        if breaches(plan.method, result.score, threshold):
            return Status.FAIL, result.score, result, threshold, ""
        if plan.warn is not None and breaches(plan.method, result.score, plan.warn):
            return Status.WARN, result.score, result, threshold, ""
        return Status.PASS, result.score, result, threshold, ""

    status, score, result, threshold, why = judge(cur_summary)
    window_scores = []
    if windows is not None:
        for i, summary in enumerate(window_summaries):
            w_status, w_score, _, w_threshold, _ = judge(summary)
            start = _from_us(int(windows.starts_us[i]))
            window_scores.append(
                WindowScore(
                    start=start,
                    end=start + dt.timedelta(microseconds=windows.width_us),
                    rows=summary.count,
                    score=w_score,
                    threshold=w_threshold,
                    status=w_status,
                )
            )
    onset = first_onset(window_scores, spec.onset_windows)
    noise_value = None if plan.method.is_test or cur_summary.count == 0 else noise_at(cur_summary.count)
    return FeatureDrift(
        name=plan.name,
        role=plan.role,
        kind=plan.kind,
        method=plan.method.name,
        score=score,
        statistic=result.statistic if result is not None else None,
        p_value=result.p_value if result is not None else None,
        threshold=threshold if threshold is not None else (cast(float, plan.fail) if plan.fail != "auto" else float("nan")),
        warn=plan.warn,
        status=status,
        message=why or _describe(plan, status, score, threshold, onset, window_scores),
        source=plan.source,
        critical=plan.critical,
        rows_reference=ref_summary.count,
        rows_current=cur_summary.count,
        noise=noise_value,
        missing_reference=ref_summary.missing_rate,
        missing_current=cur_summary.missing_rate,
        unseen=_unseen(ref_summary, cur_summary),
        windows=tuple(window_scores),
        onset=onset,
        histogram=_histogram(ref_summary, cur_summary, spec.bins, _onset_summary(window_scores, window_summaries, onset)),
    )


def missing_rate_moved(ref: Any, cur: Any, false_alarm_rate: float, max_change: float) -> str:
    """Why the missing rate (nulls and NaN) drifted, or '' when it did not: a change larger than
    ``max_change`` and significant at the comparison's false-alarm rate."""
    from mlrel_cli.stats.drift import missing_rate_test

    change, p = missing_rate_test(ref.missing, ref.total, cur.missing, cur.total)
    if not (abs(change) > max_change and p < false_alarm_rate):
        return ""
    return f"missing rate {ref.missing_rate:.1%} -> {cur.missing_rate:.1%} (p = {p:.2g}): nulls or NaN drifted"


def _onset_summary(scores: list[WindowScore], summaries: list[Any], onset: dt.datetime | None) -> Any:
    """The onset window's summary, already built for its score: its distribution is what changed."""
    if onset is None:
        return None
    return next((summaries[i] for i, w in enumerate(scores) if w.start == onset and i < len(summaries)), None)


def _histogram(ref: Any, cur: Any, bins: int, onset: Any = None) -> dict[str, list[Any]] | None:
    """Both sides' proportions over the reference's quantile bins (numeric) or the top categories, for charts;
    with ``onset`` (the onset window's summary), its proportions too, so a diluted shift still shows."""
    if ref.count == 0 or cur.count == 0:
        return None
    o = None
    if isinstance(ref, NumericSummary):
        edges = ref.quantile_edges(bins)
        labels = [f"<={e:.3g}" for e in edges] + [f">{edges[-1]:.3g}" if len(edges) else "all"]
        r, c = ref.bin_counts(edges), cur.bin_counts(edges)
        if onset is not None and onset.count:
            o = onset.bin_counts(edges)
    else:
        from mlrel_cli.stats.summaries import aligned_counts

        r, c, order = aligned_counts(ref, cur)
        top = np.argsort(-(r / r.sum() + c / c.sum()), kind="stable")[:12]
        if onset is not None and onset.count:
            in_onset = onset.as_dict()
            o = np.array([in_onset.get(order[i], 0) for i in top], dtype=np.float64)
        labels, r, c = [str(order[i]) for i in top], r[top], c[top]
    out: dict[str, list[Any]] = {
        "labels": labels,
        "reference": [float(x) for x in r / ref.count],
        "current": [float(x) for x in c / cur.count],
    }
    if o is not None:
        out["onset_window"] = [float(x) for x in o / onset.count]
    return out


def first_onset(windows: list[WindowScore] | tuple[WindowScore, ...], persistence: int) -> dt.datetime | None:
    """The start of the first run of ``persistence`` consecutive windows past the fail threshold.

    With a hundred windows a day, one window in a hundred crosses by chance;
    asking for two in a row makes a chance onset a rare event, and a real
    shift lasts longer than one window.
    """
    run = 0
    for i, window in enumerate(windows):
        run = run + 1 if window.status == Status.FAIL else 0
        if run >= persistence:
            return windows[i - persistence + 1].start
    return None


def breach_verdict(r: FeatureDrift) -> FeatureDrift:
    """One story for a feature whose windows breach: status fail, and the breaching value (the worst failing
    window's score) as its score, the whole-log score kept beside it, so an alert on the value sees it."""
    if r.onset is None or r.status == Status.FAIL:
        return r
    failing = [w for w in r.windows if w.status == Status.FAIL and w.score is not None]
    if not failing:
        return r
    is_test = METHOD_BY_NAME[r.method].is_test
    worst = min(failing, key=lambda w: w.score) if is_test else max(failing, key=lambda w: w.score)  # type: ignore[arg-type,return-value]
    relation = "<" if is_test else ">"
    whole = f"{r.score:.3g}" if r.score is not None else "not judged"
    threshold = worst.threshold if worst.threshold is not None else r.threshold
    message = (
        f"drifted from {r.onset:%Y-%m-%d %H:%M}: {'p' if is_test else r.method} {worst.score:.3g} {relation} "
        f"{threshold:.3g} in the window of {worst.start:%H:%M} (whole log {whole})"
    )
    return replace(r, status=Status.FAIL, score=worst.score, threshold=threshold, whole_log_score=r.score, message=message)


def _describe(
    plan: _Plan,
    status: Status,
    score: float | None,
    threshold: float | None,
    onset: dt.datetime | None = None,
    windows: list[WindowScore] | None = None,
) -> str:
    if score is None or threshold is None:
        return ""
    if onset is not None and status != Status.FAIL and not plan.method.is_test:
        peak = max((w.score for w in windows or [] if w.score is not None and w.status == Status.FAIL), default=score)
        return (
            f"drifted from {onset:%Y-%m-%d %H:%M}: {plan.method.name} up to {peak:.3g} > {threshold:.3g} per window "
            f"(whole log {score:.3g})"
        )
    verb = {Status.FAIL: "drifted", Status.WARN: "moved", Status.PASS: "stable"}.get(status, "")
    relation = ("<" if score < threshold else ">=") if plan.method.is_test else (">" if score > threshold else "<=")
    label = "p" if plan.method.is_test else plan.method.name
    auto = " (auto)" if plan.fail == "auto" else ""
    return f"{verb}: {label} {score:.3g} {relation} {threshold:.3g}{auto}"


def _unseen(ref: Any, cur: Any) -> dict[str, Any] | None:
    if not isinstance(cur, CategoricalSummary) or not isinstance(ref, CategoricalSummary):
        return None
    known = set(ref.categories)
    unseen = sorted(
        ((c, int(n)) for c, n in zip(cur.categories, cur.counts, strict=True) if c not in known and n > 0),
        key=lambda item: -item[1],
    )
    rows = sum(n for _, n in unseen)
    return {
        "categories": len(unseen),
        "rows": rows,
        "fraction": rows / cur.count if cur.count else 0.0,
        "top": [{"value": c, "count": n} for c, n in unseen[:TOP_UNSEEN]],
    }


def _from_us(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def _correct_tests(results: list[FeatureDrift], policy: Policy) -> list[FeatureDrift]:
    """Opt-in tests: adjust p-values across features (and across features within each window)."""
    spec = policy.drift.tests
    tested = [i for i, r in enumerate(results) if METHOD_BY_NAME[r.method].is_test and r.p_value is not None]
    if not tested:
        return results
    adjusted = adjust_p_values(np.array([results[i].p_value for i in tested]), spec.correction)
    out = list(results)
    for i, p_adj in zip(tested, adjusted, strict=True):
        r = out[i]
        status = Status.FAIL if p_adj < spec.alpha else Status.PASS
        verb = "drifted" if status == Status.FAIL else "stable"
        message = f"{verb}: p {r.p_value:.3g}, {spec.correction.replace('_', '-')} adjusted {p_adj:.3g} vs {spec.alpha}"
        out[i] = replace(r, score=float(p_adj), status=status, message=message)
    n_windows = max((len(r.windows) for r in out), default=0)
    for w in range(n_windows):
        members = [i for i in tested if w < len(out[i].windows) and out[i].windows[w].score is not None]
        if not members:
            continue
        adjusted = adjust_p_values(np.array([out[i].windows[w].score for i in members]), spec.correction)
        for i, p_adj in zip(members, adjusted, strict=True):
            windows = list(out[i].windows)
            status = Status.FAIL if p_adj < spec.alpha else Status.PASS
            windows[w] = replace(windows[w], score=float(p_adj), status=status)
            onset = first_onset(windows, policy.drift.onset_windows)
            out[i] = replace(out[i], windows=tuple(windows), onset=onset)
    return out


# ---------------------------------------------------------------- concept drift


@dataclass(frozen=True)
class ConceptDrift:
    metric: str
    reference: float
    current: float
    degradation: float
    standard_error: float
    threshold: float
    status: Status
    message: str
    rows_reference: int
    rows_current: int


def _concept(
    reference: Log,
    current: Log,
    ref_roles: Roles,
    cur_roles: Roles,
    current_labels: pa.Array | None,
    policy: Policy,
) -> tuple[ConceptDrift | None, str | None]:
    spec = policy.drift
    task = policy.task
    if isinstance(reference, ProfileLog):  # the labelled cells the profile kept, and the task it inferred
        task, ref_pred, ref_label = reference.concept_inputs(ref_roles, policy)
        if ref_pred is None or ref_label is None:
            return None, task
    elif ref_roles.label is None:
        return None, task or infer_task(reference.column(ref_roles.prediction), None)
    else:
        ref_pred = reference.column(ref_roles.prediction).combine_chunks()
        ref_label = reference.column(ref_roles.label).combine_chunks()
        task = task or infer_task(reference.column(ref_roles.prediction), ref_label)
    cur_label = current_labels
    if cur_label is None and cur_roles.label is not None:
        cur_label = current.column(cur_roles.label).combine_chunks()
    if cur_label is None or task not in DEFAULT_CONCEPT_METRIC:
        return None, task
    metric = spec.concept_metric or DEFAULT_CONCEPT_METRIC[task]
    if task not in METRIC_BY_NAME[metric].tasks:
        raise PolicyError(
            f"drift.concept_metric: '{metric}' does not apply to task '{task}'",
            policy.source_of("drift.concept_metric"),
        )
    cur_pred = current.column(cur_roles.prediction).combine_chunks()
    ref_data = _labelled(task, ref_pred, ref_label, policy)
    cur_data = _labelled(task, cur_pred, cur_label, policy)
    threshold = policy.validate_.performance.decision_threshold

    def value(truth: np.ndarray, predicted: np.ndarray) -> float:
        return metric_value(task, metric, truth, predicted, threshold)

    ref_value, n_ref, population = None, len(ref_data[0]), None
    if isinstance(reference, ProfileLog) and (kept := reference.reference_metric(metric)) is not None:
        (ref_value, n_ref), population = kept, kept[1]  # a sketch profile: the metric of all rows, cells sampled
    return _judge_concept(metric, value(*ref_data) if ref_value is None else ref_value, value(*cur_data),
                          lambda: float(np.hypot(bootstrap_se(value, ref_data, population=population),
                                                 bootstrap_se(value, cur_data))),
                          n_ref, len(cur_data[0]), policy), task  # fmt: skip


def _judge_concept(
    metric: str, ref_value: float, cur_value: float, standard_error: Callable[[], float], n_ref: int, n_cur: int,
    policy: Policy,
) -> ConceptDrift:  # fmt: skip
    """Worse by more than the allowed degradation, and by more than z standard errors: concept drift."""
    spec = policy.drift
    allowed = concept_allowed_degradation(spec.concept_max_degradation, spec.concept_max_relative_degradation, ref_value)
    if min(n_ref, n_cur) < policy.validate_.performance.min_rows:
        return ConceptDrift(metric, float("nan"), float("nan"), float("nan"), float("nan"), allowed,
                            Status.INCONCLUSIVE, f"too few labelled rows ({n_ref:,} reference, {n_cur:,} current)",
                            n_ref, n_cur)  # fmt: skip
    higher = METRIC_BY_NAME[metric].higher_is_better
    degradation = (ref_value - cur_value) if higher else (cur_value - ref_value)
    se = float("nan")
    if degradation > allowed:  # only a breach needs to be told from noise
        se = standard_error()
    z = float(NormalDist().inv_cdf(spec.confidence))
    excess = degradation - allowed
    if not np.isfinite(degradation):
        status, message = Status.INCONCLUSIVE, f"{metric} undefined on these rows"
    elif excess > 0 and (not np.isfinite(se) or excess > z * se):
        status, message = Status.FAIL, f"{metric} {ref_value:.4g} -> {cur_value:.4g}: worse by {degradation:.3g}"
    elif excess > 0:
        status = Status.WARN
        message = f"{metric} {ref_value:.4g} -> {cur_value:.4g}: worse by {degradation:.3g}, within noise (SE {se:.2g})"
    else:
        status, message = Status.PASS, f"{metric} {ref_value:.4g} -> {cur_value:.4g}"
    return ConceptDrift(metric, ref_value, cur_value, degradation, se, allowed, status, message,
                        n_ref, n_cur)  # fmt: skip


def concept_allowed_degradation(absolute: float | None, relative: float, reference_value: float) -> float:
    """The degradation of the metric allowed before it is concept drift, in the metric's units: the absolute
    limit when the policy sets one, else ``relative`` of the reference's value (an RMSE in dollars and an AUC
    get the same 5 %), so the default does not depend on the target's scale."""
    if absolute is not None:
        return absolute
    return relative * abs(reference_value) if np.isfinite(reference_value) else relative


def _concept_on_cluster(
    engine: Engine, reference: Log, current: Log, ref_roles: Roles, cur_roles: Roles, policy: Policy
) -> tuple[ConceptDrift | None, str | None]:
    """_concept from the cluster: the metric on each side from merged labelled parts, standard errors from samples."""
    from mlrel_cli.facts.merge import sample_rows
    from mlrel_cli.stats.inference import SE_MAX_ROWS

    columns = [c for c in (ref_roles.prediction, ref_roles.label) if c is not None]
    task = policy.task
    if task is None:
        fraction = min(1.0, 2 * SE_MAX_ROWS / max(reference.num_rows, 1))
        sample = engine.reduce(reference, columns, partial(sample_rows, columns=columns,
                        fraction=fraction), seeded=True)["sample"].table  # fmt: skip
        task = infer_task(sample.column(ref_roles.prediction), sample.column(ref_roles.label) if ref_roles.label else None)
    if ref_roles.label is None or cur_roles.label is None or task not in DEFAULT_CONCEPT_METRIC:
        return None, task
    metric = policy.drift.concept_metric or DEFAULT_CONCEPT_METRIC[task]
    if task not in METRIC_BY_NAME[metric].tasks:
        raise PolicyError(f"drift.concept_metric: '{metric}' does not apply to task '{task}'",
                          policy.source_of("drift.concept_metric"))  # fmt: skip
    threshold = policy.validate_.performance.decision_threshold
    sides = []
    for log, roles in ((reference, ref_roles), (current, cur_roles)):
        assert roles.label is not None  # both sides are labelled (checked above)
        prepare = partial(_labelled_rows, prediction=roles.prediction, label=roles.label, policy=policy, task=task)
        sides.append(engine.labelled_summary(log, [roles.prediction, roles.label], prepare, task, threshold,
                                      2 * SE_MAX_ROWS))  # fmt: skip
    ref, cur = sides

    def value(truth: np.ndarray, predicted: np.ndarray) -> float:
        return metric_value(task, metric, truth, predicted, threshold)

    def se_of(side: dict[str, Any]) -> float:
        sample = side["sample"]
        arrays = tuple(sample.column(c).to_numpy(zero_copy_only=False) for c in ("truth", "predicted"))
        return bootstrap_se(value, arrays, population=side["rows"])

    return _judge_concept(metric, ref["metrics"].get(metric, float("nan")), cur["metrics"].get(metric, float("nan")),
                          lambda: float(np.hypot(se_of(ref), se_of(cur))), ref["rows"], cur["rows"], policy), task  # fmt: skip


def _labelled_rows(
    table: pa.Table, prediction: str, label: str, policy: Policy, task: str
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    truth, predicted = _labelled(task, table.column(prediction).combine_chunks(), table.column(label).combine_chunks(), policy)
    return truth, predicted, {}


def _labelled(task: str, prediction: pa.Array, label: pa.Array, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    keep = pc.and_(pc.is_valid(prediction), pc.is_valid(label))
    prediction, label = pc.filter(prediction, keep), pc.filter(label, keep)
    if task == BINARY:
        positive = policy.validate_.performance.positive_label
        if kind_of_type(label.type) == "numeric" and not pa.types.is_boolean(label.type):
            truth = to_numpy_float(label) == float(positive)
        else:
            truth = pc.cast(label, pa.string()).to_numpy(zero_copy_only=False).astype(str) == str(positive).lower()
            if pa.types.is_boolean(label.type):
                truth = to_numpy_float(pc.cast(label, pa.int8())) == 1.0
        score = to_numpy_float(prediction)
        ok = np.isfinite(score)
        return truth[ok], score[ok]
    if task == MULTICLASS:
        return (
            pc.cast(label, pa.string()).to_numpy(zero_copy_only=False).astype(str),
            pc.cast(prediction, pa.string()).to_numpy(zero_copy_only=False).astype(str),
        )
    y, p = to_numpy_float(label), to_numpy_float(prediction)
    ok = np.isfinite(y) & np.isfinite(p)
    return y[ok], p[ok]


# ---------------------------------------------------------------- the report


def _report(
    results: list[FeatureDrift],
    not_compared: dict[str, str],
    concept: ConceptDrift | None,
    policy: Policy,
    reference: Log,
    current: Log,
    window: dt.timedelta | None,
    task: str | None,
) -> Report:
    spec = policy.drift
    features = [r for r in results if r.role == "feature"]
    outputs = [r for r in results if r.role != "feature"]
    ranked = sorted(features, key=_rank_key)
    judged = [r for r in features if r.status != Status.INCONCLUSIVE]
    # drifted: over the whole log, or in a persistent run of windows (the onset)
    drifted = [r for r in features if r.status == Status.FAIL or r.onset is not None]
    share = len(drifted) / len(judged) if judged else 0.0
    critical_drifted = [r for r in results if r.critical and (r.status == Status.FAIL or r.onset is not None)]
    critical_unjudged = [r for r in results if r.critical and r.status == Status.INCONCLUSIVE]

    checks: list[Check] = []
    for r in ranked + outputs:
        gate = Status.FAIL if r.onset is not None and r.status in (Status.PASS, Status.WARN) else r.status
        if gate == Status.FAIL and not r.critical:
            gate = Status.WARN  # drifted, but only critical features and the share decide the run
        label = r.name if r.role == "feature" or r.name == r.role else f"{r.role}:{r.name}"
        checks.append(
            Check(
                name=f"drift:{label}",
                status=gate,
                value=r.score,
                threshold=r.threshold,
                message=r.message + (" [critical]" if r.critical else ""),
                details={
                    "method": r.method,
                    "drift_status": r.status.value,
                    "onset": r.onset,
                    "whole_log_score": r.whole_log_score if r.whole_log_score is not None else r.score,
                    "noise": r.noise,
                    "missing_change": r.missing_current - r.missing_reference,
                    "unseen": r.unseen,
                    "window_scores": [w.score for w in r.windows],
                    "window_status": [w.status.value for w in r.windows],
                    "is_test": METHOD_BY_NAME[r.method].is_test,
                },
                source=r.source,
            )
        )
    gone = [name for name, why in not_compared.items() if why == MISSING_FROM_CURRENT]
    if gone:
        checks.append(
            Check(
                name="schema",
                status=Status.FAIL,
                value=len(gone),
                threshold=0,
                message=f"{len(gone)} feature(s) of the reference missing from the current log: {', '.join(gone[:10])}",
                details={"missing_columns": gone},
                source="default",
            )
        )
    share_status = Status.FAIL if share > spec.max_drifted_share else Status.PASS
    checks.append(
        Check(
            name="drifted_share",
            status=share_status,
            value=share,
            threshold=spec.max_drifted_share,
            message=f"{len(drifted)} of {len(judged)} judged features drifted",
            details={"drifted": [r.name for r in drifted]},
            source=policy.source_of("drift.max_drifted_share"),
        )
    )
    if concept is not None:
        checks.append(
            Check(
                name=f"concept:{concept.metric}",
                status=concept.status,
                value=concept.degradation,
                threshold=concept.threshold,
                message=concept.message,
                details={
                    "reference": concept.reference,
                    "current": concept.current,
                    "standard_error": concept.standard_error,
                    "rows_reference": concept.rows_reference,
                    "rows_current": concept.rows_current,
                },
                source=policy.source_of(
                    "drift.concept_max_degradation"
                    if spec.concept_max_degradation is not None
                    else "drift.concept_max_relative_degradation"
                ),
            )
        )

    if critical_drifted or gone or share_status == Status.FAIL or (concept and concept.status == Status.FAIL):
        status = Status.FAIL
    elif (features and not judged) or critical_unjudged:
        status = Status.INCONCLUSIVE
    elif any(c.status != Status.PASS for c in checks):
        status = Status.WARN
    else:
        status = Status.PASS

    summary = _summary(status, features, drifted, critical_drifted, concept, share, spec.max_drifted_share)
    if gone:
        summary = f"missing from the current log: {', '.join(gone[:4])}; " + summary
    inputs = {
        "reference": reference.path,
        "current": current.path,
        "rows_reference": reference.num_rows,
        "rows_current": current.num_rows,
        "policy": list(policy.files),
        "task": task,
        "window": format_duration(window) if window else None,
        "not_compared": not_compared,
    }
    return Report(
        command="drift",
        status=status,
        summary=summary,
        checks=tuple(checks),
        inputs=inputs,
        sections={
            "features": [r.to_dict() for r in ranked],
            "outputs": [r.to_dict() for r in outputs],
            "concept": None
            if concept is None
            else {
                "metric": concept.metric,
                "reference": concept.reference,
                "current": concept.current,
                "degradation": concept.degradation,
                "standard_error": concept.standard_error,
                "threshold": concept.threshold,
                "status": concept.status.value,
            },
        },
    )


def _rank_key(r: FeatureDrift) -> tuple[int, float]:
    """Drifted first, then by how far past its threshold the score is."""
    order = 0 if r.onset is not None else {Status.FAIL: 0, Status.WARN: 1, Status.INCONCLUSIVE: 2, Status.PASS: 3}[r.status]
    if r.score is None or not r.threshold or not np.isfinite(r.threshold):
        return order, 0.0
    ratio = (r.threshold / max(r.score, 1e-300)) if METHOD_BY_NAME[r.method].is_test else r.score / r.threshold
    return order, -ratio


def _summary(
    status: Status,
    features: list[FeatureDrift],
    drifted: list[FeatureDrift],
    critical: list[FeatureDrift],
    concept: ConceptDrift | None,
    share: float,
    max_share: float,
) -> str:
    parts = []
    if drifted:
        names = ", ".join(r.name + (f" (since {_short(r.onset)})" if r.onset else "") for r in drifted[:4])
        more = f" and {len(drifted) - 4} more" if len(drifted) > 4 else ""
        parts.append(f"{len(drifted)} of {len(features)} features drifted: {names}{more}")
    else:
        parts.append(f"no drift in {len(features)} features")
    if critical:
        parts.append("critical: " + ", ".join(r.name for r in critical))
    if share > max_share:
        parts.append(f"{share:.0%} drifted, above the {max_share:.0%} limit")
    if concept is not None and concept.status in (Status.FAIL, Status.WARN):
        parts.append(concept.message)
    inconclusive = [r.name for r in features if r.status == Status.INCONCLUSIVE]
    if inconclusive:
        parts.append(f"{len(inconclusive)} not judged (too little data)")
    return "; ".join(parts) + "."


def _short(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""
