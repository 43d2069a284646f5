"""Reports of the registry commands and of rollback (what the renderers print)."""

from __future__ import annotations

from mlrel_cli.payloads.table import Table
from mlrel_cli.registry.model import Event, ModelRecord, RollbackPlan
from mlrel_cli.report import Check, Report, Status

HISTORY_COLUMNS = ("time", "action", "kind", "from", "to", "stage", "traffic", "actor", "incident", "what / reason", "revert")


def show_report(location: str, model: str, record: ModelRecord) -> Report:
    rows = tuple(
        (v.version, v.status, v.traffic if v.traffic is not None else "", v.code_version or "", v.created, v.artifact)
        for v in record.versions
    )
    canary = record.version(record.canary) if record.canary else None
    canary_text = f", canary {record.canary} at {canary.traffic:.0%}" if canary and canary.traffic is not None else ""
    others = record.other_aliases or {}
    others_text = "; other aliases " + ", ".join(f"{a} -> {v}" for a, v in sorted(others.items())) if others else ""
    summary = (
        f"{model}: production {record.production or 'none'}, fallback {record.fallback or 'none'}{canary_text}; "
        f"{len(record.versions)} versions, {len(record.history)} events{others_text}."
    )
    return Report(
        command="registry show",
        status=Status.PASS,
        summary=summary,
        checks=(),
        inputs={"registry": location, "model": model},
        sections={
            "model": model,
            "production": record.production,
            "fallback": record.fallback,
            "canary": record.canary,
            "other_aliases": others,
            "versions": tuple(record.versions),
            "table": Table("versions", ("version", "status", "traffic", "code", "created", "artifact"), rows),
        },
    )


def history_report(location: str, model: str, record: ModelRecord, since: str | None, kinds: list[str] | None = None) -> Report:
    """The events since ``since``; ``kinds`` keeps recorded changes of those kinds (``model``: the version events)."""

    def kept(event: Event) -> bool:
        if since is not None and event.time < since:
            return False
        return not kinds or (event.kind or "model") in kinds

    events = [e for e in record.history if kept(e)]
    rows = tuple(
        (
            e.time,
            e.action,
            e.kind or "",
            e.from_version or "",
            e.to_version or "",
            e.stage or "",
            f"{e.traffic:.0%}" if e.traffic is not None else "",
            e.actor,
            e.incident or "",
            e.what or e.reason or "",
            e.revert or "",
        )
        for e in events
    )
    since_text = f" since {since}" if since else ""
    kind_text = f" of kind {', '.join(kinds)}" if kinds else ""
    return Report(
        command="registry history",
        status=Status.PASS,
        summary=f"{model}: {len(events)} change events{kind_text}{since_text}.",
        checks=(),
        inputs={"registry": location, "model": model, "since": since, "kinds": kinds or None},
        sections={
            "model": model,
            "events": tuple(events),
            "table": Table("history", HISTORY_COLUMNS, rows),
        },
    )


def repair_report(location: str, done: str, needed: bool) -> Report:
    return Report(
        command="registry repair",
        status=Status.PASS,
        summary=done + ".",
        checks=(Check(name="repair", status=Status.PASS, value="repaired" if needed else "clean", message=done),),
        inputs={"registry": location},
        sections={"repaired": needed, "actions": done},
    )


def change_report(command: str, location: str, model: str, record: ModelRecord, event: Event, summary: str) -> Report:
    return Report(
        command=command,
        status=Status.PASS,
        summary=summary,
        checks=(Check(name=event.action, status=Status.PASS, value=event.to_version, message=summary),),
        inputs={"registry": location, "model": model},
        sections={"model": model, "production": record.production, "event": event},
    )


def rollback_report(location: str, plan: RollbackPlan, event: Event | None, dry_run: bool) -> Report:
    if dry_run:
        summary = f"dry run: would roll {plan.model} back from {plan.from_version} to {plan.to_version}; nothing changed."
    else:
        summary = f"{plan.model} rolled back from {plan.from_version} to {plan.to_version}."
    last = plan.last_in_production or "never"
    return Report(
        command="rollback",
        status=Status.PASS,
        summary=summary,
        checks=(
            Check(
                name="rollback",
                status=Status.PASS,
                value=plan.to_version,
                threshold=None,
                message=f"{plan.from_version} -> {plan.to_version} ({plan.target_kind}; last in production: {last}; "
                f"code {plan.code_version or 'unknown'})",
            ),
        ),
        inputs={"registry": location, "model": plan.model},
        sections={
            "model": plan.model,
            "from_version": plan.from_version,
            "to_version": plan.to_version,
            "target": plan.target_kind,
            "dry_run": dry_run,
            "plan": plan,
            "event": event,
        },
    )
