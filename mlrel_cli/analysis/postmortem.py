"""``mlrel postmortem``: a blameless post-mortem drafted from the facts.

Gathers what the logs, the registry and the run history already know: the
metric per window and where it changed (stats/changepoint.py), the change
events near that onset, drift onsets per feature, new categories, the
segments hit hardest, the times to detect and mitigate against the error
budget. What cannot be determined is said, never invented.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from mlrel_cli.analysis import postmortem_causes as causes
from mlrel_cli.analysis import postmortem_slices
from mlrel_cli.analysis import postmortem_sources as sources
from mlrel_cli.errors import MlrelError
from mlrel_cli.files import require_regular_file
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles, kind_of_type, resolve_roles
from mlrel_cli.logs.values import timestamps_keeping_rows, to_numpy_float
from mlrel_cli.payloads.postmortem import (
    ChangePoint,
    DriftFinding,
    Impact,
    IncidentFacts,
    Postmortem,
    SegmentImpact,
    WindowValue,
)
from mlrel_cli.payloads.slices import WeakSegment
from mlrel_cli.policy import Policy
from mlrel_cli.report import Report, Status
from mlrel_cli.stats.changepoint import detect_change, detect_change_rows
from mlrel_cli.stats.drift import adjust_p_values
from mlrel_cli.stats.names import BINARY, METRIC_BY_NAME, MULTICLASS, RANKING, REGRESSION
from mlrel_cli.tasks import TASK_BY_NAME

# per-row losses whose window mean is the metric: they stay stable on small windows, unlike AUC
# a ranking has no row-level metric (NDCG is per query): its rows give the score's absolute error against the gain
DEFAULT_PRIMARY = {BINARY: "log_loss", MULTICLASS: "accuracy", REGRESSION: "mae", RANKING: "absolute_error"}


class Incident(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    severity: str = "unknown"
    model: str | None = None
    started: dt.datetime | None = None
    detected: dt.datetime | None = None
    mitigated: dt.datetime | None = None
    resolved: dt.datetime | None = None
    responders: list[str] = []
    notes: str = ""

    @field_validator("started", "detected", "mitigated", "resolved", mode="after")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


def load_incident(path: str | Path) -> Incident:
    path = Path(path)
    require_regular_file(path, "incident file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        incident = Incident.model_validate(data or {})
    except yaml.YAMLError as exc:
        raise MlrelError(f"incident file is not valid YAML: {getattr(exc, 'problem', exc)}", str(path)) from None
    except ValidationError as exc:
        from mlrel_cli.policy_messages import suggest as _suggest

        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        hint = _suggest(str(first["loc"][-1]), Incident.model_fields) if first["type"] == "extra_forbidden" else ""
        raise MlrelError(f"incident file: {where}: {first['msg']}{hint}", str(path)) from None
    known = [(name, getattr(incident, name)) for name in ("started", "detected", "mitigated", "resolved")]
    known = [(name, value) for name, value in known if value is not None]
    for (first_name, first_value), (second_name, second_value) in itertools.pairwise(known):
        if second_value < first_value:
            raise MlrelError(
                f"incident times out of order: {second_name} ({second_value.isoformat()}) is before "
                f"{first_name} ({first_value.isoformat()})",
                str(path),
            )
    return incident


def _us(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _dt(us: int | float) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(us))


def _per_row_metric(task: str, name: str, policy: Policy, prediction: pa.Array, label: pa.Array) -> np.ndarray:
    """The metric as a per-row value (NaN where unlabelled), so a window's metric is a mean; the rows read as the
    task's record says (tasks.Task.reads)."""
    valid = pc.and_(pc.is_valid(prediction), pc.is_valid(label)).to_numpy(zero_copy_only=False)
    out = np.full(len(prediction), np.nan)
    value = _PER_ROW[TASK_BY_NAME[task].reads](name, policy, prediction, label)
    out[valid] = value[valid]
    return out


