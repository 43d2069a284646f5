"""`mlrel postmortem`'s evidence beyond the log: the registry's changes, the run history, the times against the
error budget, and the root-cause candidates and timeline drawn from all of it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlrel_cli.payloads.postmortem import (
    Change,
    DriftFinding,
    IncidentFacts,
    RootCause,
    Run,
    SegmentImpact,
    TimelineEntry,
    Times,
)
from mlrel_cli.policy import Policy
from mlrel_cli.report import Check, Status

WEEK_S = 7 * 86400


def changes(
    registry: Any, incident: IncidentFacts, policy: Policy, onset: dt.datetime | None, undetermined: list[str]
) -> list[Change]:
    """The registry events from four change windows before the onset to one after the incident ended."""
    model = incident.model or policy.model
    if registry is None:
        undetermined.append("change events: no --registry was given")
        return []
    if model is None:
        held = registry.models()
        if len(held) != 1:  # one model in the registry: it is the one; several: which one is not a guess to make
            undetermined.append(f"change events: the incident and the policy name no model, and the registry holds {len(held)}")
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
        out.append(
            Change(
                time=moment,
                action=event.action,
                from_version=event.from_version,
                to_version=event.to_version,
                stage=event.stage,
                traffic=event.traffic,
                actor=event.actor,
                reason=event.reason,
                incident=event.incident,
                kind=event.kind,
                what=event.what,
                ref=event.ref,
                revert=event.revert,
            )
        )
    return out


def run_history(path: Path | None, onset: dt.datetime | None, incident: IncidentFacts, policy: Policy) -> list[Run]:
    """The runs of the history file in the same span as the changes; unreadable lines are passed over."""
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
        out.append(Run(moment, run.get("command"), run.get("status"), run.get("summary")))
    return out


def times(incident: IncidentFacts, onset: dt.datetime | None, policy: Policy, undetermined: list[str]) -> Times:
    start = onset or incident.started
    target = policy.postmortem.availability_target
    budget = (1.0 - target) * WEEK_S
    detect = mitigate = impact = used = None
    if start and incident.detected:
        detect = (incident.detected - start).total_seconds()
    else:
        undetermined.append("time to detect: the onset or the detection time is unknown")
    if incident.detected and incident.mitigated:
        mitigate = (incident.mitigated - incident.detected).total_seconds()
    else:
        undetermined.append("time to mitigate: the detection or mitigation time is unknown")
    if start and incident.mitigated:
        impact = (incident.mitigated - start).total_seconds()
        used = impact / budget
    return Times(start, budget, target, detect, mitigate, impact, used)


def ranked(causes: list[RootCause]) -> list[RootCause]:
    """Strongest first (ties in the order found), numbered from 1."""
    ordered = sorted(causes, key=lambda c: -c.strength)
    return [replace(cause, rank=rank) for rank, cause in enumerate(ordered, start=1)]


def _where(change: Change) -> str:
    return f"{change.stage}" + (f" at {change.traffic:.0%}" if change.traffic else "")


def root_causes(
    changes: list[Change],
    drift: list[DriftFinding],
    segments: list[SegmentImpact],
    onset: dt.datetime | None,
    policy: Policy,
    detected: dt.datetime | None = None,
) -> list[RootCause]:
    """Candidates ranked by how tightly their evidence meets the onset; without one, the changes in the span
    before detection, nearest first (a deploy an hour before the page is still the first suspect)."""
    horizon = policy.postmortem.change_window.total_seconds()
    causes: list[RootCause] = []
    if onset is None and detected is not None:
        causes += _before_detection(changes, detected, horizon)
    if onset is not None:
        causes += _near_onset(changes, drift, onset, horizon)
    for finding in drift:
        causes += _drift_causes(finding)
    alpha = policy.validate_.weak_segments.alpha  # the false discovery rate the weak-segment search keeps too
    for row in [r for r in segments if r.worsening > 0 and r.p_adjusted <= alpha][:3]:
        summary = (
            f"errors concentrated in {row.segment}={row.value} ({row.before:.3g} -> {row.after:.3g}, "
            f"adjusted p {row.p_adjusted:.2g})"
        )
        causes.append(RootCause("segment", 0.3, summary, row))
    return ranked(causes)


def _before_detection(changes: list[Change], detected: dt.datetime, horizon: float) -> list[RootCause]:
    causes = []
    for change in changes:
        lead = (detected - change.time).total_seconds()
        if change.action not in ("promote", "rollback", "record") or not 0 <= lead <= 4 * horizon:
            continue
        strength = 0.9 - 0.5 * lead / (4 * horizon)
        when = f"at {change.time:%H:%M} UTC by {change.actor}, {lead / 60:.0f} min before detection (no onset found)"
        if change.action == "record":  # a config, data, feature, ... change recorded in the registry
            summary = f'{change.kind} change "{change.what}" {when}'
        else:
            summary = f"{change.to_version} {change.action}d to {_where(change)} {when}"
        causes.append(RootCause("change", strength, summary, change))
    return causes


def _near_onset(changes: list[Change], drift: list[DriftFinding], onset: dt.datetime, horizon: float) -> list[RootCause]:
    causes = []
    for change in changes:
        lead = (onset - change.time).total_seconds()
        if change.action == "record" and -900 <= lead <= horizon:
            causes.append(_recorded_cause(change, lead, horizon, drift))
            continue
        if change.action not in ("promote", "rollback") or not -900 <= lead <= horizon:
            continue
        strength = 1.0 - max(lead, 0) / horizon + (0.5 if change.stage == "production" else 0)
        summary = (
            f"{change.to_version} {change.action}d to {_where(change)} at {change.time:%H:%M} UTC by {change.actor}, "
            f"{abs(lead) / 60:.0f} min {'before' if lead >= 0 else 'after'} the onset"
        )
        causes.append(RootCause("change", strength, summary, change))
    return causes


def _drift_causes(finding: DriftFinding) -> list[RootCause]:
    strength = 1.0 if finding.at_onset else 0.4
    unseen = finding.unseen
    detail = f"; {unseen.categories} new categories" if unseen and unseen.categories else ""
    when = "at the onset" if finding.at_onset else f"from {finding.onset:%H:%M} UTC" if finding.onset else "over the log"
    summary = f"feature {finding.feature} drifted ({finding.method} {finding.score:.3g} > {finding.threshold:.3g}) {when}{detail}"
    causes = [RootCause("drift", strength, summary, finding)]
    if unseen and unseen.categories:
        values = ", ".join(str(t.value) for t in unseen.top[:3])
        causes.append(RootCause("new_categories", 0.8 * strength, f"new values of {finding.feature}: {values}", unseen))
    return causes


def _recorded_cause(change: Change, lead: float, horizon: float, drift: list[DriftFinding]) -> RootCause:
    """A recorded non-model change (config, rule, deploy, flag...) reaches all traffic, as a production promotion does,
    so it ranks by its nearness to the onset alike; a data or feature change that a feature's drift follows within
    the window ranks above another change as near."""
    strength = 1.0 - max(lead, 0) / horizon + 0.5
    followed = ""
    if change.kind in ("data", "feature"):
        for finding in drift:
            began = finding.onset
            if finding.at_onset or (began is not None and 0 <= (began - change.time).total_seconds() <= horizon):
                strength += 0.1 * (1.0 if finding.at_onset else 0.4)  # above a change as near, not a nearer one
                followed = f"; feature {finding.feature} drifts after it"
                break
    ref = f" ({change.ref})" if change.ref else ""
    summary = (
        f"{change.kind} change: {change.what}{ref} at {change.time:%H:%M} UTC by {change.actor}, "
        f"{abs(lead) / 60:.0f} min {'before' if lead >= 0 else 'after'} the onset{followed}"
    )
    return RootCause("change", strength, summary, change)


INCIDENT_TIMES = (("started", "incident started"), ("detected", "detected"), ("mitigated", "mitigated"), ("resolved", "resolved"))


def timeline(
    incident: IncidentFacts,
    onset: dt.datetime | None,
    changes: list[Change],
    runs: list[Run],
    drift: list[DriftFinding],
    metric: str | None,
) -> list[TimelineEntry]:
    entries = []
    for change in changes:
        if change.action == "record":
            event = f"{change.kind} change by {change.actor}: {change.what}"
        else:
            target = f"{change.to_version}" + (f" ({change.stage})" if change.stage else "")
            event = f"{change.action} {target} by {change.actor}" + (f": {change.reason}" if change.reason else "")
        entries.append(TimelineEntry(change.time, "registry", event))
    for run in runs:
        entries.append(TimelineEntry(run.time, "run history", f"{run.command} {run.status}: {run.summary}"))
    if onset is not None:
        entries.append(TimelineEntry(onset, "change point", f"{metric} regression begins (onset)"))
    for finding in drift:
        if finding.onset:
            entries.append(TimelineEntry(finding.onset, "drift", f"{finding.feature} starts drifting"))
    for name, label in INCIDENT_TIMES:
        moment = getattr(incident, name)
        if moment is not None:
            entries.append(TimelineEntry(moment, "incident", label))
    entries.sort(key=lambda e: e.time)
    return entries


def checks(times: Times, onset: dt.datetime | None, policy: Policy) -> list[Check]:
    # a post-mortem is a draft, not a gate: an unknown onset is reported as a warning, and the run still succeeds
    found = [
        Check(
            name="onset",
            status=Status.PASS if onset else Status.WARN,
            value=onset,
            message="regression onset found by change-point detection" if onset else "onset not determined",
        )
    ]
    for seconds, label in ((times.time_to_detect_s, "time_to_detect"), (times.time_to_mitigate_s, "time_to_mitigate")):
        if seconds is not None:
            found.append(Check(name=label, status=Status.PASS, value=seconds, message=f"{seconds / 60:.0f} min"))
    if times.error_budget_used is not None and times.impact_s is not None:
        used = times.error_budget_used
        found.append(
            Check(
                name="error_budget",
                status=Status.WARN if used > 1 else Status.PASS,
                value=used,
                threshold=1.0,
                message=f"{times.impact_s / 60:.0f} min of impact: {used:.0%} of the weekly budget of "
                f"{times.weekly_error_budget_s / 60:.1f} min at {policy.postmortem.availability_target:.2%}",
                source=policy.source_of("postmortem.availability_target"),
            )
        )
    return found
