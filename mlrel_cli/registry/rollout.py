"""The rules of a gradual rollout: where a candidate stands, what a verdict does to it, and the change that records it.

A rollout's state is the registry's own: the candidate is the canary, its
traffic share is the current step, and the step began with the event that
set that share. Nothing else is stored, so a person's `registry promote
--stage canary --traffic 0.05` and `mlrel rollout` drive the same state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlrel_cli.registry.model import Event, ModelRecord, RegistryError, apply_event, promote

Decision = str  # start, advance, complete, hold, reject, done


@dataclass(frozen=True)
class Step:
    """Where the candidate stands: its step (percent; None before the first) and when that step began."""

    model: str
    candidate: str
    baseline: str | None
    percent: float | None
    started: str | None  # time of the event that set this share; identifies the step under concurrency

    @property
    def index_text(self) -> str:
        return "not started" if self.percent is None else f"{self.percent:g}%"


def current_step(record: ModelRecord, model: str, candidate: str, steps: list[float]) -> Step:
    version = record.version(candidate)
    if version is None:
        known = ", ".join(v.version for v in record.versions[-5:]) or "none"
        raise RegistryError(f"model '{model}' has no version '{candidate}' (latest: {known})")
    if record.production == candidate:
        return Step(model, candidate, record.production, 100.0, record.last_in_production(candidate))
    if version.status == "rolled_back":
        raise RegistryError(f"version '{candidate}' of '{model}' was rolled back; register a new version to roll out")
    if record.canary not in (None, candidate):
        raise RegistryError(
            f"'{record.canary}' is the canary of '{model}'; finish or roll back its rollout before starting '{candidate}'"
        )
    if record.production is None:
        raise RegistryError(f"model '{model}' has no production version to judge '{candidate}' against")
    if record.canary != candidate or version.traffic is None:
        return Step(model, candidate, record.production, None, None)
    started = next(
        (e.time for e in reversed(record.history) if e.action == "promote" and e.stage == "canary" and e.to_version == candidate),
        None,
    )
    return Step(model, candidate, record.production, round(version.traffic * 100, 6), started)


def next_percent(steps: list[float], percent: float | None) -> float:
    """The first step above ``percent`` (a share set by hand between steps climbs to the next one)."""
    if percent is None:
        return steps[0]
    return next((s for s in steps if s > percent + 1e-9), 100.0)


@dataclass(frozen=True)
class Judgement:
    """What the step's traffic says: compare's verdict, and whether the step has served its budget."""

    verdict: str  # promote, reject, inconclusive
    reasons: list[str]
    summary: str
    rows: int  # the candidate's rows in this step
    elapsed_s: float
    budget_met: bool
    budget_text: str


def decide(step: Step, judgement: Judgement | None, steps: list[float], on_inconclusive: str) -> tuple[Decision, str]:
    """The decision and why. Reject at once; advance only on a promote verdict once the step served its budget."""
    if step.percent is not None and step.percent >= 100 and step.baseline == step.candidate:
        return "done", f"{step.candidate} already serves production: the rollout is complete"
    if judgement is None:
        return "start", f"start the rollout at {next_percent(steps, None):g}% of traffic"
    if judgement.verdict == "reject":
        return "reject", "compare rejects the candidate: " + "; ".join(judgement.reasons)
    if not judgement.budget_met:
        unsure = f" (compare: {'; '.join(judgement.reasons)})" if judgement.verdict != "promote" else ""
        return "hold", f"thin step: {judgement.budget_text}; hold{unsure}"
    if judgement.verdict == "promote":
        target = next_percent(steps, step.percent)
        if target >= 100:
            return "complete", f"promote to production: {judgement.summary}"
        return "advance", f"advance to {target:g}%: {judgement.summary}"
    if on_inconclusive == "rollback":
        return "reject", f"inconclusive after the step's budget ({judgement.budget_text}); rollout.on_inconclusive: rollback"
    return "hold", f"inconclusive: {'; '.join(judgement.reasons)}; hold (rollout.on_inconclusive: hold)"


def rollout_change(
    step: Step,
    decision: Decision,
    why: str,
    steps: list[float],
    evidence: dict[str, Any],
    actor: str,
    now: Callable[[], str],
) -> Callable[[ModelRecord], tuple[ModelRecord, Event]]:
    """The change a decision applies under the registry's lock: only if the step it judged is still current."""

    def change(record: ModelRecord) -> tuple[ModelRecord, Event]:
        fresh = current_step(record, step.model, step.candidate, steps)
        if (fresh.percent, fresh.started, fresh.baseline) != (step.percent, step.started, step.baseline):
            last = record.history[-1] if record.history else None
            who = f" by {last.actor} at {last.time} ({last.action} {last.to_version or ''})" if last else ""
            raise RegistryError(
                f"the rollout of '{step.candidate}' moved from {step.index_text} to {fresh.index_text}{who} since this "
                "step was judged; nothing was done: run it again to judge the new step"
            )
        time = now()
        if decision in ("start", "advance", "complete"):
            target = next_percent(steps, step.percent)
            stage = "production" if target >= 100 else "canary"
            traffic = None if stage == "production" else target / 100
            new, event = promote(record, step.model, step.candidate, stage, traffic, actor, time, why, force=False)
            event = event.model_copy(update={"decision": decision, "evidence": evidence})
            return new.model_copy(update={"history": [*new.history[:-1], event]}), event
        event = Event(
            time=time,
            actor=actor,
            action="rollout",
            to_version=step.candidate,
            from_version=step.baseline,
            stage="canary",
            traffic=0.0 if decision == "reject" else (step.percent or 0) / 100,
            reason=why,
            decision=decision,
            evidence=evidence,
        )
        return apply_event(record, event), event

    return change


def elapsed_since(started: str | None, now: dt.datetime) -> float:
    if started is None:
        return 0.0
    return (now - dt.datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds()