def _score_losses(name: str, policy: Policy, prediction: pa.Array, label: pa.Array) -> np.ndarray:
    """A score's log loss or Brier term per row, else whether its thresholded class is right."""
    positive = policy.validate_.performance.positive_label
    truth = (
        to_numpy_float(pc.cast(label, pa.int8())) == 1.0
        if pa.types.is_boolean(label.type)
        else to_numpy_float(label) == float(positive)
        if kind_of_type(label.type) == "numeric"
        else pc.cast(label, pa.string()).to_numpy(zero_copy_only=False).astype(str) == str(positive)
    )
    score = np.clip(to_numpy_float(prediction), 1e-15, 1 - 1e-15)
    if name == "log_loss":
        return -np.where(truth, np.log(score), np.log1p(-score))
    if name == "brier":
        return (score - truth) ** 2
    return ((score >= policy.validate_.performance.decision_threshold) == truth).astype(float)  # accuracy


def _class_hits(name: str, policy: Policy, prediction: pa.Array, label: pa.Array) -> np.ndarray:
    """Whether each row's class is right (accuracy per row)."""
    return (
        pc.cast(prediction, pa.string()).to_numpy(zero_copy_only=False)
        == pc.cast(label, pa.string()).to_numpy(zero_copy_only=False)
    ).astype(float)


def _value_errors(name: str, policy: Policy, prediction: pa.Array, label: pa.Array) -> np.ndarray:
    """Each row's squared error (for rmse) or absolute error."""
    err = to_numpy_float(prediction) - to_numpy_float(label)
    return err**2 if name == "rmse" else np.abs(err)


_PER_ROW = {"score": _score_losses, "classes": _class_hits, "values": _value_errors, "gains": _value_errors}


def postmortem(
    incident: Incident,
    policy: Policy,
    log: Log | None,
    labels: Log | None = None,
    reference: Log | None = None,
    registry: Any = None,
    history: Path | None = None,
) -> Report:
    known = IncidentFacts(**{**incident.model_dump(), "responders": tuple(incident.responders)})
    found = (
        _from_log(known, policy, log, labels, reference)
        if log is not None
        else LogFacts(task=policy.task, undetermined=("the metric onset, impact and segments: no --log was given",))
    )
    undetermined = list(found.undetermined)  # the changes and the times add theirs
    onset = found.onset
    changes = causes.changes(registry, known, policy, onset, undetermined)
    runs = causes.run_history(history, onset, known, policy)
    times = causes.times(known, onset, policy, undetermined)
    candidates = causes.root_causes(changes, found.drift, found.segments, onset, policy, known.detected or known.started)
    facts = Postmortem(
        incident=known,
        change_point=found.change_point,
        metric=found.metric,
        task=found.task,
        onset=onset,
        series=tuple(found.series),
        impact=found.impact,
        segments=tuple(found.segments[:10]),
        drift=tuple(found.drift),
        changes=tuple(changes),
        run_history=tuple(runs),
        times=times,
        root_causes=tuple(postmortem_slices.with_causes(candidates, found.weak)),
        timeline=tuple(causes.timeline(known, onset, changes, runs, found.drift, found.metric)),
        undetermined=tuple(undetermined),
        window=int(policy.postmortem.window.total_seconds()),
        weak_segments=found.weak,
    )
    checks = causes.checks(times, onset, policy)
    status = Status.WARN if any(c.status == Status.WARN for c in checks) else Status.PASS
    first_cause = facts.root_causes[0].summary if facts.root_causes else "no root-cause candidate found"
    when = onset.strftime("%Y-%m-%d %H:%M") + " UTC" if onset else "not determined"
    return Report(
        command="postmortem",
        status=status,
        summary=f"{incident.id}: {incident.title}. Onset {when}; leading candidate: {first_cause}.",
        checks=tuple(checks),
        inputs={"incident": incident.id, "log": log.path if log else None, "policy": list(policy.files)},
        sections={"postmortem": facts, "weak_segments": found.weak},
    )


@dataclass(frozen=True)
class LogFacts:
    """What the log (with its labels and reference) says: the metric per window, its onset, impact, segments."""

    task: str | None
    metric: str | None = None
    onset: dt.datetime | None = None
    change_point: ChangePoint | None = None
    series: list[WindowValue] = field(default_factory=list)
    impact: Impact | None = None
    segments: list[SegmentImpact] = field(default_factory=list)
    drift: list[DriftFinding] = field(default_factory=list)
    weak: tuple[WeakSegment, ...] = ()
    undetermined: tuple[str, ...] = ()


