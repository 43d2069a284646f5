"""One step of a gradual rollout: read the step from the registry, judge its traffic with compare, record the decision.

Meant to be called by cron or a CI loop (docs/rollout.md). The step's traffic
is the canary log's rows since the step began; compare's canary judgement
(``analysis.compare.compare_logs``, the entry point `mlrel compare` uses)
judges the candidate against production on them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from mlrel_cli.errors import LogError
from mlrel_cli.logs import Log
from mlrel_cli.payloads.compare import Candidate, MetricResult
from mlrel_cli.policy import Policy
from mlrel_cli.registry.interface import Registry
from mlrel_cli.registry.model import Event, utc_now
from mlrel_cli.registry.rollout import Judgement, Step, current_step, decide, elapsed_since, rollout_change
from mlrel_cli.report import Check, Report, Status

EXIT_STATUS = {
    "start": Status.PASS,
    "advance": Status.PASS,
    "complete": Status.PASS,
    "done": Status.PASS,
    "hold": Status.INCONCLUSIVE,
    "reject": Status.FAIL,
}


def rollout_step(
    registry: Registry,
    model: str,
    candidate: str,
    log: Log,
    labels: Log | None,
    policy: Policy,
    actor: str,
    dry_run: bool,
) -> Report:
    spec = policy.rollout
    record = registry.read(model)
    step = current_step(record, model, candidate, spec.steps)
    judgement = None
    compare_report = None
    if step.percent is not None and step.baseline != candidate:
        judgement, compare_report = judge(step, log, labels, policy)
    decision, why = decide(step, judgement, spec.steps, spec.on_inconclusive)
    evidence = _evidence(step, judgement, compare_report)
    event = None
    if not dry_run and decision != "done":
        _, event = registry.change(model, rollout_change(step, decision, why, spec.steps, evidence, actor, utc_now))
    return _report(registry.location, step, decision, why, evidence, event, dry_run, log.path)


def judge(step: Step, log: Log, labels: Log | None, policy: Policy) -> tuple[Judgement, Report | None]:
    """compare's canary verdict on the rows served since the step began, and whether the step served its budget."""
    import pyarrow.compute as pc

    from mlrel_cli.analysis.compare import compare_logs
    from mlrel_cli.logs.roles import resolve_roles

    spec = policy.rollout
    roles = resolve_roles(log, policy, label_from_labels_file=labels is not None)
    if roles.timestamp is None or roles.model_version is None:
        missing = "a timestamp" if roles.timestamp is None else "a model_version"
        raise LogError(f"rollout needs {missing} column in the canary log, to keep the current step's rows", log.path)
    step_log = since(log, roles.timestamp, step.started)
    versions = pc.cast(step_log.read([roles.model_version]).column(0), "string")
    rows = {v: int(pc.sum(pc.equal(versions, v)).as_py() or 0) for v in (step.baseline, step.candidate)}
    elapsed = elapsed_since(step.started, dt.datetime.now(dt.UTC))
    need = spec.min_duration.total_seconds() if spec.min_duration else 0.0
    budget_met = elapsed >= need and rows[step.candidate] >= spec.min_rows
    budget = f"{rows[step.candidate]:,} of {spec.min_rows:,} rollout.min_rows"
    if spec.min_duration:
        budget += f", {elapsed / 60:.0f} of {need / 60:.0f} min rollout.min_duration"
    if min(rows.values()) == 0:
        empty = [v for v, n in rows.items() if n == 0]
        reasons = [f"no rows of {', '.join(str(v) for v in empty)} in the canary log since the step began ({step.started})"]
        return Judgement("inconclusive", reasons, reasons[0], rows[step.candidate], elapsed, False, budget), None
    inputs = {"log": log.path, "labels": labels.path if labels else None, "since": step.started}
    report = compare_logs(policy, step_log, step.baseline, [step.candidate], None, [], labels, "canary", inputs, "local")
    entry = _judged(report)
    judgement = Judgement(
        verdict=entry.verdict,
        reasons=list(entry.reasons),
        summary=report.summary,
        rows=rows[step.candidate],
        elapsed_s=elapsed,
        budget_met=budget_met,
        budget_text=budget,
    )
    return judgement, report


def since(log: Log, column: str, started: str | None) -> Log:
    """The log's rows at or after ``started``, read lazily (a filter on the dataset, so compare still reads only its columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from mlrel_cli.logs.values import timestamps_keeping_rows

    if started is None:
        return log
    moment = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
    dtype = log.schema.field(column).type
    if pa.types.is_timestamp(dtype):
        bound = pa.scalar(moment if dtype.tz else moment.replace(tzinfo=None), type=pa.timestamp("us", tz=dtype.tz))
        dataset = log.dataset.filter(ds.field(column) >= pc.cast(bound, dtype))
    else:  # ISO strings: parse them once, then keep the rows by position
        us = timestamps_keeping_rows(log.column(column), log.path)
        table = log.dataset.to_table().filter(pa.array(us >= int(moment.timestamp() * 1_000_000)))
        dataset = ds.dataset(table)
    return dataclasses.replace(log, dataset=dataset, num_rows=dataset.count_rows())


def _evidence(step: Step, judgement: Judgement | None, compare_report: Report | None) -> dict[str, Any]:
    evidence: dict[str, Any] = {"step_percent": step.percent, "step_started": step.started, "baseline": step.baseline}
    if judgement is not None:
        evidence.update(
            verdict=judgement.verdict,
            compare_summary=judgement.summary,
            reasons=judgement.reasons,
            candidate_rows=judgement.rows,
            elapsed_s=round(judgement.elapsed_s, 1),
            budget_met=judgement.budget_met,
        )
    if compare_report is not None:
        evidence["metrics"] = {name: _metric_evidence(m) for name, m in _judged(compare_report).metrics_by_name.items()}
    return evidence


def _judged(compare_report: Report) -> Candidate:
    """The step's one candidate, as compare judged it."""
    candidates: tuple[Candidate, ...] = compare_report.sections["candidates"]
    return candidates[0]


def _metric_evidence(m: MetricResult) -> dict[str, Any]:
    low, high = m.interval
    return {
        "baseline": m.baseline,
        "candidate": m.candidate,
        "delta": m.delta,
        "ci_low": low,
        "ci_high": high,
        "classification": m.classification,
    }


def _report(
    location: str,
    step: Step,
    decision: str,
    why: str,
    evidence: dict[str, Any],
    event: Event | None,
    dry_run: bool,
    log_path: str,
) -> Report:
    status = EXIT_STATUS[decision]
    prefix = "dry run: " if dry_run else ""
    summary = f"{prefix}{decision}: {step.model} {step.candidate} (at {step.index_text}): {why}"
    if dry_run:
        summary += "; nothing recorded"
    after = None
    if event is not None:
        after = 100.0 if event.stage == "production" else (event.traffic or 0) * 100
    return Report(
        command="rollout",
        status=status,
        summary=summary,
        checks=(Check(name="rollout_step", status=status, value=decision, message=why),),
        inputs={"registry": location, "model": step.model, "candidate": step.candidate, "log": log_path},
        sections={
            "model": step.model,
            "candidate": step.candidate,
            "baseline": step.baseline,
            "decision": decision,
            "step_percent": step.percent,
            "step_started": step.started,
            "traffic_percent_after": after,
            "dry_run": dry_run,
            "evidence": evidence,
            "event": event,
        },
    )
