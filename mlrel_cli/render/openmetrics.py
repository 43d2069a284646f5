"""OpenMetrics text exposition of a report, for Prometheus (docs/alerting.md lists every series).

Gauges only, named after Prometheus conventions (``mlrel_`` prefix, base units,
``_seconds``). Labels come from the policy and the check names, never from data
values, except segment values, which are capped per check (worst first) so a
column with thousands of values cannot flood Prometheus with series.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from typing import Any

from mlrel_cli.errors import MlrelError
from mlrel_cli.payloads.drift import FeatureDrift
from mlrel_cli.payloads.postmortem import Postmortem
from mlrel_cli.report import Check, Report

MAX_SEGMENT_VALUES = 20
_SEGMENT = re.compile(r"^(?P<check>.*)\[(?P<segment>[^\[\]]+)\]$")


class ReportCollector:
    """A prometheus_client collector over one report: the library does the naming checks and the escaping."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def collect(self) -> Iterator[Any]:
        yield from families(self.report)


def registry_for(report: Report) -> Any:
    try:
        from prometheus_client import CollectorRegistry
    except ImportError:
        raise MlrelError(
            "the openmetrics format and --pushgateway need prometheus_client: pip install 'mlrel[metrics]'"
        ) from None

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReportCollector(report))
    return registry


def render(report: Report) -> str:
    """OpenMetrics 1.0 text; Prometheus' text parser reads it too (``# EOF`` and ``# UNIT`` are comments there)."""
    from prometheus_client.openmetrics.exposition import generate_latest

    text: bytes = generate_latest(registry_for(report))
    return text.decode("utf-8")


ERROR_SEVERITY = 5  # mlrel_run_status of a run that could not judge (exit 2): above every verdict


def run_families(base: dict[str, str], status: str, severity: int, exit_code: int, unix_time: float | None) -> list[Any]:
    """The run's own series, the same for a verdict and for an error report."""
    from prometheus_client.core import GaugeMetricFamily

    names, values = list(base), list(base.values())
    run_status = GaugeMetricFamily(
        "mlrel_run_status",
        "Verdict of the run: 0 skipped, 1 pass, 2 warn, 3 inconclusive, 4 fail, 5 error (could not judge).",
        labels=[*names, "status"],
    )
    run_status.add_metric([*values, status], severity)
    code = GaugeMetricFamily(
        "mlrel_run_exit_code", "Exit code of the run: 0 pass, 1 check failed, 2 error, 3 inconclusive.", labels=names
    )
    code.add_metric(values, exit_code)
    timestamp = GaugeMetricFamily(
        "mlrel_run_timestamp_seconds", "When the run judged the log (Unix time).", labels=names, unit="seconds"
    )
    timestamp.add_metric(values, unix_time or 0.0)
    return [run_status, code, timestamp]


class _ErrorCollector:
    def __init__(self, command: str) -> None:
        self.command = command

    def collect(self) -> Iterator[Any]:
        base = {"model": "", "command": self.command, "policy": ""}
        yield from run_families(base, "error", ERROR_SEVERITY, 2, dt.datetime.now(dt.UTC).timestamp())


def render_error(command: str) -> str:
    """The run series of an exit-2 run, so an alert on mlrel_run_exit_code fires for an error too."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.openmetrics.exposition import generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ErrorCollector(command))
    text: bytes = generate_latest(registry)
    return text.decode("utf-8")


def base_labels(report: Report) -> dict[str, str]:
    """model, command and policy: what tells two cron jobs' series apart."""
    policy_files = report.inputs.get("policy") or []
    if isinstance(policy_files, str):
        policy_files = [policy_files]
    model = report.inputs.get("model")
    facts = report.sections.get("postmortem")
    if model is None and isinstance(facts, Postmortem):
        model = facts.incident.model
    return {
        "model": str(model or ""),
        "command": report.command,
        "policy": str(policy_files[-1]) if policy_files else "",
    }


