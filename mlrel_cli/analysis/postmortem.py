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
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from mlrel_cli.analysis import postmortem_slices
from mlrel_cli.errors import MlrelError
from mlrel_cli.logs import Log, join_labels, kind_of_type, resolve_roles, timestamps_keeping_rows, to_numpy_float
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Report, Status
from mlrel_cli.stats.changepoint import detect_change, detect_change_rows
from mlrel_cli.stats.names import BINARY, METRIC_BY_NAME, MULTICLASS, REGRESSION

# per-row losses whose window mean is the metric: they stay stable on small windows, unlike AUC
DEFAULT_PRIMARY = {BINARY: "log_loss", MULTICLASS: "accuracy", REGRESSION: "mae"}
WEEK_S = 7 * 86400


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
    if not path.is_file():
        raise MlrelError("incident file not found", str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        incident = Incident.model_validate(data or {})
    except yaml.YAMLError as exc:
        raise MlrelError(f"incident file is not valid YAML: {getattr(exc, 'problem', exc)}", str(path)) from None
    except ValidationError as exc:
        from mlrel_cli.policy import _suggest

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
    """The metric as a per-row value (NaN where unlabelled), so a window's metric is a mean."""
    valid = pc.and_(pc.is_valid(prediction), pc.is_valid(label)).to_numpy(zero_copy_only=False)
    out = np.full(len(prediction), np.nan)
    if task == BINARY:
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
            value = -np.where(truth, np.log(score), np.log1p(-score))
        elif name == "brier":
            value = (score - truth) ** 2
        else:  # accuracy
            value = ((score >= policy.validate_.performance.decision_threshold) == truth).astype(float)
    elif task == MULTICLASS:
        value = (
            pc.cast(prediction, pa.string()).to_numpy(zero_copy_only=False)
            == pc.cast(label, pa.string()).to_numpy(zero_copy_only=False)
        ).astype(float)
    else:
        err = to_numpy_float(prediction) - to_numpy_float(label)
        value = err**2 if name == "rmse" else np.abs(err)
    out[valid] = value[valid]
    return out


def postmortem(
    incident: Incident,
    policy: Policy,
    log: Log | None,
    labels: Log | None = None,
    reference: Log | None = None,
    registry: Any = None,
    history: Path | None = None,
) -> Report:
    spec = policy.postmortem
    width_us = int(spec.window.total_seconds() * 1_000_000)
    undetermined: list[str] = []
    facts: dict[str, Any] = {"incident": incident.model_dump(mode="json")}
    series: list[dict[str, Any]] = []
    onset: dt.datetime | None = None
    metric_name = None
    impact: dict[str, Any] = {}
    segments: list[dict[str, Any]] = []
    drift_findings: list[dict[str, Any]] = []
    weak: dict[str, Any] | None = None
    task = policy.task

    if log is None:
        undetermined.append("the metric onset, impact and segments: no --log was given")
    else:
        roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
        if roles.timestamp is None:
            raise MlrelError(f"postmortem needs the log's timestamp column '{policy.columns.timestamp}'", log.path)
        ts = timestamps_keeping_rows(log.column(roles.timestamp), log.path)
        prediction = log.column(roles.prediction).combine_chunks()
        label = None
        if labels is not None:
            label = join_labels(log, roles, labels, policy).labels
        elif roles.label is not None:
            label = log.column(roles.label).combine_chunks()
        if task is None:
            from mlrel_cli.logs import infer_task

            task = infer_task(pa.chunked_array([prediction]), label)
        has_labels = label is not None and len(label) - label.null_count > 0
        proxy = spec.primary_metric if spec.primary_metric in policy.proxy_metrics else None
        if proxy is not None:
            metric_name = proxy
            values = None  # computed per window below: a proxy metric is not a mean of rows in general
        elif has_labels:
            metric_name = spec.primary_metric or DEFAULT_PRIMARY.get(task or BINARY, "log_loss")
            values = _per_row_metric(task or BINARY, metric_name, policy, prediction, label)
        else:
            metric_name = "mean_score"
            values = to_numpy_float(prediction) if kind_of_type(prediction.type) == "numeric" else None
            undetermined.append("the model metric: no labels; the onset is searched on the mean prediction score")
        span_start, span_end = int(ts[ts >= 0].min()), int(ts.max())
        origin = span_start - span_start % width_us
        windows = (ts - origin) // width_us
        n_windows = int(windows.max()) + 1
        ok = (ts >= 0) & np.isfinite(values) if values is not None else ts >= 0
        rows = np.bincount(windows[ts >= 0], minlength=n_windows)
        window_values = None
        if proxy is not None:
            window_values, counts = _proxy_series(log, policy, proxy, windows, n_windows)
        elif values is not None:
            counts = np.bincount(windows[ok], minlength=n_windows).astype(float)
            sums = np.bincount(windows[ok], weights=values[ok], minlength=n_windows)
            with np.errstate(invalid="ignore", divide="ignore"):
                window_values = np.where(counts > 0, sums / counts, np.nan)
            if metric_name == "rmse":
                window_values = np.sqrt(window_values)
        if window_values is not None:
            if values is not None:  # a mean of rows: tested on the rows, whatever the number of windows
                found = detect_change_rows(values[ok], windows[ok])
                if metric_name == "rmse":  # the rows hold squared errors
                    found = replace(found, before=float(np.sqrt(found.before)), after=float(np.sqrt(found.after)))
            else:
                found = detect_change(window_values, counts)
            for i in range(n_windows):
                series.append({"start": _dt(origin + i * width_us), "rows": int(rows[i]),
                               "value": float(window_values[i]) if np.isfinite(window_values[i]) else None})  # fmt: skip
            if found.index is not None:
                onset = _dt(origin + found.index * width_us)
                recovered = _dt(origin + found.end * width_us) if found.end is not None else None
                facts["change_point"] = {"p_value": found.p_value, "before": found.before, "after": found.after,
                                         "recovered": recovered}  # fmt: skip
            else:
                undetermined.append(
                    f"the onset of the regression: no significant change of {metric_name} per "
                    f"{int(spec.window.total_seconds() // 60)}-minute window (p {found.p_value:.2g})"
                )
        in_span = _in_incident(incident, ts, onset)
        if in_span is not None and not in_span.any():
            raise MlrelError(
                "the log has no rows in the incident's span "
                f"({_dt(span_start).isoformat()} to {_dt(span_end).isoformat()} in the log)",
                log.path,
            )
        impact = _impact(values, ts, onset, incident, metric_name, ok if values is not None else None)
        if proxy is not None and onset is not None:
            impact.update(_proxy_impact(log, policy, proxy, ts, onset, incident))
        if values is not None and onset is not None:
            recovered = facts["change_point"]["recovered"]
            segments = _segments(log, policy, values, ts, onset, recovered, metric_name)
            during = (ts >= _us(onset)) & ((ts < _us(recovered)) if recovered else True)
            timed = np.where(ts >= 0, values, np.nan)
            weak = postmortem_slices.during_onset(log, reference, roles, policy, timed, metric_name or "", during)
        if reference is not None and onset is not None:
            drift_findings = _drift_at_onset(reference, log, policy, onset, width_us)
        elif reference is None:
            undetermined.append("feature drift at the onset: no --reference was given")

    changes = _changes(registry, incident, policy, onset, undetermined)
    checks_history = _run_history(history, onset, incident, policy)
    times = _times(incident, onset, policy, undetermined)
    causes = postmortem_slices.with_causes(
        _root_causes(changes, drift_findings, segments, onset, policy, incident.detected or incident.started), weak
    )
    timeline = _timeline(incident, onset, changes, checks_history, drift_findings, metric_name)

    facts.update(
        metric=metric_name, task=task, onset=onset, series=series, impact=impact, segments=segments[:10],
        drift=drift_findings, changes=changes, run_history=checks_history, times=times, root_causes=causes,
        timeline=timeline, undetermined=undetermined, window=int(spec.window.total_seconds()),
        reverts=[{k: c[k] for k in ("time", "kind", "what", "ref", "revert", "actor")} for c in changes if c.get("revert")],
        weak_segments=weak["slices"] if weak else [],
    )  # fmt: skip
    checks = _checks(times, onset, policy)
    status = Status.WARN if any(c.status == Status.WARN for c in checks) else Status.PASS
    first_cause = causes[0]["summary"] if causes else "no root-cause candidate found"
    summary = (
        f"{incident.id}: {incident.title}. Onset {onset.strftime('%Y-%m-%d %H:%M') + ' UTC' if onset else 'not determined'}"
        f"; leading candidate: {first_cause}."
    )
    return Report(
        command="postmortem",
        status=status,
        summary=summary,
        checks=tuple(checks),
        inputs={"incident": incident.id, "log": log.path if log else None, "policy": list(policy.files)},
        sections={"postmortem": facts, "weak_segments": facts["weak_segments"]},
    )


def _proxy_series(log: Log, policy: Policy, name: str, windows: np.ndarray, n_windows: int) -> tuple[np.ndarray, np.ndarray]:
    """The proxy metric per window (rows without a timestamp left out), and the rows in each."""
    from mlrel_cli.analysis.drift import _proxy_values, _query_codes

    query = _query_codes(log, policy)
    valid = windows >= 0
    order = np.argsort(np.where(valid, windows, n_windows), kind="stable")
    bounds = np.searchsorted(np.where(valid, windows, n_windows)[order], np.arange(n_windows + 1))
    values = np.full(n_windows, np.nan)
    counts = np.diff(bounds).astype(float)
    for i in range(n_windows):
        rows = order[bounds[i] : bounds[i + 1]]
        if len(rows):
            values[i] = _proxy_values(log, policy, name, rows, query)[0]
    return values, counts


def _proxy_impact(log: Log, policy: Policy, name: str, ts: np.ndarray, onset: dt.datetime, incident: Incident) -> dict[str, Any]:
    from mlrel_cli.analysis.drift import _proxy_values, _query_codes

    query = _query_codes(log, policy)
    end = incident.mitigated or incident.resolved
    during = (ts >= _us(onset)) & ((ts < _us(end)) if end else True)
    before = (ts >= 0) & (ts < _us(onset))
    out: dict[str, Any] = {"metric": name}
    out["before"] = _proxy_values(log, policy, name, np.flatnonzero(before), query)[0] if before.any() else None
    out["during"] = _proxy_values(log, policy, name, np.flatnonzero(during), query)[0] if during.any() else None
    return out


def _in_incident(incident: Incident, ts: np.ndarray, onset: dt.datetime | None) -> np.ndarray | None:
    start = incident.started or incident.detected
    end = incident.resolved or incident.mitigated
    if start is None or end is None:
        return None
    low = _us(start) - 6 * 3600 * 1_000_000  # the onset may precede detection by hours
    return (ts >= low) & (ts <= _us(end))


def _impact(
    values: np.ndarray | None, ts: np.ndarray, onset: dt.datetime | None, incident: Incident, metric: str | None,
    ok: np.ndarray | None,
) -> dict[str, Any]:  # fmt: skip
    start = onset or incident.started
    end = incident.mitigated or incident.resolved
    if start is None:
        return {}
    during = (ts >= _us(start)) & ((ts < _us(end)) if end else (ts >= 0))
    before = (ts >= 0) & (ts < _us(start))
    out: dict[str, Any] = {"predictions_affected": int(during.sum()), "from": start, "to": end}
    if values is not None and ok is not None:
        out["metric"] = metric
        out["before"] = float(np.mean(values[before & ok])) if (before & ok).any() else None
        out["during"] = float(np.mean(values[during & ok])) if (during & ok).any() else None
        if metric == "rmse":
            out["before"] = float(np.sqrt(out["before"])) if out["before"] is not None else None
            out["during"] = float(np.sqrt(out["during"])) if out["during"] is not None else None
    return out


def _segments(
    log: Log, policy: Policy, values: np.ndarray, ts: np.ndarray, onset: dt.datetime, recovered: dt.datetime | None,
    metric: str | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Per segment value: the metric outside and during the regression, the hardest hit first."""
    after = (ts >= _us(onset)) & ((ts < _us(recovered)) if recovered else True)
    ok = np.isfinite(values)
    higher = metric in METRIC_BY_NAME and METRIC_BY_NAME[metric].higher_is_better if metric else False
    rows: list[dict[str, Any]] = []
    for segment in policy.segments:
        groups = pc.cast(log.column(segment), pa.string()).to_numpy(zero_copy_only=False).astype(str)
        for value in np.unique(groups):
            member = groups == value
            b, a = member & ~after & ok, member & after & ok
            if b.sum() < 30 or a.sum() < 30:
                continue
            vb, va = float(values[b].mean()), float(values[a].mean())
            worsening = (vb - va) if higher else (va - vb)
            rows.append({"segment": segment, "value": str(value), "before": vb, "after": va, "worsening": worsening,
                         "rows_after": int(a.sum())})  # fmt: skip
    rows.sort(key=lambda r: -r["worsening"])
    return rows


def _drift_at_onset(reference: Log, log: Log, policy: Policy, onset: dt.datetime, width_us: int) -> list[dict[str, Any]]:
    """Drift per feature with the drift command's windows: which moved, and whether at the onset."""
    from mlrel_cli.analysis.drift import drift

    report = drift(reference, log, policy, window=dt.timedelta(microseconds=width_us))
    found = []
    for feature in report.sections["features"]:  # drift's FeatureDrift
        feature_onset = feature.onset  # the first window past its threshold, even if the whole log is not
        if feature.status != Status.FAIL and feature_onset is None:
            continue
        gap = abs((feature_onset - onset).total_seconds()) if feature_onset else None
        found.append({
            "feature": feature.name, "method": feature.method,
            "score": max((w.score or 0.0 for w in feature.windows if w.start == feature_onset),
                         default=feature.score),
            "threshold": feature.threshold, "onset": feature_onset, "unseen": feature.unseen,
            "at_onset": gap is not None and gap <= width_us / 1e6,
        })  # fmt: skip
    return found


def _changes(
    registry: Any, incident: Incident, policy: Policy, onset: dt.datetime | None, undetermined: list[str]
) -> list[dict[str, Any]]:
    model = incident.model or policy.model
    if registry is None:
        undetermined.append("change events: no --registry was given")
        return []
    if model is None:
        held = registry.models()
        if len(held) != 1:  # one model in the registry: it is the one; several: which one is not a guess to make
            undetermined.append(f"change events: the incident and the policy name no model, and the registry holds "
                                f"{len(held)}")  # fmt: skip
            return []
        model = held[0]
    from mlrel_cli.registry.model import RegistryError

    try:
        record = registry.read(model)
    except RegistryError as exc:
        undetermined.append(f"change events: {exc.what}")
        return []
    anchor = onset or incident.started or incident.detected
    horizon = policy.postmortem.change_window
    end = incident.resolved or incident.mitigated
    out = []
    for event in record.history:
        moment = dt.datetime.fromisoformat(event.time.replace("Z", "+00:00"))
        if anchor is not None and moment < anchor - 4 * horizon:
            continue
        if end is not None and moment > end + horizon:
            continue
        out.append({"time": moment, "action": event.action, "from": event.from_version, "to": event.to_version,
                    "stage": event.stage, "traffic": event.traffic, "actor": event.actor, "reason": event.reason,
                    "incident": event.incident, "kind": event.kind, "what": event.what, "ref": event.ref,
                    "revert": event.revert})  # fmt: skip
    return out


def _run_history(path: Path | None, onset: dt.datetime | None, incident: Incident, policy: Policy) -> list[dict[str, Any]]:
    if path is None or not path.exists():
        return []
    anchor = onset or incident.started or incident.detected
    end = incident.resolved or incident.mitigated
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            run = json.loads(line)
            moment = dt.datetime.fromisoformat(run["generated_at"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            continue
        if anchor is not None and moment < anchor - 4 * policy.postmortem.change_window:
            continue
        if end is not None and moment > end + policy.postmortem.change_window:
            continue
        out.append({"time": moment, "command": run.get("command"), "status": run.get("status"), "summary": run.get("summary")})
    return out


def _times(incident: Incident, onset: dt.datetime | None, policy: Policy, undetermined: list[str]) -> dict[str, Any]:
    start = onset or incident.started
    budget = (1.0 - policy.postmortem.availability_target) * WEEK_S
    out: dict[str, Any] = {"onset": start, "weekly_error_budget_s": budget,
                           "availability_target": policy.postmortem.availability_target}  # fmt: skip
    if start and incident.detected:
        out["time_to_detect_s"] = (incident.detected - start).total_seconds()
    else:
        undetermined.append("time to detect: the onset or the detection time is unknown")
    if incident.detected and incident.mitigated:
        out["time_to_mitigate_s"] = (incident.mitigated - incident.detected).total_seconds()
    else:
        undetermined.append("time to mitigate: the detection or mitigation time is unknown")
    if start and incident.mitigated:
        impact = (incident.mitigated - start).total_seconds()
        out["impact_s"] = impact
        out["error_budget_used"] = impact / budget
    return out


def _root_causes(
    changes: list[dict[str, Any]], drift: list[dict[str, Any]], segments: list[dict[str, Any]],
    onset: dt.datetime | None, policy: Policy, detected: dt.datetime | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Candidates ranked by how tightly their evidence meets the onset; without one, the changes in the span
    before detection, nearest first (a deploy an hour before the page is still the first suspect)."""
    causes: list[dict[str, Any]] = []
    horizon = policy.postmortem.change_window.total_seconds()
    if onset is None and detected is not None:
        for change in changes:
            lead = (detected - change["time"]).total_seconds()
            if change["action"] not in ("promote", "rollback", "record") or not 0 <= lead <= 4 * horizon:
                continue
            if change["action"] == "record":  # a config, data, feature, ... change recorded in the registry
                causes.append({
                    "kind": "change", "strength": 0.9 - 0.5 * lead / (4 * horizon),
                    "summary": f"{change.get('kind')} change \"{change.get('what')}\" at {change['time']:%H:%M} UTC by "
                               f"{change['actor']}, {lead / 60:.0f} min before detection (no onset found)",
                    "evidence": change,
                })  # fmt: skip
                continue
            where = f"{change['stage']}" + (f" at {change['traffic']:.0%}" if change.get("traffic") else "")
            causes.append({
                "kind": "change", "strength": 0.9 - 0.5 * lead / (4 * horizon),
                "summary": f"{change['to']} {change['action']}d to {where} at {change['time']:%H:%M} UTC by "
                           f"{change['actor']}, {lead / 60:.0f} min before detection (no onset found)",
                "evidence": change,
            })  # fmt: skip
    if onset is not None:
        for change in changes:
            lead = (onset - change["time"]).total_seconds()
            if change["action"] == "record" and -900 <= lead <= horizon:
                causes.append(_recorded_cause(change, lead, horizon, drift))
                continue
            if change["action"] not in ("promote", "rollback") or not -900 <= lead <= horizon:
                continue
            where = f"{change['stage']}" + (f" at {change['traffic']:.0%}" if change.get("traffic") else "")
            causes.append({
                "kind": "change", "strength": 1.0 - max(lead, 0) / horizon + (0.5 if change["stage"] == "production" else 0),
                "summary": f"{change['to']} {change['action']}d to {where} at {change['time']:%H:%M} UTC by {change['actor']}, "
                           f"{abs(lead) / 60:.0f} min {'before' if lead >= 0 else 'after'} the onset",
                "evidence": change,
            })  # fmt: skip
    for finding in drift:
        strength = 1.0 if finding["at_onset"] else 0.4
        unseen = finding.get("unseen") or {}
        detail = f"; {unseen['categories']} new categories" if unseen.get("categories") else ""
        causes.append({
            "kind": "drift", "strength": strength,
            "summary": f"feature {finding['feature']} drifted ({finding['method']} {finding['score']:.3g} > "
                       f"{finding['threshold']:.3g}) "
                       + ("at the onset" if finding["at_onset"] else
                          f"from {finding['onset']:%H:%M} UTC" if finding["onset"] else "over the log") + detail,
            "evidence": finding,
        })  # fmt: skip
        if unseen.get("categories"):
            causes.append({
                "kind": "new_categories", "strength": 0.8 * strength,
                "summary": f"new values of {finding['feature']}: "
                           + ", ".join(str(t["value"]) for t in unseen.get("top", [])[:3]),
                "evidence": unseen,
            })  # fmt: skip
    for row in segments[:3]:
        if row["worsening"] <= 0:
            continue
        causes.append({
            "kind": "segment", "strength": 0.3,
            "summary": f"errors concentrated in {row['segment']}={row['value']} "
                       f"({row['before']:.3g} -> {row['after']:.3g})",
            "evidence": row,
        })  # fmt: skip
    causes.sort(key=lambda c: -c["strength"])
    for rank, cause in enumerate(causes, start=1):
        cause["rank"] = rank
    return causes


def _recorded_cause(change: dict[str, Any], lead: float, horizon: float, drift: list[dict[str, Any]]) -> dict[str, Any]:
    """A recorded non-model change (config, rule, deploy, flag...) reaches all traffic, as a production promotion does,
    so it ranks by its nearness to the onset alike; a data or feature change that a feature's drift follows within
    the window ranks above another change as near."""
    strength = 1.0 - max(lead, 0) / horizon + 0.5
    followed = ""
    if change["kind"] in ("data", "feature"):
        for finding in drift:
            began = finding.get("onset")
            if finding.get("at_onset") or (began is not None and 0 <= (began - change["time"]).total_seconds() <= horizon):
                strength += 0.1 * (1.0 if finding.get("at_onset") else 0.4)  # above a change as near, not a nearer one
                followed = f"; feature {finding['feature']} drifts after it"
                break
    ref = f" ({change['ref']})" if change.get("ref") else ""
    return {
        "kind": "change", "strength": strength,
        "summary": f"{change['kind']} change: {change['what']}{ref} at {change['time']:%H:%M} UTC by {change['actor']}, "
                   f"{abs(lead) / 60:.0f} min {'before' if lead >= 0 else 'after'} the onset{followed}",
        "evidence": change,
    }  # fmt: skip


def _timeline(
    incident: Incident, onset: dt.datetime | None, changes: list[dict[str, Any]], runs: list[dict[str, Any]],
    drift: list[dict[str, Any]], metric: str | None,
) -> list[dict[str, Any]]:  # fmt: skip
    entries = []
    for change in changes:
        if change["action"] == "record":
            entries.append({"time": change["time"], "source": "registry",
                            "event": f"{change['kind']} change by {change['actor']}: {change['what']}"})  # fmt: skip
            continue
        target = f"{change['to']}" + (f" ({change['stage']})" if change.get("stage") else "")
        entries.append({"time": change["time"], "source": "registry",
                        "event": f"{change['action']} {target} by {change['actor']}"
                        + (f": {change['reason']}" if change.get("reason") else "")})  # fmt: skip
    for run in runs:
        entries.append({"time": run["time"], "source": "run history",
                        "event": f"{run['command']} {run['status']}: {run['summary']}"})  # fmt: skip
    if onset is not None:
        entries.append({"time": onset, "source": "change point", "event": f"{metric} regression begins (onset)"})
    for finding in drift:
        if finding["onset"]:
            entries.append({"time": finding["onset"], "source": "drift", "event": f"{finding['feature']} starts drifting"})
    for name, label in (("started", "incident started"), ("detected", "detected"), ("mitigated", "mitigated"),
                        ("resolved", "resolved")):  # fmt: skip
        moment = getattr(incident, name)
        if moment is not None:
            entries.append({"time": moment, "source": "incident", "event": label})
    entries.sort(key=lambda e: e["time"])
    return entries


def _checks(times: dict[str, Any], onset: dt.datetime | None, policy: Policy) -> list[Check]:
    budget = times["weekly_error_budget_s"]
    checks = [
        Check(
            name="onset",
            status=Status.PASS if onset else Status.INCONCLUSIVE,
            value=onset,
            message="regression onset found by change-point detection" if onset else "onset not determined",
        )
    ]
    for key, label in (("time_to_detect_s", "time_to_detect"), ("time_to_mitigate_s", "time_to_mitigate")):
        if key in times:
            checks.append(Check(name=label, status=Status.PASS, value=times[key], message=f"{times[key] / 60:.0f} min"))
    if "error_budget_used" in times:
        used = times["error_budget_used"]
        checks.append(
            Check(
                name="error_budget",
                status=Status.WARN if used > 1 else Status.PASS,
                value=used,
                threshold=1.0,
                message=f"{times['impact_s'] / 60:.0f} min of impact: {used:.0%} of the weekly budget of "
                f"{budget / 60:.1f} min at {policy.postmortem.availability_target:.2%}",
                source=policy.source_of("postmortem.availability_target"),
            )
        )
    # a post-mortem is a draft, not a gate: an unknown onset is reported, and the run still succeeds
    return [c if c.status != Status.INCONCLUSIVE else Check(**{**c.__dict__, "status": Status.WARN}) for c in checks]
