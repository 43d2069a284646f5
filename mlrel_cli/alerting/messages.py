"""What each kind of target receives: the report (generic), one chat message (Slack), an event (PagerDuty v2)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from mlrel_cli.report import Report, Status

TOP_OFFENDERS = 3
_HEADLINE = {"trigger": "FAILING", "remind": "STILL FAILING", "resolve": "RESOLVED"}
_ICON = {"trigger": ":red_circle:", "remind": ":repeat:", "resolve": ":large_green_circle:"}


def top_offenders(report: Report) -> list[dict[str, Any]]:
    """The worst checks that did not pass, each with its readable sentence."""
    bad = [c for c in report.ordered_checks() if c.status in (Status.FAIL, Status.INCONCLUSIVE, Status.WARN)]
    return [{"check": c.name, "status": c.status.value, "message": c.message} for c in bad[:TOP_OFFENDERS]]


def next_command(report: Report, model: str | None) -> str | None:
    """What the person paged would type first: put the last good model back, or, without a model, look closer."""
    if report.status != Status.FAIL:
        return None
    reason = f"mlrel {report.command}: {report.summary}"[:200]
    if not model:
        return None
    to = str(report.inputs["baseline"]) if report.command == "compare" and report.inputs.get("baseline") else "previous"
    return f"mlrel rollback {shlex.quote(model)} --to {shlex.quote(to)} --reason {shlex.quote(reason)}"


def body(kind: str, event: str, report: Report, context: dict[str, Any], secret: str | None) -> bytes:
    if kind == "slack":
        payload = slack(event, report, context)
    elif kind == "pagerduty":
        payload = pagerduty(event, report, context, secret or "")
    else:
        payload = generic(event, report, context)
    return json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")


def generic(event: str, report: Report, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": event,
        **context,
        "status": report.status.value,
        "summary": report.summary,
        "top": top_offenders(report),
        "next": next_command(report, context.get("model")),
        "report": report.to_dict(),
    }


def slack(event: str, report: Report, context: dict[str, Any]) -> dict[str, Any]:
    """One message: the verdict, the top offenders, the next command (Slack's incoming-webhook format)."""
    model = context.get("model") or "model"
    head = f"{_ICON[event]} *{_HEADLINE[event]}* mlrel {report.command} on `{model}`: {report.status.value.upper()}"
    text = f"{head}\n{report.summary}"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    offenders = top_offenders(report) if event != "resolve" else []
    if offenders:
        lines = "\n".join(f"• `{o['check']}` {o['status']}: {o['message']}" for o in offenders)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": lines}})
    command = next_command(report, context.get("model")) if event != "resolve" else None
    if command:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Next: `{command}`"}]})
    return {"text": text, "blocks": blocks}


def pagerduty(event: str, report: Report, context: dict[str, Any], routing_key: str) -> dict[str, Any]:
    """Events API v2: trigger (a reminder is a trigger again, folded by the same dedup_key) or resolve."""
    if event == "resolve":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": context["dedup_key"]}
    model = context.get("model") or "model"
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": context["dedup_key"],
        "payload": {
            "summary": f"mlrel {report.command} {report.status.value} on {model}: {report.summary}"[:1024],
            "source": f"mlrel {report.command}",
            "severity": "error" if report.status == Status.FAIL else "warning",
            "component": model,
            "group": report.command,
            "class": "mlrel",
            "custom_details": {
                "policy": context.get("policy"),
                "top": top_offenders(report),
                "next": next_command(report, context.get("model")),
            },
        },
        "client": "mlrel",
    }
