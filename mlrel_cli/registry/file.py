"""The embedded registry: a human-readable YAML file meant to live in git, and its history ledger.

``registry.yaml`` holds each model's pointers (production, fallback,
canary) and versions; ``registry.history.jsonl`` beside it holds the
append-only history, one JSON object a line (JSON is YAML too: readable,
and a change adds one line to the diff). Keeping the history out of the
YAML keeps a rollback fast on a registry with years of history: PyYAML
needs about a second for 10,000 events, JSON 30 ms.

The ledger is the commit point and the YAML a view of it. Every write
takes a lock (``filelock``, on ``registry.yaml.lock``), re-reads both files
under it, appends the event to the ledger and fsyncs it (committed), then
writes the YAML to a temporary file, fsyncs it and renames it over the
original. The YAML records how many events it has seen (``events:``); when
a kill fell between the two writes, the ledger is ahead, and the next
command (or ``mlrel registry repair``) rolls the YAML forward by replaying
the missing events (``model.apply_event``) under the lock. A last ledger
line cut short by a crash was never committed and is dropped. A YAML that
claims more events than the ledger holds, a file that fails to parse or
validate, or a pointer to a version that does not exist (a bad hand edit)
is reported and never overwritten.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock, Timeout
from pydantic import ValidationError

from mlrel_cli.outputs import file_mode
from mlrel_cli.registry.interface import Change
from mlrel_cli.registry.model import Event, ModelRecord, RegistryError, RegistryFile, apply_event

LOCK_TIMEOUT_S = 30
KILL_AT_ENV = "MLREL_TEST_KILL_AT"  # tests only: SIGKILL this process at the named step of a write
STEPS = ("locked", "ledger-written", "ledger-synced", "yaml-written", "yaml-renamed")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _step(name: str) -> None:
    """A point where a crash may fall; the kill-at-every-step test stops the process here."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Repair:
    """What rolling the YAML forward from the ledger did (empty when nothing was needed)."""

    replayed: list[str] = field(default_factory=list)  # "model: action to", one per replayed event
    dropped_torn_line: bool = False
    removed_temporary: list[str] = field(default_factory=list)  # a killed write's half-written YAML

    @property
    def needed(self) -> bool:
        return bool(self.replayed) or self.dropped_torn_line or bool(self.removed_temporary)

    def describe(self) -> str:
        parts = []
        if self.replayed:
            parts.append(
                f"rolled registry.yaml forward by {len(self.replayed)} event(s) from the ledger: " + "; ".join(self.replayed)
            )
        if self.dropped_torn_line:
            parts.append("dropped a ledger line cut short by a crash (that change was never committed)")
        if self.removed_temporary:
            parts.append("removed a killed write's temporary file " + ", ".join(self.removed_temporary))
        return ", and ".join(parts) if parts else "nothing to repair: the registry and its ledger agree"


@dataclass
class _State:
    registry: RegistryFile
    events: int  # committed events in the ledger
    repair: Repair
    good_bytes: int  # length of the ledger up to its last complete line


