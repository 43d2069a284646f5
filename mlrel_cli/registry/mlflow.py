"""The MLflow backend: the same commands drive MLflow's Model Registry.

Mapping (docs/registry.md):

- a model is an MLflow registered model; a version is an MLflow model
  version, its mlrel name in the tag ``mlrel.version`` (MLflow numbers its
  versions itself), its code version, config, status and traffic in
  ``mlrel.*`` tags, its artifact URI as the version's source. A version
  MLflow made without mlrel is known by its number; so that a name can
  never mean two versions, mlrel refuses to register a bare number as a
  name, and a registry where two versions answer to one name is reported;
- production, fallback and canary are aliases, named ``production``,
  ``fallback`` and ``canary`` unless the registry URI's fragment renames
  them (``http://host:5000#production=champion&canary=challenger``), so
  serving code that loads ``models:/NAME@production`` follows a rollback at
  once; other aliases are shown, never touched;
- the history is kept as registered-model tags, one per event, keyed
  ``mlrel.event.<time>.<random>``: unique keys never collide, and the events
  travel with the model where the team already looks.

MLflow has no transactions and no compare-and-set, but creating a
registered model whose name exists fails: a change holds the lock model
``<model>.mlrel-lock`` (created at the start, deleted at the end, presumed
dead after ``LOCK_LEASE_S``, two minutes), so a change re-reads and writes while no other
mlrel change runs, and a rollback or rollout step re-planned under it sees
the last one. Each MLflow call is atomic on its own; a change writes the
version tags and aliases, then the event.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import random
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

from mlrel_cli.registry.interface import Change
from mlrel_cli.registry.model import Event, ModelRecord, RegistryError, Version

EVENT_PREFIX = "mlrel.event."
POINTERS = ("production", "fallback", "canary")
LOCK_SUFFIX = ".mlrel-lock"
LOCK_TIMEOUT_S = 180  # twenty writers queueing on a busy server take turns of a second or more
LOCK_LEASE_S = 120  # a change takes seconds; a lock older than this was left by a killed process
MAX_REASON = 2000
PAGE = 100  # MLflow's default page of registered models; versions are read in pages of the same size


def parse_location(location: str) -> tuple[str, dict[str, str]]:
    """The tracking URI, and each pointer's alias name from the fragment (``#production=champion&canary=challenger``)."""
    uri, _, fragment = location.partition("#")
    aliases = {pointer: pointer for pointer in POINTERS}
    for key, value in urllib.parse.parse_qsl(fragment, keep_blank_values=True):
        if key not in POINTERS:
            raise RegistryError(f"registry URI fragment names '{key}'; it may rename {', '.join(POINTERS)}", location)
        if not value or not value.replace("-", "").replace("_", "").isalnum():
            raise RegistryError(f"alias name for {key} must be letters, digits, - or _ (got '{value}')", location)
        aliases[key] = value
    if len(set(aliases.values())) < len(aliases):
        raise RegistryError("two pointers share one alias name", location)
    return uri, aliases