def families(report: Report) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    base = base_labels(report)
    names = list(base)

    def gauge(name: str, doc: str, extra: tuple[str, ...] = (), unit: str = "") -> Any:
        return GaugeMetricFamily(name, doc, labels=[*names, *extra], unit=unit)

    yield from run_families(base, report.status.value, report.status.severity, report.exit_code, _unix(report.generated_at))
    counts = gauge("mlrel_run_checks", "Number of checks per status.", ("status",))
    for status, count in report.counts().items():
        counts.add_metric([*base.values(), status], count)
    yield counts

    status = gauge(
        "mlrel_check_status",
        "Status of each check: 0 skipped, 1 pass, 2 warn, 3 inconclusive, 4 fail.",
        ("check", "segment", "status"),
    )
    value = gauge("mlrel_check_value", "Observed value of each check, in the JSON report's unit.", ("check", "segment"))
    threshold = gauge(
        "mlrel_check_threshold", "Limit each check was judged against; bound names the side.", ("check", "segment", "bound")
    )
    kept, dropped = capped_checks(report)
    for check, name, segment in kept:
        labels = [*base.values(), name, segment]
        status.add_metric([*labels, check.status.value], check.status.severity)
        number = _number(check.value)
        if number is not None:
            value.add_metric(labels, number)
        for bound, limit in _bounds(check.threshold):
            threshold.add_metric([*labels, bound], limit)
    over = gauge("mlrel_segment_values_dropped", f"Segment checks left out beyond {MAX_SEGMENT_VALUES} values per check.")
    over.add_metric(list(base.values()), dropped)
    yield from (status, value, threshold, over)

    yield from _drift(report, gauge, base)
    yield from _postmortem(report, gauge, base)


def capped_checks(report: Report) -> tuple[list[tuple[Check, str, str]], int]:
    """(check, name without the segment, segment) for each check kept, worst first, and how many were left out."""
    kept: list[tuple[Check, str, str]] = []
    per_check: dict[str, int] = {}
    dropped = 0
    for check in report.ordered_checks():
        match = _SEGMENT.match(check.name)
        if match is None:
            kept.append((check, check.name, ""))
            continue
        name = match["check"]
        if per_check.get(name, 0) >= MAX_SEGMENT_VALUES:
            dropped += 1
            continue
        per_check[name] = per_check.get(name, 0) + 1
        kept.append((check, name, match["segment"]))
    return kept, dropped


def _drift(report: Report, gauge: Any, base: dict[str, str]) -> Iterator[Any]:
    rows: list[FeatureDrift] = [*(report.sections.get("features") or []), *(report.sections.get("outputs") or [])]
    if report.command != "drift" or not rows:
        return
    score = gauge("mlrel_drift_score", "Drift score of each feature and output against the reference.", ("feature", "method"))
    noise = gauge(
        "mlrel_drift_noise",
        "Score an unchanged log of the same size reaches by chance (the false-alarm quantile).",
        ("feature", "method"),
    )
    onset = gauge(
        "mlrel_drift_onset_timestamp_seconds", "Start of the first drifted window (Unix time).", ("feature",), "seconds"
    )
    for row in rows:
        labels = [*base.values(), str(row.name), str(row.method)]
        for family, value in ((score, row.score), (noise, row.noise)):
            number = _number(value)
            if number is not None:
                family.add_metric(labels, number)
        started = _unix(row.onset)
        if started is not None:
            onset.add_metric([*base.values(), str(row.name)], started)
    yield from (score, noise, onset)


def _postmortem(report: Report, gauge: Any, base: dict[str, str]) -> Iterator[Any]:
    facts = report.sections.get("postmortem")
    if not isinstance(facts, Postmortem):
        return
    incident = facts.incident.id
    by_name = {check.name: check for check in report.checks}
    for name, doc in (
        ("time_to_detect", "From the onset to detection."),
        ("time_to_mitigate", "From detection to mitigation."),
    ):
        check = by_name.get(name)
        seconds = _number(check.value) if check is not None else None
        if seconds is not None:
            family = gauge(f"mlrel_postmortem_{name}_seconds", doc, ("incident",), "seconds")
            family.add_metric([*base.values(), incident], seconds)
            yield family
    onset = by_name.get("onset")
    started = _unix(onset.value) if onset is not None else None
    if started is not None:
        family = gauge(
            "mlrel_postmortem_onset_timestamp_seconds", "Onset of the regression (Unix time).", ("incident",), "seconds"
        )
        family.add_metric([*base.values(), incident], started)
        yield family


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    item = getattr(value, "item", None)  # numpy scalars
    return _number(item()) if callable(item) else None


def _bounds(threshold: Any) -> list[tuple[str, float]]:
    if isinstance(threshold, dict):
        found = [(str(k), _number(v)) for k, v in threshold.items()]
        return [(k, v) for k, v in found if v is not None]
    number = _number(threshold)
    return [("limit", number)] if number is not None else []


def _unix(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
