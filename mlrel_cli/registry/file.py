"""The embedded registry: a human-readable YAML file meant to live in git, and its history ledger.

``registry.yaml`` holds each model's pointers (production, fallback,
canary) and versions; ``registry.history.jsonl`` beside it holds the
append-only history, one JSON object a line (JSON is YAML too: readable,
and a change adds one line to the diff). Keeping the history out of the
YAML keeps a rollback fast on a registry with years of history: PyYAML
needs about a second for 10,000 events, JSON 30 ms.

Every write takes a lock (``filelock``, on ``registry.yaml.lock``), re-reads
both files under it, appends the event to the ledger and fsyncs it, then
writes the YAML to a temporary file, fsyncs it and renames it over the
original, then fsyncs the directory. The YAML records how many events it
has seen (``events:``): if a crash ever falls between the two writes, the
next command sees the ledger ahead of the YAML and says so instead of
guessing. Two processes writing at once take turns and never lose an event;
a file that fails to parse or validate is reported and never overwritten.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock, Timeout
from pydantic import ValidationError

from mlrel_cli.outputs import file_mode
from mlrel_cli.registry.interface import Change
from mlrel_cli.registry.model import Event, ModelRecord, RegistryError, RegistryFile

LOCK_TIMEOUT_S = 30
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class FileRegistry:
    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.path = Path(location)
        self.location = str(self.path)
        self.ledger = self.path.with_name(self.path.stem + ".history.jsonl")

    # ------------------------------------------------------------ reading

    def _load(self, missing_ok: bool) -> tuple[RegistryFile, int]:
        """The registry with each model's history, and the number of events in the ledger."""
        if not self.path.exists():
            if not self.ledger.exists():
                if missing_ok:
                    return RegistryFile(), 0
                raise RegistryError("registry file not found (create it with: mlrel registry register)", self.location)
            # register itself lands here: naming it as the cure would send the user round in a circle
            raise RegistryError(
                f"registry file not found, though its history ledger {self.ledger.name} is there: restore the registry "
                "file beside it (mlrel will not start a new registry over an existing ledger)",
                self.location,
            )
        try:
            text = self.path.read_text(encoding="utf-8")
            data = yaml.load(text, Loader=_Loader)
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"cannot read registry: {exc}", self.location) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{self.location}:{mark.line + 1}" if mark else self.location
            problem = getattr(exc, "problem", exc)
            raise RegistryError(f"registry is not valid YAML ({problem}); left as it is", where) from None
        data = data or {}
        if not isinstance(data, dict):
            raise RegistryError("registry must be a mapping; left as it is", self.location)
        expected = data.pop("events", 0)
        events = self._read_ledger()
        if expected != len(events):
            raise RegistryError(
                f"registry says {expected} events but its history ledger holds {len(events)}: a change was "
                f"interrupted or one file was edited alone; compare {self.ledger.name} with the registry and "
                "fix by hand (nothing was changed)",
                self.location,
            )
        for model, event in events:
            entry = data.setdefault("models", {}).setdefault(model, {})
            if isinstance(entry, dict):
                entry.setdefault("history", []).append(event)
        try:
            return RegistryFile.model_validate(data), len(events)
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            raise RegistryError(
                f"registry is invalid at {path}: {first['msg']} ({exc.error_count()} problem(s)); left as it is",
                self.location,
            ) from None

    def _read_ledger(self) -> list[tuple[str, dict[str, Any]]]:
        if not self.ledger.exists():
            return []
        events = []
        try:
            with open(self.ledger, encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                        model = event.pop("model")
                    except (json.JSONDecodeError, KeyError, AttributeError):
                        raise RegistryError(
                            "history ledger line is not a JSON event with a model; left as it is",
                            f"{self.ledger}:{number}",
                        ) from None
                    events.append((model, event))
        except OSError as exc:
            raise RegistryError(f"cannot read the history ledger: {exc}", str(self.ledger)) from None
        return events

    def _locked_load(self, missing_ok: bool) -> tuple[RegistryFile, int]:
        """Readers take the lock too: between its two writes a change is visible in one file only."""
        if not self.path.parent.is_dir() or not os.access(self.path.parent, os.W_OK):
            return self._load(missing_ok)  # a read-only checkout: nobody can be writing here
        try:
            with FileLock(self.location + ".lock", timeout=LOCK_TIMEOUT_S):
                return self._load(missing_ok)
        except Timeout:
            message = f"registry is locked by another process for over {LOCK_TIMEOUT_S}s"
            raise RegistryError(message, self.location) from None

    def models(self) -> list[str]:
        return sorted(self._locked_load(missing_ok=True)[0].models)

    def read(self, model: str) -> ModelRecord:
        registry, _ = self._locked_load(missing_ok=False)
        if model not in registry.models:
            known = ", ".join(sorted(registry.models)) or "none"
            raise RegistryError(f"registry has no model '{model}' (models: {known})", self.location)
        return registry.models[model]

    # ------------------------------------------------------------ writing

    def change(self, model: str, change: Change, create: bool = False) -> tuple[ModelRecord, Event]:
        directory = self.path.parent if str(self.path.parent) else Path(".")
        if not directory.is_dir():
            raise RegistryError("registry directory does not exist", str(directory))
        try:
            with FileLock(self.location + ".lock", timeout=LOCK_TIMEOUT_S):
                registry, count = self._load(missing_ok=create)
                if model not in registry.models and not create:
                    known = ", ".join(sorted(registry.models)) or "none"
                    raise RegistryError(f"registry has no model '{model}' (models: {known})", self.location)
                record = registry.models.get(model, ModelRecord())
                new_record, event = change(record)
                models = dict(registry.models)
                models[model] = new_record
                self._append_event(model, event)
                self._write_state(RegistryFile(models=models), count + 1)
        except Timeout:
            message = f"registry is locked by another process for over {LOCK_TIMEOUT_S}s"
            raise RegistryError(message, self.location) from None
        return new_record, event

    def _append_event(self, model: str, event: Event) -> None:
        line = json.dumps({"model": model, **event.model_dump(by_alias=True, exclude_none=True)}, ensure_ascii=False)
        try:
            with open(self.ledger, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise RegistryError(f"cannot append to the history ledger: {exc.strerror}", str(self.ledger)) from None

    def _write_state(self, registry: RegistryFile, events: int) -> None:
        data = registry.model_dump(by_alias=True, exclude_none=True, mode="json")
        for record in data["models"].values():
            record.pop("history", None)
        data["events"] = events
        header = f"# mlrel model registry; its history is in {self.ledger.name}. Change it with `mlrel registry`.\n"
        text = header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
        directory = self.path.parent if str(self.path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, file_mode(self.path))
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise RegistryError(f"cannot write registry: {exc.strerror}; left as it was", self.location) from None
        try:  # make the rename itself durable
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass
