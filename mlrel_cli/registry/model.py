"""The registry's data: models, versions, pointers and the append-only history of change events.

Pure data and pure operations: every change is a function from a
``ModelRecord`` to a new one plus the ``Event`` that records it, so every
backend (the YAML file, MLflow) applies the same rules. Times are ISO-8601
UTC strings (``2026-11-24T10:00:00Z``): they sort as text and parse fast.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlrel_cli.errors import MlrelError

VersionStatus = Literal["candidate", "canary", "production", "retired", "rolled_back"]
Action = Literal["register", "promote", "set_fallback", "rollback", "record", "rollout"]
ChangeKind = Literal["code", "config", "data", "feature", "rule", "infra", "flag"]
CHANGE_KINDS: tuple[str, ...] = ("code", "config", "data", "feature", "rule", "infra", "flag")


class RegistryError(MlrelError):
    """A registry that cannot be read, or a change the rules refuse: exit 2, nothing written."""


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Version(_Record):
    version: str
    artifact: str
    code_version: str | None = None
    config: str | None = None
    created: str
    status: VersionStatus = "candidate"
    traffic: float | None = Field(default=None, ge=0.0, le=1.0)

    def to_dict(self) -> dict[str, Any]:
        """As the registry commands' JSON shows it (docs/registry.md): unset fields left out."""
        return self.model_dump(exclude_none=True)