def _from_log(
    incident: IncidentFacts,
    policy: Policy,
    log: Log,
    labels: Log | None,
    reference: Log | None,
) -> LogFacts:
    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    if roles.timestamp is None:
        raise MlrelError(f"postmortem needs the log's timestamp column '{policy.columns.timestamp}'", log.path)
    ts = timestamps_keeping_rows(log.column(roles.timestamp), log.path)
    metric = _metric(log, roles, policy, labels)
    values = metric.values
    ok = (ts >= 0) & np.isfinite(values) if values is not None else ts >= 0
    found = _search_onset(log, policy, metric, ts, ok)
    undetermined = [note for note in (metric.note, found.note) if note]
    onset, change_point = found.onset, found.change_point
    in_span = _in_incident(incident, ts)
    if in_span is not None and not in_span.any():
        span_start, span_end = int(ts[ts >= 0].min()), int(ts.max())
        raise MlrelError(
            "the log has no rows in the incident's span "
            f"({_dt(span_start).isoformat()} to {_dt(span_end).isoformat()} in the log)",
            log.path,
        )
    impact = _impact(values, ts, onset, incident, metric.name, ok if values is not None else None)
    if metric.proxy is not None and onset is not None and impact is not None:
        impact = _proxy_impact(impact, log, policy, metric.proxy, ts, onset, incident)
    segments: list[SegmentImpact] = []
    weak: tuple[WeakSegment, ...] = ()
    if values is not None and onset is not None and change_point is not None:
        recovered = change_point.recovered
        segments = _segments(log, policy, values, ts, onset, recovered, metric.name)
        during = (ts >= _us(onset)) & ((ts < _us(recovered)) if recovered else True)
        timed = np.where(ts >= 0, values, np.nan)
        weak = postmortem_slices.during_onset(log, reference, roles, policy, timed, metric.name, during)
    drift_findings: list[DriftFinding] = []
    if reference is not None and onset is not None:
        drift_findings = _drift_at_onset(reference, log, policy, onset, _width_us(policy))
    elif reference is None:
        undetermined.append("feature drift at the onset: no --reference was given")
    return LogFacts(
        task=metric.task,
        metric=metric.name,
        onset=onset,
        change_point=change_point,
        series=found.series,
        impact=impact,
        segments=segments,
        drift=drift_findings,
        weak=weak,
        undetermined=tuple(undetermined),
    )


def _width_us(policy: Policy) -> int:
    return int(policy.postmortem.window.total_seconds() * 1_000_000)


@dataclass(frozen=True)
class _Metric:
    """The metric the onset is searched on: per row when it is a mean of rows, else (a proxy metric) per window."""

    task: str | None
    name: str
    values: np.ndarray | None  # per row, NaN where unscored; None for a proxy metric or a score that is not a number
    proxy: str | None = None
    note: str | None = None  # why it is not the model's metric, for "not determined"


def _metric(log: Log, roles: Roles, policy: Policy, labels: Log | None) -> _Metric:
    spec = policy.postmortem
    task = policy.task
    prediction = log.column(roles.prediction).combine_chunks()
    label = None
    if labels is not None:
        label = _joined_labels(log, roles, labels, policy)
    elif roles.label is not None:
        label = log.column(roles.label).combine_chunks()
    if task is None:
        from mlrel_cli.logs.task import infer_task

        task = infer_task(pa.chunked_array([prediction]), label)
    if spec.primary_metric in policy.proxy_metrics:  # computed per window: a proxy metric is not a mean of rows
        return _Metric(task, spec.primary_metric, None, proxy=spec.primary_metric)
    if label is not None and len(label) - label.null_count > 0:
        name = spec.primary_metric or DEFAULT_PRIMARY.get(task or BINARY, "log_loss")
        return _Metric(task, name, _per_row_metric(task or BINARY, name, policy, prediction, label))
    values = to_numpy_float(prediction) if kind_of_type(prediction.type) == "numeric" else None
    note = "the model metric: no labels; the onset is searched on the mean prediction score"
    return _Metric(task, "mean_score", values, note=note)


def _joined_labels(log: Log, roles: Roles, labels: Log, policy: Policy) -> pa.Array:
    """The labels file joined on the id as validate and drift join it (Engine.labelled_log): the post-mortem reads
    whole columns in this process, so on the local engine."""
    from mlrel_cli.engine import open_engine

    with open_engine("local") as engine:
        return engine.labelled_log(log, roles, labels, policy).column(policy.columns.label).combine_chunks()