def quoted(name: str) -> str:
    """A model name as an MLflow filter-string literal (MLflow has no escapes: pick the quote it lacks)."""
    if "'" not in name:
        return f"'{name}'"
    if '"' not in name:
        return f'"{name}"'
    raise RegistryError(f"model name {name!r} holds both quote characters: MLflow's search cannot express it")


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
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines ("Created version ...") are not ours
        self.location = tracking_uri
        uri, self.aliases = parse_location(tracking_uri)
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

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
        names: list[str] = []
        token = None
        while True:
            page = self._call("search", self.client.search_registered_models, max_results=PAGE, page_token=token)
            names.extend(m.name for m in page if not m.name.endswith(LOCK_SUFFIX))
            token = page.token
            if not token:
                return sorted(names)

    def _versions(self, model: str) -> list[Any]:
        found: list[Any] = []
        token = None
        while True:
            page = self._call(
                "search", self.client.search_model_versions, f"name={quoted(model)}", max_results=PAGE, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                return found

    def read(self, model: str) -> ModelRecord:
        if not self._exists(model):
            raise RegistryError(f"MLflow has no registered model '{model}'", self.location)
        record, _ = self._read(model)
        return record

    def _read(self, model: str) -> tuple[ModelRecord, dict[str, str]]:
        """The record, and mlrel version name -> MLflow version number."""
        registered = self._call("read", self.client.get_registered_model, model)
        numbers: dict[str, str] = {}
        by_number: dict[str, str] = {}
        parsed: list[tuple[int, Version]] = []
        for mv in self._versions(model):
            tags = mv.tags or {}
            name = tags.get("mlrel.version", str(mv.version))
            if name in numbers:
                raise RegistryError(
                    f"versions {numbers[name]} and {mv.version} of MLflow model '{model}' both answer to '{name}' "
                    f"(an mlrel name equal to an MLflow number); rename one's mlrel.version tag",
                    self.location,
                )
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
        aliases = {str(k): str(v) for k, v in (getattr(registered, "aliases", {}) or {}).items()}
        events = sorted((k, v) for k, v in (registered.tags or {}).items() if k.startswith(EVENT_PREFIX))
        history = []
        for key, value in events:
            try:
                history.append(Event.model_validate(json.loads(value)))
            except (ValueError, TypeError):
                raise RegistryError(f"MLflow tag '{key}' of '{model}' is not an mlrel event", self.location) from None
        history.sort(key=lambda e: e.time)  # a recorded change may carry an earlier --at than its key
        owned = set(self.aliases.values())
        others = {alias: by_number.get(number, number) for alias, number in aliases.items() if alias not in owned}
        pointers = {p: by_number.get(aliases[a]) if a in aliases else None for p, a in self.aliases.items()}
        record = ModelRecord(
            **pointers,
            versions=[v for _, v in sorted(parsed, key=lambda item: item[0])],
            history=history,
            other_aliases=others or None,
        )
        return record, numbers

    @contextlib.contextmanager
    def _lock(self, model: str) -> Iterator[None]:
        """Hold ``<model>.mlrel-lock``: creating a registered model that exists fails, MLflow's only test-and-set."""
        from mlflow.exceptions import MlflowException

        name = model + LOCK_SUFFIX
        token = uuid.uuid4().hex
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                self.client.create_registered_model(
                    name,
                    tags={"mlrel.lock.expires": str(time.time() + LOCK_LEASE_S), "mlrel.lock.owner": token},
                    description=f"mlrel holds this while it changes '{model}'; deleted when the change ends",
                )
                break
            except MlflowException as exc:  # taken, or a create racing a release: look again
                last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            except OSError as exc:
                raise RegistryError(f"cannot reach MLflow for the lock: {exc}", self.location) from None
            holder = self._lock_holder(name)
            if holder is not None and holder[0] == token:  # created, though the answer was lost
                break
            if holder is not None and holder[1] < time.time():
                self._drop_lock(name)
                continue
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"MLflow model '{model}' is locked by another mlrel change for over {LOCK_TIMEOUT_S}s ({last})",
                    self.location,
                )
            time.sleep(random.uniform(0.05, 0.2))
        try:
            yield
        finally:
            self._drop_lock(name)

    def _lock_holder(self, name: str) -> tuple[str, float] | None:
        """The lock's owner token and expiry, or None when nobody holds it."""
        from mlflow.exceptions import MlflowException

        try:
            tags = self.client.get_registered_model(name).tags or {}
        except (MlflowException, OSError):
            return None
        try:
            return tags.get("mlrel.lock.owner", ""), float(tags.get("mlrel.lock.expires", "0"))
        except ValueError:
            return tags.get("mlrel.lock.owner", ""), 0.0

    def _drop_lock(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        with contextlib.suppress(MlflowException, OSError):
            self.client.delete_registered_model(name)

    def repair(self) -> Any:
        """Remove change locks left by killed processes; events are single tags, so nothing else can be half made."""
        from mlrel_cli.registry.file import Repair

        done = Repair()
        for model in self.models():
            name = model + LOCK_SUFFIX
            holder = self._lock_holder(name)
            if holder is not None and holder[1] < time.time():
                self._drop_lock(name)
                done.removed_temporary.append(name)
        return done

    def change(self, model: str, change: Change, create: bool = False) -> tuple[ModelRecord, Event]:
        if not self._exists(model):
            if not create:
                raise RegistryError(f"MLflow has no registered model '{model}'", self.location)
            with contextlib.suppress(RegistryError):  # another process may create it at the same moment
                self._call("create", self.client.create_registered_model, model)
        with self._lock(model):
            return self._change_locked(model, change)

    def _change_locked(self, model: str, change: Change) -> tuple[ModelRecord, Event]:
        old, numbers = self._read(model)
        new, event = change(old)
        if event.action == "register" and event.to_version and event.to_version.isdigit():
            raise RegistryError(
                f"on MLflow a version name may not be a bare number ('{event.to_version}'): MLflow numbers its "
                f"versions itself, so '{event.to_version}' could later mean two versions; use v{event.to_version}",
                self.location,
            )
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
        for pointer, alias in self.aliases.items():
            target = getattr(new, pointer)
            if target == getattr(old, pointer):
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