class Event(_Record):
    time: str
    actor: str
    action: Action
    from_version: str | None = Field(default=None, alias="from")
    to_version: str | None = Field(default=None, alias="to")
    stage: str | None = None
    traffic: float | None = None
    reason: str | None = None
    incident: str | None = None
    # register: what the version is, so the YAML can be rolled forward from the ledger alone
    artifact: str | None = None
    code_version: str | None = None
    config: str | None = None
    # record: a change that is not a model version (a deploy, a rule, a flag)
    kind: ChangeKind | None = None
    what: str | None = None
    ref: str | None = None
    revert: str | None = None
    # rollout: the decision of one step and the compare summary behind it
    decision: str | None = None
    evidence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the registry commands' JSON shows it: ``from_version``/``to_version`` (not the ledger's ``from``/``to``),
        unset fields left out."""
        return self.model_dump(by_alias=False, exclude_none=True)

    @property
    def moves_production(self) -> bool:
        return self.stage == "production" and self.action in ("promote", "rollback")


class ModelRecord(_Record):
    production: str | None = None
    fallback: str | None = None
    canary: str | None = None
    versions: list[Version] = Field(default_factory=list)
    history: list[Event] = Field(default_factory=list)
    other_aliases: dict[str, str] | None = None  # MLflow aliases mlrel does not own (alias -> version), shown only

    def version(self, name: str) -> Version | None:
        return next((v for v in self.versions if v.version == name), None)

    def last_in_production(self, name: str) -> str | None:
        """When ``name`` last became production, from the history."""
        for event in reversed(self.history):
            if event.to_version == name and (event.stage == "production" or event.action == "rollback"):
                return event.time
        return None

    def last_production_move(self) -> Event | None:
        return next((e for e in reversed(self.history) if e.moves_production), None)

    def dangling_pointer(self) -> tuple[str, str] | None:
        """A pointer (production, fallback, canary) naming a version the model does not have: a bad hand edit."""
        names = {v.version for v in self.versions}
        for pointer in ("production", "fallback", "canary"):
            target = getattr(self, pointer)
            if target is not None and target not in names:
                return pointer, target
        return None

    def duplicate_version(self) -> str | None:
        """A version listed twice: which entry a pointer means is ambiguous, another bad hand edit."""
        names = [v.version for v in self.versions]
        return next((name for name in names if names.count(name) > 1), None)


class RegistryFile(_Record):
    version: Literal[1] = 1
    models: dict[str, ModelRecord] = Field(default_factory=dict)


# ---------------------------------------------------------------- the rules


def _with_status(record: ModelRecord, changes: dict[str, VersionStatus], traffic: dict[str, float | None]) -> list[Version]:
    out = []
    for v in record.versions:
        if v.version in changes or v.version in traffic:
            update: dict[str, object] = {}
            if v.version in changes:
                update["status"] = changes[v.version]
            if v.version in traffic:
                update["traffic"] = traffic[v.version]
            v = v.model_copy(update=update)
        out.append(v)
    return out


def register(
    record: ModelRecord,
    model: str,
    version: str,
    artifact: str,
    code_version: str | None,
    config: str | None,
    actor: str,
    now: str,
) -> tuple[ModelRecord, Event]:
    if record.version(version) is not None:
        raise RegistryError(f"model '{model}' already has a version '{version}'")
    new = Version(version=version, artifact=artifact, code_version=code_version, config=config, created=now)
    event = Event(
        time=now,
        actor=actor,
        action="register",
        to_version=version,
        stage="candidate",
        artifact=artifact,
        code_version=code_version,
        config=config,
    )
    return record.model_copy(update={"versions": [*record.versions, new], "history": [*record.history, event]}), event


def promote(
    record: ModelRecord,
    model: str,
    version: str,
    stage: str,
    traffic: float | None,
    actor: str,
    now: str,
    reason: str | None,
    force: bool,
) -> tuple[ModelRecord, Event]:
    target = _require(record, model, version)
    if target.status == "rolled_back" and not force:
        raise RegistryError(f"version '{version}' of '{model}' was rolled back; pass --force to promote it again")
    if stage == "production":
        if record.production == version:
            raise RegistryError(f"version '{version}' already serves production for '{model}'")
        changes: dict[str, VersionStatus] = {version: "production"}
        if record.production:
            changes[record.production] = "retired"
        traffic_changes: dict[str, float | None] = {version: None}
        update = {
            "production": version,
            "canary": None if record.canary == version else record.canary,
        }
        from_version = record.production
    else:
        if record.production == version:
            raise RegistryError(f"version '{version}' serves production for '{model}'; it cannot be a canary")
        changes = {version: "canary"}
        if record.canary and record.canary != version:
            changes[record.canary] = "candidate"
        traffic_changes = {version: traffic}
        update = {"canary": version}
        from_version = record.canary if record.canary != version else version
    event = Event(
        time=now,
        actor=actor,
        action="promote",
        from_version=from_version,
        to_version=version,
        stage=stage,
        traffic=traffic if stage == "canary" else None,
        reason=reason,
    )
    versions = _with_status(record, changes, traffic_changes)
    return record.model_copy(update={**update, "versions": versions, "history": [*record.history, event]}), event


def set_fallback(record: ModelRecord, model: str, version: str, actor: str, now: str) -> tuple[ModelRecord, Event]:
    _require(record, model, version)
    event = Event(time=now, actor=actor, action="set_fallback", from_version=record.fallback, to_version=version)
    return record.model_copy(update={"fallback": version, "history": [*record.history, event]}), event


def record_change(
    record: ModelRecord,
    kind: str,
    what: str,
    ref: str | None,
    revert: str | None,
    actor: str,
    at: str,
    now: str,
) -> tuple[ModelRecord, Event]:
    """A change that is not a model version (a deploy, a config, a business rule, a flag): history only."""
    if kind not in CHANGE_KINDS:
        raise RegistryError(f"change kind '{kind}' is not one of {', '.join(CHANGE_KINDS)}")
    if not what.strip():
        raise RegistryError("--what must say what changed")
    event = Event(time=at, actor=actor, action="record", kind=kind, what=what, ref=ref, revert=revert)
    del now  # the event's time is when the change happened (--at), which may be before it is recorded
    return record.model_copy(update={"history": [*record.history, event]}), event


def apply_event(record: ModelRecord, event: Event) -> ModelRecord:
    """The record after ``event``: how the YAML view is rolled forward from the ledger.

    Every committed event was checked by the rules against this same record
    when it was made, so replaying it cannot be refused; the stored event
    (its time, actor, reason) is kept as it was written.
    """
    action, to = event.action, event.to_version
    if action in ("register", "promote", "set_fallback", "rollback") and to is None:
        raise RegistryError(f"a {action} event names no version ('to')")
    if action == "rollback" and event.from_version is None:
        raise RegistryError("a rollback event names no version it replaced ('from')")
    if action == "register":
        new = Version(
            version=to or "",
            artifact=event.artifact or "",
            code_version=event.code_version,
            config=event.config,
            created=event.time,
        )
        record = record.model_copy(update={"versions": [*record.versions, new]})
    elif action == "promote" and to is not None:
        stage = event.stage or "production"
        record, _ = promote(record, "", to, stage, event.traffic, event.actor, event.time, None, force=True)
        record = record.model_copy(update={"history": record.history[:-1]})
    elif action == "set_fallback":
        record = record.model_copy(update={"fallback": to})
    elif action == "rollback" and event.from_version and to:
        version = _require(record, "", to)
        plan = RollbackPlan(
            model="",
            from_version=event.from_version,
            to_version=to,
            target_kind="version",
            last_in_production=None,
            code_version=version.code_version,
            artifact=version.artifact,
        )
        record, _ = apply_rollback(record, plan, event.actor, event.reason or "", event.incident, event.time)
        record = record.model_copy(update={"history": record.history[:-1]})
    elif action == "rollout" and event.decision == "reject" and to:
        record = record.model_copy(
            update={
                "versions": _with_status(record, {to: "rolled_back"}, {to: 0.0}),
                "canary": None if record.canary == to else record.canary,
            }
        )
    return record.model_copy(update={"history": [*record.history, event]})


def _require(record: ModelRecord, model: str, version: str) -> Version:
    found = record.version(version)
    if found is None:
        known = ", ".join(v.version for v in record.versions[-5:]) or "none"
        raise RegistryError(f"model '{model}' has no version '{version}' (latest: {known})")
    return found


# ---------------------------------------------------------------- rollback


class RollbackPlan(BaseModel):
    model: str
    from_version: str
    to_version: str
    target_kind: str  # previous, fallback, version
    last_in_production: str | None
    code_version: str | None
    artifact: str

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def plan_rollback(record: ModelRecord, model: str, to: str, force: bool) -> RollbackPlan:
    """The rollback the rules allow, or RegistryError saying why not (nothing is changed either way)."""
    current = record.production
    if current is None:
        raise RegistryError(f"model '{model}' has no production version to roll back")
    if to == "previous":
        target = _previous_production(record)
        if target is None:
            raise RegistryError(
                f"model '{model}' has no earlier production version that was not rolled back; use --to fallback or --to VERSION"
            )
        kind = "previous"
    elif to == "fallback":
        if record.fallback is None:
            raise RegistryError(f"model '{model}' has no fallback version (set one with: mlrel registry set-fallback)")
        target, kind = record.fallback, "fallback"
    else:
        target, kind = to, "version"
    version = _require(record, model, target)
    if target == current:
        last = record.last_production_move()
        since = f" (moved there by {last.actor} at {last.time}, {last.action})" if last else ""
        raise RegistryError(f"version '{target}' already serves production for '{model}'{since}; nothing was done")
    if version.status == "rolled_back" and not force:
        raise RegistryError(f"version '{target}' of '{model}' was rolled back before; pass --force to use it anyway")
    return RollbackPlan(
        model=model,
        from_version=current,
        to_version=target,
        target_kind=kind,
        last_in_production=record.last_in_production(target),
        code_version=version.code_version,
        artifact=version.artifact,
    )


def _previous_production(record: ModelRecord) -> str | None:
    """The last production version before the current one that was not rolled back."""
    for event in reversed(record.history):
        if event.stage == "production" or event.action == "rollback":
            for candidate in (event.to_version, event.from_version):
                if candidate is None or candidate == record.production:
                    continue
                version = record.version(candidate)
                if version is not None and version.status != "rolled_back":
                    return candidate
    return None


def apply_rollback(
    record: ModelRecord, plan: RollbackPlan, actor: str, reason: str, incident: str | None, now: str
) -> tuple[ModelRecord, Event]:
    if record.production != plan.from_version:
        raise RegistryError(f"production of '{plan.model}' changed while planning (now '{record.production}'); nothing was done")
    event = Event(
        time=now,
        actor=actor,
        action="rollback",
        from_version=plan.from_version,
        to_version=plan.to_version,
        stage="production",
        reason=reason,
        incident=incident,
    )
    versions = _with_status(record, {plan.from_version: "rolled_back", plan.to_version: "production"}, {plan.to_version: None})
    canary = None if record.canary in (plan.from_version, plan.to_version) else record.canary
    return (
        record.model_copy(
            update={"production": plan.to_version, "canary": canary, "versions": versions, "history": [*record.history, event]}
        ),
        event,
    )


def rollback_change(
    model: str,
    shown: RollbackPlan,
    to: str,
    force: bool,
    confirmed_by_person: bool,
    actor: str,
    reason: str,
    incident: str | None,
    started: str | None = None,
    settle_s: float = 0.0,
) -> Callable[[ModelRecord], tuple[ModelRecord, Event]]:
    """The change a rollback applies under the registry's lock, re-planned on the freshest record.

    A relative target (``previous``, ``fallback``) commits only if production
    is still the version it was planned against and nobody moved production
    since the command started (``started``), and ``previous`` also only if
    production was not rolled back less than ``settle_s`` seconds before: of N engineers rolling back at once exactly
    one applies, even one who read the registry just after another's
    rollback landed. A plan a person confirmed is refused if it
    changed at all; an explicit version with ``--yes`` goes ahead.
    """

    def change(record: ModelRecord) -> tuple[ModelRecord, Event]:
        moved = record.production != shown.from_version
        last = record.last_production_move()
        raced = started is not None and last is not None and last.time > started
        if to == "previous" and started is not None and last is not None and last.action == "rollback" and settle_s > 0:
            # engineers paged together start seconds apart: one who read just after another's rollback landed
            # would otherwise roll back a second time
            raced = raced or last.time > _shift(started, -settle_s)
        if (moved or raced) and (to in ("previous", "fallback") or confirmed_by_person):
            raise production_moved(model, record, shown.from_version, shown.to_version)
        fresh = plan_rollback(record, model, to, force)
        if confirmed_by_person and fresh.to_version != shown.to_version:
            raise production_moved(model, record, shown.from_version, shown.to_version)
        return apply_rollback(record, fresh, actor, reason, incident, utc_now())

    return change


def _shift(time: str, seconds: float) -> str:
    moment = dt.datetime.fromisoformat(time.replace("Z", "+00:00")) + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def production_moved(model: str, record: ModelRecord, planned_from: str | None, planned_to: str | None) -> RegistryError:
    """Who moved production under a change planned against another state: the loser of a race is told."""
    last = record.last_production_move()
    who = f" by {last.actor} at {last.time} ({last.action} {last.from_version or '-'} -> {last.to_version})" if last else ""
    return RegistryError(
        f"production of '{model}' was moved to '{record.production}'{who} since this command planned "
        f"{planned_from or '-'} -> {planned_to or '-'}; nothing was done: check and run the command again"
    )