@dataclass(frozen=True)
class _Onset:
    series: list[WindowValue] = field(default_factory=list)
    onset: dt.datetime | None = None
    change_point: ChangePoint | None = None
    note: str | None = None  # why no onset was found


def _search_onset(log: Log, policy: Policy, metric: _Metric, ts: np.ndarray, ok: np.ndarray) -> _Onset:
    """The metric per window and the change point in it (stats/changepoint.py)."""
    width_us = _width_us(policy)
    span_start = int(ts[ts >= 0].min())
    origin = span_start - span_start % width_us
    windows = (ts - origin) // width_us
    n_windows = int(windows.max()) + 1
    rows = np.bincount(windows[ts >= 0], minlength=n_windows)
    values = metric.values
    if metric.proxy is not None:
        window_values, counts = _proxy_series(log, policy, metric.proxy, windows, n_windows)
    elif values is not None:
        counts = np.bincount(windows[ok], minlength=n_windows).astype(float)
        sums = np.bincount(windows[ok], weights=values[ok], minlength=n_windows)
        with np.errstate(invalid="ignore", divide="ignore"):
            window_values = np.where(counts > 0, sums / counts, np.nan)
        if metric.name == "rmse":
            window_values = np.sqrt(window_values)
    else:
        return _Onset()
    if values is not None:  # a mean of rows: tested on the rows, whatever the number of windows
        change = detect_change_rows(values[ok], windows[ok])
        if metric.name == "rmse":  # the rows hold squared errors
            change = replace(change, before=float(np.sqrt(change.before)), after=float(np.sqrt(change.after)))
    else:
        change = detect_change(window_values, counts)
    series = [
        WindowValue(_dt(origin + i * width_us), int(rows[i]), float(window_values[i]) if np.isfinite(window_values[i]) else None)
        for i in range(n_windows)
    ]
    if change.index is None:
        minutes = int(policy.postmortem.window.total_seconds() // 60)
        note = (
            f"the onset of the regression: no significant change of {metric.name} per {minutes}-minute window "
            f"(p {change.p_value:.2g})"
        )
        return _Onset(series, note=note)
    recovered = _dt(origin + change.end * width_us) if change.end is not None else None
    change_point = ChangePoint(change.p_value, change.before, change.after, recovered)
    return _Onset(series, _dt(origin + change.index * width_us), change_point)


def _proxy_series(log: Log, policy: Policy, name: str, windows: np.ndarray, n_windows: int) -> tuple[np.ndarray, np.ndarray]:
    """The proxy metric per window (rows without a timestamp left out), and the rows in each."""
    query = sources.query_codes(log, policy)
    valid = windows >= 0
    order = np.argsort(np.where(valid, windows, n_windows), kind="stable")
    bounds = np.searchsorted(np.where(valid, windows, n_windows)[order], np.arange(n_windows + 1))
    values = np.full(n_windows, np.nan)
    counts = np.diff(bounds).astype(float)
    for i in range(n_windows):
        rows = order[bounds[i] : bounds[i + 1]]
        if len(rows):
            values[i] = sources.proxy_value(log, policy, name, rows, query)
    return values, counts


def _proxy_impact(
    impact: Impact, log: Log, policy: Policy, name: str, ts: np.ndarray, onset: dt.datetime, incident: IncidentFacts
) -> Impact:
    """The impact with the proxy metric before the onset and from it to mitigation."""
    query = sources.query_codes(log, policy)
    end = incident.mitigated or incident.resolved
    during = (ts >= _us(onset)) & ((ts < _us(end)) if end else True)
    before = (ts >= 0) & (ts < _us(onset))
    value_before = sources.proxy_value(log, policy, name, np.flatnonzero(before), query) if before.any() else None
    value_during = sources.proxy_value(log, policy, name, np.flatnonzero(during), query) if during.any() else None
    return replace(impact, metric=name, before=value_before, during=value_during)


def _in_incident(incident: IncidentFacts, ts: np.ndarray) -> np.ndarray | None:
    start = incident.started or incident.detected
    end = incident.resolved or incident.mitigated
    if start is None or end is None:
        return None
    low = _us(start) - 6 * 3600 * 1_000_000  # the onset may precede detection by hours
    return (ts >= low) & (ts <= _us(end))


def _impact(
    values: np.ndarray | None,
    ts: np.ndarray,
    onset: dt.datetime | None,
    incident: IncidentFacts,
    metric: str,
    ok: np.ndarray | None,
) -> Impact | None:
    start = onset or incident.started
    end = incident.mitigated or incident.resolved
    if start is None:
        return None
    during = (ts >= _us(start)) & ((ts < _us(end)) if end else (ts >= 0))
    before = (ts >= 0) & (ts < _us(start))
    impact = Impact(predictions_affected=int(during.sum()), start=start, end=end)
    if values is None or ok is None:
        return impact
    mean_before = float(np.mean(values[before & ok])) if (before & ok).any() else None
    mean_during = float(np.mean(values[during & ok])) if (during & ok).any() else None
    if metric == "rmse":  # the rows hold squared errors
        mean_before = float(np.sqrt(mean_before)) if mean_before is not None else None
        mean_during = float(np.sqrt(mean_during)) if mean_during is not None else None
    return replace(impact, metric=metric, before=mean_before, during=mean_during)


def _segments(
    log: Log,
    policy: Policy,
    values: np.ndarray,
    ts: np.ndarray,
    onset: dt.datetime,
    recovered: dt.datetime | None,
    metric: str,
) -> list[SegmentImpact]:
    """Per segment value that got worse: the metric outside and during the regression, the hardest hit first.

    Each worsening gets a one-sided Welch z-test of how much more it worsened than the rest of the log (the
    difference of the two before-vs-during changes), the p-values adjusted by Benjamini-Hochberg over every value
    of every segment, so a root cause names only a segment where the errors concentrated: a regression of every
    row worsens every segment, and testing each one's own change named them all (60 of 60 such incidents in
    benchmarks/bench_calibration.py --only postmortem-segments)."""
    from scipy.stats import norm

    after = (ts >= _us(onset)) & ((ts < _us(recovered)) if recovered else True)
    ok = np.isfinite(values)
    higher = metric in METRIC_BY_NAME and METRIC_BY_NAME[metric].higher_is_better
    found: list[tuple[str, str, float, float, float, int, float]] = []
    for segment in policy.segments:
        groups = pc.cast(log.column(segment), pa.string()).to_numpy(zero_copy_only=False).astype(str)
        for value in np.unique(groups):
            member = groups == value
            b, a = values[member & ~after & ok], values[member & after & ok]
            rest_b, rest_a = values[~member & ~after & ok], values[~member & after & ok]
            if min(len(b), len(a)) < 30:
                continue
            vb, va = float(b.mean()), float(a.mean())
            worsening = (vb - va) if higher else (va - vb)
            p = 1.0  # no rest to compare with (every row in the segment): not a concentration
            if min(len(rest_b), len(rest_a)) >= 30:
                rest = float(rest_b.mean() - rest_a.mean()) if higher else float(rest_a.mean() - rest_b.mean())
                parts = (b, a, rest_b, rest_a)
                se = float(np.sqrt(sum(part.var(ddof=1) / len(part) for part in parts)))
                excess = worsening - rest
                p = float(norm.sf(excess / se)) if se > 0 else (0.0 if excess > 0 else 1.0)
            found.append((segment, str(value), vb, va, worsening, len(a), p))
    adjusted = adjust_p_values(np.array([f[-1] for f in found]), "benjamini_hochberg")
    rows = [SegmentImpact(*f[:-1], p_adjusted=float(q)) for f, q in zip(found, adjusted, strict=True) if f[4] > 0]
    rows.sort(key=lambda r: -r.worsening)
    return rows


def _drift_at_onset(reference: Log, log: Log, policy: Policy, onset: dt.datetime, width_us: int) -> list[DriftFinding]:
    """Drift per feature with the drift command's windows: which moved, and whether at the onset."""
    found = []
    for feature in sources.drifted_features(reference, log, policy, dt.timedelta(microseconds=width_us)):
        if not feature.failed and feature.onset is None:
            continue
        gap = abs((feature.onset - onset).total_seconds()) if feature.onset else None
        at_onset = [score or 0.0 for start, score in feature.window_scores if start == feature.onset]
        found.append(
            DriftFinding(
                feature=feature.name,
                method=feature.method,
                score=max(at_onset, default=feature.score),
                threshold=feature.threshold,
                onset=feature.onset,
                unseen=feature.unseen,
                at_onset=gap is not None and gap <= width_us / 1e6,
            )
        )
    return found
