"""Alert state kept in the run history: is an alert open at each target, since when, what to send now.

Each run that notifies records an ``alerting`` section in its history line; the
next run reads the newest line with the same ``dedup_key`` (reading the file
backwards, so a long history costs no more than its tail). Per target: a failing
run opens an alert where none is open, a passing one resolves an open one, and
a delivery that failed leaves the state as it was, so the next run tries again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlrel_cli.report import Status

Event = Literal["trigger", "remind", "resolve"]
_BLOCK = 1 << 16


def dedup_key(model: str | None, command: str, policy_file: str | None) -> str:
    """Stable across runs and hosts: the model, the command and the policy file's name, hashed to a short suffix."""
    policy = Path(policy_file).name if policy_file else ""
    digest = hashlib.sha256(f"{model or ''}\0{command}\0{policy}".encode()).hexdigest()[:12]
    return f"mlrel/{model or 'unnamed'}/{command}/{digest}"


@dataclass(frozen=True)
class TargetState:
    open: bool = False
    opened_at: str | None = None
    sent_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"open": self.open, "opened_at": self.opened_at, "sent_at": self.sent_at}


@dataclass(frozen=True)
class State:
    status: str | None = None
    inconclusive_runs: int = 0
    targets: dict[str, TargetState] | None = None

    def target(self, name: str) -> TargetState:
        return (self.targets or {}).get(name, TargetState())


def last_state(history: Path, key: str) -> State:
    """The state the newest run with this key recorded, or the empty state (nothing open)."""
    needle = json.dumps(key).encode()
    for line in _lines_backwards(history):
        if needle not in line:
            continue
        try:
            section = json.loads(line).get("alerting") or {}
        except (ValueError, AttributeError):
            continue  # a torn or foreign line: look further back
        if section.get("dedup_key") != key:
            continue
        targets = {
            name: TargetState(bool(t.get("open")), t.get("opened_at"), t.get("sent_at"))
            for name, t in (section.get("targets") or {}).items()
        }
        return State(section.get("status"), int(section.get("inconclusive_runs") or 0), targets)
    return State()


def _lines_backwards(path: Path) -> Any:
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        rest = b""
        while position > 0:
            step = min(_BLOCK, position)
            position -= step
            handle.seek(position)
            chunk = handle.read(step) + rest
            lines = chunk.split(b"\n")
            rest = lines[0]
            for line in reversed(lines[1:]):
                if line.strip():
                    yield line
        if rest.strip():
            yield rest


def wanted(status: Status, previous: State, inconclusive_runs: int | None) -> tuple[str, int]:
    """("firing" | "resolved" | "hold", consecutive inconclusive runs) for this run's verdict.

    Inconclusive holds the current state (no page for labels that have not arrived yet) until it has
    lasted ``inconclusive_runs`` runs in a row, if the policy sets that.
    """
    if status == Status.FAIL:
        return "firing", 0
    if status == Status.INCONCLUSIVE:
        runs = previous.inconclusive_runs + 1
        if inconclusive_runs is not None and runs >= inconclusive_runs:
            return "firing", runs
        return "hold", runs
    return "resolved", 0


def event_for(want: str, state: TargetState, now: dt.datetime, remind_every: dt.timedelta | None) -> Event | None:
    if want == "firing" and not state.open:
        return "trigger"
    due = remind_every is not None and state.sent_at is not None and now - _time(state.sent_at) >= remind_every
    if want == "firing" and due:
        return "remind"
    if want == "resolved" and state.open:
        return "resolve"
    return None


def after(state: TargetState, event: Event | None, delivered: bool, now: str) -> TargetState:
    """The state to record: unchanged unless the event reached the target."""
    if event is None or not delivered:
        return state
    if event == "trigger":
        return TargetState(True, now, now)
    if event == "remind":
        return TargetState(True, state.opened_at, now)
    return TargetState(False, None, now)


def _time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