class FileRegistry:
    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.path = Path(location)
        self.location = str(self.path)
        self.ledger = self.path.with_name(self.path.stem + ".history.jsonl")
        self.repaired = Repair()  # what the last read or write rolled forward, for the CLI to mention

    # ------------------------------------------------------------ reading

    def _load(self, missing_ok: bool) -> _State:
        """The registry rolled forward to its ledger, with each model's history."""
        events, good_bytes, torn = self._read_ledger()
        if not self.path.exists() and not events:
            if missing_ok:
                return _State(RegistryFile(), 0, Repair(dropped_torn_line=torn), good_bytes)
            raise RegistryError("registry file not found (create it with: mlrel registry register)", self.location)
        data = self._read_view()
        seen = data.pop("events", 0)
        if not isinstance(seen, int) or seen > len(events):
            raise RegistryError(
                f"registry says {seen} events but its history ledger holds {len(events)}: the ledger was truncated "
                f"or the registry edited alone; restore {self.ledger.name} (from git) and run again (nothing was changed)",
                self.location,
            )
        for model, event in events[:seen]:
            entry = data.setdefault("models", {}).setdefault(model, {})
            if isinstance(entry, dict):
                entry.setdefault("history", []).append(event)
        registry = self._validate(data)
        repair = Repair(dropped_torn_line=torn)
        models = dict(registry.models)
        for number, (model, raw) in enumerate(events[seen:], start=seen + 1):
            try:
                replayed = Event.model_validate(raw)
                models[model] = apply_event(models.get(model, ModelRecord()), replayed)
            except (ValidationError, RegistryError) as exc:
                raise RegistryError(
                    f"history ledger event cannot be rolled forward ({str(exc).splitlines()[0]}); left as it is",
                    f"{self.ledger}:{number}",
                ) from None
            repair.replayed.append(f"{model}: {replayed.action} {replayed.to_version or replayed.kind or ''}".rstrip())
        if repair.replayed:
            registry = RegistryFile(models=models)
        self._refuse_inconsistent(registry)
        return _State(registry, len(events), repair, good_bytes)

    def _read_view(self) -> dict[str, Any]:
        """The registry's YAML as a mapping (empty when only the ledger exists: the first change was killed before
        its view was written, and the view is rebuilt from the ledger)."""
        self._refuse_special_file()
        try:
            text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
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
        return data

    def _refuse_inconsistent(self, registry: RegistryFile) -> None:
        """A hand edit the schema cannot see: a version listed twice, a pointer to a version that is not there."""
        for model, record in registry.models.items():
            twice = record.duplicate_version()
            if twice:
                raise RegistryError(
                    f"registry is invalid at models.{model}.versions: version '{twice}' is listed twice (edited by hand?); "
                    "left as it is",
                    self.location,
                )
            dangling = record.dangling_pointer()
            if dangling:
                pointer, target = dangling
                raise RegistryError(
                    f"registry is invalid at models.{model}.{pointer}: no version '{target}' (edited by hand?); left as it is",
                    self.location,
                )

    def _validate(self, data: dict[str, Any]) -> RegistryFile:
        try:
            return RegistryFile.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            raise RegistryError(
                f"registry is invalid at {path}: {first['msg']} ({exc.error_count()} problem(s)); left as it is",
                self.location,
            ) from None

    def _read_ledger(self) -> tuple[list[tuple[str, dict[str, Any]]], int, bool]:
        """The committed events, the ledger's length up to its last complete line, and whether a torn line follows."""
        if not self.ledger.exists():
            return [], 0, False
        try:
            raw = self.ledger.read_bytes()
        except OSError as exc:
            raise RegistryError(f"cannot read the history ledger: {exc.strerror}", str(self.ledger)) from None
        complete = raw.rfind(b"\n") + 1
        torn = False
        if complete < len(raw):  # a line cut short: the write never finished, so the change never committed
            try:
                json.loads(raw[complete:])
                complete = len(raw)  # whole but for its newline: committed
            except ValueError:
                torn = True
        events = []
        for number, line in enumerate(raw[:complete].decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                model = event.pop("model")
            except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
                raise RegistryError(
                    "history ledger line is not a JSON event with a model; left as it is", f"{self.ledger}:{number}"
                ) from None
            events.append((model, event))
        return events, complete, torn

    def _writable(self) -> bool:
        return self.path.parent.is_dir() and os.access(self.path.parent, os.W_OK)

    def _locked_load(self, missing_ok: bool) -> RegistryFile:
        """Readers take the lock too, and persist a roll-forward so the next reader finds it done."""
        if not self._writable():
            return self._load(missing_ok).registry  # a read-only checkout: nobody can be writing here
        with self._lock():
            state = self._load(missing_ok)
            self._persist_repair(state)
            return state.registry

    def _refuse_special_file(self) -> None:
        """A device such as /dev/zero would be read until memory runs out, and get a lock file beside it."""
        if self.path.exists() and not self.path.is_file() and not self.path.is_dir():
            raise RegistryError("cannot read registry: not a regular file", self.location)

    def _lock(self) -> Any:
        self._refuse_special_file()
        lock = FileLock(self.location + ".lock", timeout=LOCK_TIMEOUT_S)
        try:
            lock.acquire()
        except Timeout:
            message = f"registry is locked by another process for over {LOCK_TIMEOUT_S}s"
            raise RegistryError(message, self.location) from None
        return _Held(lock)

    def _persist_repair(self, state: _State) -> None:
        """Under the lock: truncate a torn ledger line, write the rolled-forward YAML, remove stale temporaries."""
        self.repaired = state.repair
        directory = self.path.parent if str(self.path.parent) else Path(".")
        for stale in directory.glob(f".{self.path.name}.*.tmp"):  # only ever made under the lock: a killed write's
            stale.unlink(missing_ok=True)
            state.repair.removed_temporary.append(stale.name)
        if state.repair.dropped_torn_line:
            try:
                os.truncate(self.ledger, state.good_bytes)
            except OSError as exc:
                raise RegistryError(f"cannot repair the history ledger: {exc.strerror}", str(self.ledger)) from None
        if state.repair.replayed:
            self._write_state(state.registry, state.events)

    def models(self) -> list[str]:
        return sorted(self._locked_load(missing_ok=True).models)

    def read(self, model: str) -> ModelRecord:
        registry = self._locked_load(missing_ok=False)
        if model not in registry.models:
            known = ", ".join(sorted(registry.models)) or "none"
            raise RegistryError(f"registry has no model '{model}' (models: {known})", self.location)
        return registry.models[model]

    def repair(self) -> Repair:
        """Roll the YAML forward from the ledger now, under the lock; what was done."""
        if not self.path.exists() and not self.ledger.exists():
            raise RegistryError("registry file not found (create it with: mlrel registry register)", self.location)
        with self._lock():
            state = self._load(missing_ok=False)
            self._persist_repair(state)
        return state.repair

    # ------------------------------------------------------------ writing

    def change(self, model: str, change: Change, create: bool = False) -> tuple[ModelRecord, Event]:
        directory = self.path.parent if str(self.path.parent) else Path(".")
        if not directory.is_dir():
            raise RegistryError("registry directory does not exist", str(directory))
        with self._lock():
            _step("locked")
            state = self._load(missing_ok=create)
            self._persist_repair(state)
            registry = state.registry
            if model not in registry.models and not create:
                known = ", ".join(sorted(registry.models)) or "none"
                raise RegistryError(f"registry has no model '{model}' (models: {known})", self.location)
            record = registry.models.get(model, ModelRecord())
            new_record, event = change(record)
            models = dict(registry.models)
            models[model] = new_record
            self._append_event(model, event)  # the commit point
            self._write_state(RegistryFile(models=models), state.events + 1)
        return new_record, event

    def _append_event(self, model: str, event: Event) -> None:
        line = json.dumps({"model": model, **event.model_dump(by_alias=True, exclude_none=True)}, ensure_ascii=False)
        try:
            with open(self.ledger, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                _step("ledger-written")
                os.fsync(handle.fileno())
                _step("ledger-synced")
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
            _step("yaml-written")
            os.replace(tmp, self.path)
            _step("yaml-renamed")
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


class _Held:
    """The registry's lock, held for a ``with`` block."""

    def __init__(self, lock: FileLock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.lock.release()
