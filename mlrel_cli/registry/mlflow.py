"""The MLflow backend: the same commands drive MLflow's Model Registry.

Mapping (docs/registry.md):

- a model is an MLflow registered model; a version is an MLflow model
  version, its mlrel name in the tag ``mlrel.version`` (MLflow numbers its
  versions itself), its code version, config, status and traffic in
  ``mlrel.*`` tags, its artifact URI as the version's source;
- production, fallback and canary are the aliases ``production``,
  ``fallback`` and ``canary``, so serving code that loads
  ``models:/NAME@production`` follows a rollback at once;
- the history is kept as registered-model tags, one per event, keyed
  ``mlrel.event.<time>.<random>``: MLflow has no transactions and no
  compare-and-set, so a ledger that rewrote one value would lose events
  under concurrent writers, while unique keys never collide. The events
  travel with the model in MLflow, where the team already looks, instead of
  in a file beside a registry that may not be on the same machine.

Each MLflow call is atomic on its own; a change writes the version tags and
aliases, then the event. Moving an alias is last-writer-wins, which is why
rollback re-plans from a fresh read just before writing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from typing import Any

from mlrel_cli.registry.interface import Change
from mlrel_cli.registry.model import Event, ModelRecord, RegistryError, Version

EVENT_PREFIX = "mlrel.event."
ALIASES = ("production", "fallback", "canary")
MAX_REASON = 2000


class MlflowRegistry:
    def __init__(self, tracking_uri: str) -> None:
        # MLflow's client retries for minutes by default; a rollback at 3 a.m. must fail fast instead.
        # Users who want otherwise set these variables themselves.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise RegistryError(
                "an MLflow registry needs the mlflow package: pip install 'mlrel[mlflow]'", tracking_uri
            ) from None
        self.location = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise RegistryError(f"MLflow {what} failed: {message}", self.location) from None
        except OSError as exc:  # connection refused, DNS, ...
            raise RegistryError(f"cannot reach MLflow for {what}: {exc}", self.location) from None

    def _exists(self, model: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(model)
            return True
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise RegistryError(f"MLflow lookup of '{model}' failed: {exc}", self.location) from None

    def models(self) -> list[str]:
        found = self._call("search", self.client.search_registered_models)
        return sorted(m.name for m in found)

    def read(self, model: str) -> ModelRecord:
        if not self._exists(model):
            raise RegistryError(f"MLflow has no registered model '{model}'", self.location)
        record, _ = self._read(model)
        return record

    def _read(self, model: str) -> tuple[ModelRecord, dict[str, str]]:
        """The record, and mlrel version name -> MLflow version number."""
        registered = self._call("read", self.client.get_registered_model, model)
        versions = self._call("search", self.client.search_model_versions, f"name='{model}'")
        numbers: dict[str, str] = {}
        by_number: dict[str, str] = {}
        parsed: list[tuple[int, Version]] = []
        for mv in versions:
            tags = mv.tags or {}
            name = tags.get("mlrel.version", str(mv.version))
            numbers[name] = str(mv.version)
            by_number[str(mv.version)] = name
            traffic = tags.get("mlrel.traffic")
            parsed.append(
                (
                    int(mv.version),
                    Version(
                        version=name,
                        artifact=mv.source or "",
                        code_version=tags.get("mlrel.code_version"),
                        config=tags.get("mlrel.config"),
                        created=_iso(mv.creation_timestamp),
                        status=tags.get("mlrel.status", "candidate"),
                        traffic=float(traffic) if traffic else None,
                    ),
                )
            )
        aliases = getattr(registered, "aliases", {}) or {}
        events = sorted((k, v) for k, v in (registered.tags or {}).items() if k.startswith(EVENT_PREFIX))
        history = []
        for key, value in events:
            try:
                history.append(Event.model_validate(json.loads(value)))
            except (ValueError, TypeError):
                raise RegistryError(f"MLflow tag '{key}' of '{model}' is not an mlrel event", self.location) from None
        record = ModelRecord(
            production=by_number.get(str(aliases.get("production"))) if "production" in aliases else None,
            fallback=by_number.get(str(aliases.get("fallback"))) if "fallback" in aliases else None,
            canary=by_number.get(str(aliases.get("canary"))) if "canary" in aliases else None,
            versions=[v for _, v in sorted(parsed, key=lambda item: item[0])],
            history=history,
        )
        return record, numbers

    def change(self, model: str, change: Change, create: bool = False) -> tuple[ModelRecord, Event]:
        if not self._exists(model):
            if not create:
                raise RegistryError(f"MLflow has no registered model '{model}'", self.location)
            self._call("create", self.client.create_registered_model, model)
        old, numbers = self._read(model)
        new, event = change(old)
        for version in new.versions:
            before = old.version(version.version)
            if before is None:
                tags = {"mlrel.version": version.version, "mlrel.status": version.status}
                if version.code_version:
                    tags["mlrel.code_version"] = version.code_version
                if version.config:
                    tags["mlrel.config"] = version.config
                created = self._call("register", self.client.create_model_version, model, version.artifact, tags=tags)
                numbers[version.version] = str(created.version)
                continue
            number = numbers[version.version]
            if before.status != version.status:
                self._call("tag", self.client.set_model_version_tag, model, number, "mlrel.status", version.status)
            if before.traffic != version.traffic:
                if version.traffic is None:
                    self._call("untag", self.client.delete_model_version_tag, model, number, "mlrel.traffic")
                else:
                    self._call("tag", self.client.set_model_version_tag, model, number, "mlrel.traffic", str(version.traffic))
        for alias in ALIASES:
            target = getattr(new, alias)
            if target == getattr(old, alias):
                continue
            if target is None:
                self._call("alias", self.client.delete_registered_model_alias, model, alias)
            else:
                self._call("alias", self.client.set_registered_model_alias, model, alias, numbers[target])
        payload = event.model_dump(by_alias=True, exclude_none=True)
        if payload.get("reason") and len(payload["reason"]) > MAX_REASON:
            payload["reason"] = payload["reason"][:MAX_REASON] + "..."
        stamp = "".join(ch for ch in event.time if ch.isalnum())  # MLflow tag keys allow no colons
        key = f"{EVENT_PREFIX}{stamp}.{uuid.uuid4().hex[:8]}"
        self._call("history", self.client.set_registered_model_tag, model, key, json.dumps(payload))
        return new, event


def _iso(millis: int | None) -> str:
    if not millis:
        return ""
    moment = dt.datetime.fromtimestamp(millis / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
