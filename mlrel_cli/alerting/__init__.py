"""Alerting: Prometheus metrics pushed per run, and notifications sent only when the status changes.

``plan`` resolves the targets before any work (a missing secret is a usage
error, exit 2); ``alert`` runs after the analysis: it reads the previous state
from the run history, sends what changed, pushes the metrics, and returns the
report with an ``alerting`` section that the history line then records. A
delivery that fails is in that section and never changes the exit code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrel_cli.alerting.push import public_url
from mlrel_cli.alerting.state import after, dedup_key, event_for, last_state, wanted
from mlrel_cli.alerting.targets import Target, resolve_targets
from mlrel_cli.errors import MlrelError
from mlrel_cli.report import Report

if TYPE_CHECKING:
    from mlrel_cli.alerting.http import Outcome
    from mlrel_cli.policy import Policy


@dataclass(frozen=True)
class Plan:
    model: str | None
    policy_file: str | None
    targets: tuple[Target, ...] = ()
    pushgateway: str | None = None
    job: str = "mlrel"
    push_timeout: float = 5.0
    timeout: float = 5.0
    retries: int = 2
    inconclusive_runs: int | None = None
    remind_every: dt.timedelta | None = None
    note: str | None = None


def plan(policy: Policy, notify: list[str], pushgateway: str | None, history: Path | None) -> Plan:
    """Everything alerting needs, checked before the run: targets known, secrets set, a history to keep state."""
    targets = tuple(resolve_targets(policy.notify.targets, notify))
    note = None
    if targets and history is None:
        if notify:
            raise MlrelError(
                "notifications need a run history to tell a new incident from a continuing one: "
                "give --history FILE or history: in the policy"
            )
        # the policy's targets on a run without a history (someone trying a policy by hand): nobody is told
        targets, note = (), "the policy's notify targets were not told: this run has no history (--history)"
    url = pushgateway or policy.metrics.pushgateway
    if url is not None and not url.startswith(("http://", "https://")):
        raise MlrelError(f"--pushgateway: {public_url(url)!r} is not an http(s) URL")
    if url is not None and importlib.util.find_spec("prometheus_client") is None:
        raise MlrelError("--pushgateway needs prometheus_client: pip install 'mlrel[metrics]'")
    return Plan(
        model=policy.model,
        policy_file=policy.files[-1] if policy.files else None,
        targets=targets,
        pushgateway=url,
        job=policy.metrics.job,
        push_timeout=policy.metrics.timeout.total_seconds(),
        timeout=policy.notify.timeout.total_seconds(),
        retries=policy.notify.retries,
        inconclusive_runs=policy.notify.inconclusive_runs,
        remind_every=policy.notify.remind_every,
        note=note,
    )


def with_model(report: Report, model: str | None) -> Report:
    """The model's name in ``inputs`` (from the policy), for the metrics' labels and the messages."""
    if model is None or "model" in report.inputs:
        return report
    return dataclasses.replace(report, inputs={"model": model, **report.inputs})


def alert(report: Report, todo: Plan, history: Path | None, now: dt.datetime | None = None) -> Report:
    """Notify the targets whose state changes and push the metrics, at once; the report gains an ``alerting`` section."""
    report = with_model(report, todo.model)
    section: dict[str, Any] = {"note": todo.note} if todo.note else {}
    if todo.targets or todo.pushgateway:
        # imported here: a run without targets pays nothing for urllib and threads
        from concurrent.futures import ThreadPoolExecutor

        from mlrel_cli.alerting.push import push

        with ThreadPoolExecutor(max_workers=1) as pool:
            pushed = (
                pool.submit(push, report, todo.pushgateway, todo.job, todo.push_timeout, todo.retries)
                if todo.pushgateway
                else None
            )
            if todo.targets:
                section.update(notify(report, todo, history, now or dt.datetime.now(dt.UTC)))
            if pushed is not None and todo.pushgateway is not None:
                section["pushgateway"] = {"url": public_url(todo.pushgateway), "job": todo.job, **_record(pushed.result())}
    if not section:
        return report
    return dataclasses.replace(report, sections={**report.sections, "alerting": section})


def notify(report: Report, todo: Plan, history: Path | None, now: dt.datetime) -> dict[str, Any]:
    """Send each target the event its state calls for, in parallel; the state and deliveries to record."""
    from concurrent.futures import ThreadPoolExecutor

    if history is None:
        raise MlrelError("notifications need a run history to keep their state")
    key = dedup_key(todo.model, report.command, todo.policy_file)
    previous = last_state(history, key)
    want, inconclusive = wanted(report.status, previous, todo.inconclusive_runs)
    context = {"dedup_key": key, "model": todo.model, "command": report.command, "policy": todo.policy_file}
    events = {t.name: event_for(want, previous.target(t.name), now, todo.remind_every) for t in todo.targets}
    with ThreadPoolExecutor(max_workers=len(todo.targets)) as pool:
        jobs = {
            t.name: pool.submit(_send, t, event, report, context, todo)
            for t in todo.targets
            if (event := events[t.name]) is not None
        }
        outcomes: dict[str, Outcome] = {name: job.result() for name, job in jobs.items()}

    stamp = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    states, deliveries = {}, []
    for target in todo.targets:
        event, outcome = events[target.name], outcomes.get(target.name)
        state = after(previous.target(target.name), event, outcome is not None and outcome.delivered, stamp)
        states[target.name] = {"kind": target.kind, **state.to_dict()}
        if event is not None and outcome is not None:
            deliveries.append({"target": target.name, "kind": target.kind, "event": event, **_record(outcome)})
    return {
        "dedup_key": key,
        "status": report.status.value,
        "previous_status": previous.status,
        "inconclusive_runs": inconclusive,
        "targets": states,
        "deliveries": deliveries,
    }


def _send(target: Target, event: str, report: Report, context: dict[str, Any], todo: Plan) -> Outcome:
    from mlrel_cli.alerting.http import Outcome, post
    from mlrel_cli.alerting.messages import body

    try:
        payload = body(target.kind, event, report, context, target.secret)
    except Exception as exc:  # a bug here is reported as undelivered: the exit code stays the verdict's
        return Outcome(False, 0, None, f"could not build the message: {type(exc).__name__}", 0.0)
    headers = {"Content-Type": "application/json"}
    if target.kind == "webhook" and target.secret:
        headers["Authorization"] = f"Bearer {target.secret}"
    return post(target.url, payload, headers, todo.timeout, todo.retries)


def _record(outcome: Outcome) -> dict[str, Any]:
    return {
        "delivered": outcome.delivered,
        "attempts": outcome.attempts,
        "status_code": outcome.status_code,
        "error": outcome.error,
        "seconds": round(outcome.seconds, 4),
    }


def failures(report: Report) -> list[str]:
    """One sentence per delivery that did not arrive, for stderr."""
    section = report.sections.get("alerting") or {}
    lines = [section["note"]] if section.get("note") else []
    lines += [
        f"notification {d['event']} to {d['target']} ({d['kind']}) not delivered after {d['attempts']} attempts: {d['error']}"
        for d in section.get("deliveries", [])
        if not d["delivered"]
    ]
    gateway = section.get("pushgateway")
    if gateway and not gateway["delivered"]:
        lines.append(f"metrics not pushed to {gateway['url']} after {gateway['attempts']} attempts: {gateway['error']}")
    return lines
