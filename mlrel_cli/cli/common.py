"""Small helpers the command modules share: loading the policy, resolving paths, parsing times."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from mlrel_cli.errors import MlrelError

if TYPE_CHECKING:
    from mlrel_cli.policy import Policy


def load(policy_path: Path | None) -> Policy:
    from mlrel_cli.policy import load_policy

    return load_policy(policy_path)


def history_path(option: Path | None, policy: Policy, policy_path: Path | None) -> Path | None:
    """--history wins; a relative ``history:`` in the policy is relative to the policy file."""
    if option is not None:
        return option
    if policy.history:
        path = Path(policy.history)
        if not path.is_absolute() and policy_path is not None:
            path = policy_path.parent / path
        return path
    return None


def parse_time(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MlrelError(f"{option}: '{text}' is not an ISO-8601 time such as 2026-11-24T10:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def outputs_ready(
    output: Path | None,
    history: Path | None,
    policy,
    policy_path: Path | None,
    inputs: tuple[str | None, ...] = (),
    force: bool = False,
    fmt=None,
) -> Path | None:
    """Resolve the history file and check both outputs can be written, before any work: a run that
    cannot record its result must fail at once, not after minutes of reading. Neither may be an input."""
    from mlrel_cli.cli.emit import file_format
    from mlrel_cli.outputs import plan, plan_history

    history_file = history_path(history, policy, policy_path)
    sources = (*inputs, str(policy_path) if policy_path else None, *getattr(policy, "files", ()))
    if output is not None:
        file_format(output, fmt)
        plan(output, "report", sources, force)
    if history_file is not None:
        plan_history(history_file, (*sources, str(output) if output else None), force)
    return history_file
