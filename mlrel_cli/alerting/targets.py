"""Notification targets: who is told, resolved from the policy and ``--notify``, secrets read from the environment.

A secret (a Slack webhook URL, a PagerDuty routing key, a bearer token) is only
ever named by its environment variable; its value lives in a Target in memory
and is never part of a report, the history or a message.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from mlrel_cli.errors import MlrelError

if TYPE_CHECKING:
    from mlrel_cli.policy import NotifyTarget

Kind = Literal["webhook", "slack", "pagerduty"]
KINDS: tuple[Kind, ...] = ("webhook", "slack", "pagerduty")
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Target:
    """One webhook to POST to. ``url`` and ``secret`` are excluded from repr so a traceback cannot show them."""

    name: str
    kind: Kind
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)


def resolve_targets(policy_targets: dict[str, NotifyTarget], options: list[str], where: str = "--notify") -> list[Target]:
    """``--notify`` wins over the policy (as ``--history`` does); without it every policy target is told.

    An option is a target name from the policy's ``notify.targets``, or ``KIND:ENV`` for a target whose
    secret (the webhook URL, or PagerDuty's routing key) is in environment variable ENV.
    """
    if not options:
        return [_from_policy(name, spec) for name, spec in policy_targets.items()]
    targets = []
    for option in options:
        if option in policy_targets:
            targets.append(_from_policy(option, policy_targets[option]))
            continue
        kind, sep, env = option.partition(":")
        if not sep or kind not in KINDS or not _ENV_NAME.match(env):
            known = ", ".join(repr(n) for n in policy_targets) or "none in the policy"
            raise MlrelError(
                f"{where} {option!r}: not a target of the policy's notify.targets ({known}) nor KIND:ENV "
                "with KIND webhook, slack or pagerduty and ENV the environment variable holding its secret"
            )
        if kind == "pagerduty":
            targets.append(Target(option, "pagerduty", PAGERDUTY_EVENTS_URL, _env(env, option)))
        else:
            targets.append(Target(option, "slack" if kind == "slack" else "webhook", _url(_env(env, option), env, option)))
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MlrelError(f"{where}: target {duplicates[0]!r} given twice")
    return targets


def _from_policy(name: str, spec: NotifyTarget) -> Target:
    where = f"notify.targets.{name}"
    url = spec.url
    if spec.url_env is not None:
        url = _url(_env(spec.url_env, where), spec.url_env, where)
    if spec.kind == "pagerduty":
        assert spec.routing_key_env is not None  # the policy requires it
        return Target(name, spec.kind, url or PAGERDUTY_EVENTS_URL, _env(spec.routing_key_env, where))
    token = _env(spec.token_env, where) if spec.token_env is not None else None
    return Target(name, spec.kind, url or "", token)


def _env(name: str, where: str) -> str:
    value = os.environ.get(name, "")
    if not value.strip():
        raise MlrelError(f"{where}: environment variable {name} is not set (it holds the target's secret)")
    return value.strip()


def _url(value: str, env: str, where: str) -> str:
    if not value.startswith(("http://", "https://")):
        # never echo the value: it is a secret
        raise MlrelError(f"{where}: environment variable {env} does not hold an http(s) URL")
    return value
