"""Suggestions for a missed or late fault, each verified by replaying the fault with it applied."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from mlrel_cli.analysis.drill.payloads import ReplayPlan, Scenario
from mlrel_cli.analysis.drill.plan import memory_log
from mlrel_cli.analysis.drill.replay import HealthyReplay, labels_as_of, run_fault, window_edges
from mlrel_cli.durations import format_duration
from mlrel_cli.errors import MlrelError
from mlrel_cli.logs.values import timestamps_keeping_rows
from mlrel_cli.payloads.drill import FaultResult, Suggestion, from_us
from mlrel_cli.policy import Policy


def with_suggestion(
    result: FaultResult,
    scenario: Scenario,
    plan: ReplayPlan,
    policy: Policy,
    baselines: dict[tuple[str, int, int], HealthyReplay],
) -> FaultResult:
    """The first candidate change that, replayed, catches the fault (in budget, for a late one); else the first one."""
    candidates = list(_candidates(result, scenario, plan, policy))
    for candidate in candidates:
        if _verify(candidate, scenario, plan, policy, baselines):
            return replace(result, suggestion=replace(candidate, verified=True))
    return replace(result, suggestion=candidates[0] if candidates else None)


def _candidates(result: FaultResult, scenario: Scenario, plan: ReplayPlan, policy: Policy) -> Iterable[Suggestion]:
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


def _tighter_metric_bounds(plan: ReplayPlan, policy: Policy) -> Iterable[Suggestion]:
    """For a missed concept change: each bounded metric's limit moved to 5 % short of its value on the first healthy
    window (the replay then says whether that still passes on healthy traffic and catches the fault)."""
    from mlrel_cli.analysis.validate import validate
    from mlrel_cli.stats.names import METRIC_BY_NAME

    table, edges = window_edges(plan.replayed, plan)
    rows = int(edges[1] - edges[0])
    if rows == 0:
        return
    now = from_us(int(plan.starts_us[0]) + plan.width_us)
    window = memory_log(labels_as_of(table.slice(int(edges[0]), rows), plan, policy, now), "log")
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


def _window_rows(plan: ReplayPlan) -> np.ndarray:
    """Rows of each replayed window of the healthy log."""
    times = timestamps_keeping_rows(plan.replayed.column(plan.roles.timestamp), "drill copy")
    starts = plan.starts_us
    return np.diff(np.searchsorted(times, np.append(starts, starts[-1] + plan.width_us), side="left"))


def _width(plan: ReplayPlan) -> dt.timedelta:
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
    candidate: Suggestion,
    scenario: Scenario,
    plan: ReplayPlan,
    policy: Policy,
    baselines: dict[tuple[str, int, int], HealthyReplay],
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
            baselines[key] = HealthyReplay(trial, patched)
        result = run_fault(scenario, trial, patched, baselines[key])
    except MlrelError:
        return False
    # a missed fault is helped by being caught at all; a late one only by being caught in time
    return result.caught and (result.within_budget or candidate.every is None)
