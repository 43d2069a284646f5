"""The registry's data: models, versions, pointers and the append-only history of change events.

Pure data and pure operations: every change is a function from a
``ModelRecord`` to a new one plus the ``Event`` that records it, so every
backend (the YAML file, MLflow) applies the same rules. Times are ISO-8601
UTC strings (``2026-11-24T10:00:00Z``): they sort as text and parse fast.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlrel_cli.errors import MlrelError

VersionStatus = Literal["candidate", "canary", "production", "retired", "rolled_back"]
Action = Literal["register", "promote", "set_fallback", "rollback"]


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


class ModelRecord(_Record):
    production: str | None = None
    fallback: str | None = None
    canary: str | None = None
    versions: list[Version] = Field(default_factory=list)
    history: list[Event] = Field(default_factory=list)

    def version(self, name: str) -> Version | None:
        return next((v for v in self.versions if v.version == name), None)

    def last_in_production(self, name: str) -> str | None:
        """When ``name`` last became production, from the history."""
        for event in reversed(self.history):
            if event.to_version == name and (event.stage == "production" or event.action == "rollback"):
                return event.time
        return None


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
    record: ModelRecord, model: str, version: str, artifact: str, code_version: str | None, config: str | None,
    actor: str, now: str,
) -> tuple[ModelRecord, Event]:  # fmt: skip
    if record.version(version) is not None:
        raise RegistryError(f"model '{model}' already has a version '{version}'")
    new = Version(version=version, artifact=artifact, code_version=code_version, config=config, created=now)
    event = Event(time=now, actor=actor, action="register", to_version=version, stage="candidate")
    return record.model_copy(update={"versions": [*record.versions, new], "history": [*record.history, event]}), event


def promote(
    record: ModelRecord, model: str, version: str, stage: str, traffic: float | None, actor: str, now: str,
    reason: str | None, force: bool,
) -> tuple[ModelRecord, Event]:  # fmt: skip
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
        time=now, actor=actor, action="promote", from_version=from_version, to_version=version, stage=stage,
        traffic=traffic if stage == "canary" else None, reason=reason,
    )  # fmt: skip
    versions = _with_status(record, changes, traffic_changes)
    return record.model_copy(update={**update, "versions": versions, "history": [*record.history, event]}), event


def set_fallback(record: ModelRecord, model: str, version: str, actor: str, now: str) -> tuple[ModelRecord, Event]:
    _require(record, model, version)
    event = Event(time=now, actor=actor, action="set_fallback", from_version=record.fallback, to_version=version)
    return record.model_copy(update={"fallback": version, "history": [*record.history, event]}), event


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
        raise RegistryError(f"version '{target}' already serves production for '{model}'")
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
        time=now, actor=actor, action="rollback", from_version=plan.from_version, to_version=plan.to_version,
        stage="production", reason=reason, incident=incident,
    )  # fmt: skip
    versions = _with_status(record, {plan.from_version: "rolled_back", plan.to_version: "production"}, {plan.to_version: None})
    canary = None if record.canary in (plan.from_version, plan.to_version) else record.canary
    return (
        record.model_copy(
            update={"production": plan.to_version, "canary": canary, "versions": versions,
                    "history": [*record.history, event]}
        ),
        event,
    )  # fmt: skip


def rollback_change(
    model: str, shown: RollbackPlan, to: str, force: bool, confirmed_by_person: bool, actor: str, reason: str,
    incident: str | None,
):  # fmt: skip
    """The change a rollback applies under the registry's lock, re-planned on the freshest record.

    If production moved since the plan was made: a relative target
    (``previous``, ``fallback``) is refused, so two engineers rolling back at
    once never roll back twice; a plan a person confirmed is refused if it
    changed at all; an explicit version with ``--yes`` goes ahead.
    """

    def refuse() -> RegistryError:
        return RegistryError(
            f"production of '{model}' changed to '{record_production[0]}' since the plan was made "
            f"({shown.from_version} -> {shown.to_version}); nothing was done: check and run the command again"
        )

    record_production: list[str | None] = [None]

    def change(record: ModelRecord) -> tuple[ModelRecord, Event]:
        record_production[0] = record.production
        moved = record.production != shown.from_version
        if moved and (to in ("previous", "fallback") or confirmed_by_person):
            raise refuse()
        fresh = plan_rollback(record, model, to, force)
        if confirmed_by_person and fresh.to_version != shown.to_version:
            raise refuse()
        return apply_rollback(record, fresh, actor, reason, incident, utc_now())

    return change
