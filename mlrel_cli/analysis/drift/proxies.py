"""Proxy (business) metrics in drift: each on the reference, the current log and per window, judged against the
policy's bounds with the noise rule concept drift's windows share (``beyond_bounds``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from statistics import NormalDist

import numpy as np

from mlrel_cli.analysis.drift.judge import first_onset, from_us
from mlrel_cli.analysis.reference import LogReference, ProfileReference
from mlrel_cli.engine.interface import Engine
from mlrel_cli.facts.proxy import ProxyFacts
from mlrel_cli.facts.windows import WindowGrid
from mlrel_cli.logs import Log
from mlrel_cli.payloads.drift import ProxyDrift, ProxyWindow
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Report, Status


def beyond_bounds(value: float, se: float, low: float | None, high: float | None, z: float) -> Status:
    """Beyond a bound by more than z standard errors: fail; beyond it within that noise: warn. A window of a few
    hundred rows is noisy, so a window is judged against its own standard error, not against the bound alone."""
    if not np.isfinite(value):
        return Status.INCONCLUSIVE
    margin = z * se if np.isfinite(se) else 0.0
    if (low is not None and value < low - margin) or (high is not None and value > high + margin):
        return Status.FAIL
    if (low is not None and value < low) or (high is not None and value > high):
        return Status.WARN
    return Status.PASS


def proxy_metrics(
    engine: Engine, reference: LogReference | ProfileReference, current: Log, policy: Policy, grid: WindowGrid | None
) -> list[ProxyDrift]:
    """Each proxy metric on the reference (``reference``: the drift run's reference facts), on the current log and
    per window, judged against its bounds."""
    if not policy.proxy_metrics:
        return []
    ref = reference.proxy_metrics(policy)
    cur = engine.proxy_metrics(current, policy, grid)
    return [proxy_entry(policy, name, ref[name].value, cur[name], grid) for name in policy.proxy_metrics]


def proxy_entry(policy: Policy, name: str, ref_value: float, cur: ProxyFacts, grid: WindowGrid | None) -> ProxyDrift:
    """A proxy metric's report entry: the whole log and each window (rows, value, standard error) judged."""
    spec = policy.proxy_metrics[name]
    z = float(NormalDist().inv_cdf(policy.drift.confidence))

    def judge(value: float, se: float) -> Status:
        return beyond_bounds(value, se, spec.min, spec.max, z)

    windows: list[ProxyWindow] = []
    if grid is not None:
        for i, (rows, value, se) in enumerate(cur.windows):
            start = from_us(int(grid.starts_us[i]))
            end = start + dt.timedelta(microseconds=grid.width_us)
            windows.append(ProxyWindow(start, end, rows, value if np.isfinite(value) else None, judge(value, se)))
    return ProxyDrift(
        name=name,
        kind=spec.kind,
        per=spec.per,
        higher_is_better=spec.higher_is_better,
        reference=ref_value,
        current=cur.value,
        min=spec.min,
        max=spec.max,
        status=judge(cur.value, cur.standard_error),
        onset=first_onset(windows, policy.drift.onset_windows),
        windows=tuple(windows),
    )


def with_proxies(report: Report, proxies: list[ProxyDrift]) -> Report:
    """The drift report with a ``proxy:<name>`` check per proxy metric, their verdict and their section."""
    checks = list(report.checks)
    for proxy in proxies:
        since = f" since {proxy.onset:%Y-%m-%d %H:%M}" if proxy.onset else ""
        checks.append(
            Check(
                name=f"proxy:{proxy.name}",
                status=Status.FAIL if proxy.onset is not None else proxy.status,
                value=proxy.current,
                threshold={"min": proxy.min, "max": proxy.max},
                message=f"{proxy.name} {proxy.reference:.4g} in the reference, {proxy.current:.4g} now{since}",
                details={
                    "onset": proxy.onset,
                    "window_scores": [w.value for w in proxy.windows],
                    "window_status": [w.status.value for w in proxy.windows],
                },
            )
        )
    worst = max([report.status, *(c.status for c in checks[len(report.checks) :])], key=lambda s: s.severity)
    summary = report.summary
    failing = [p for p in proxies if p.failed]
    if failing:
        summary += (
            " Proxy metrics beyond their bounds: "
            + ", ".join(p.name + (f" (since {p.onset:%Y-%m-%d %H:%M})" if p.onset else "") for p in failing)
            + "."
        )
    return replace(
        report, status=worst, summary=summary, checks=tuple(checks), sections={**report.sections, "proxy_metrics": proxies}
    )
