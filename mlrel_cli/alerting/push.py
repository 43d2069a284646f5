"""Push a run's metrics to a Prometheus Pushgateway, so a cron job needs no textfile collector.

The group is replaced (HTTP PUT): a check that no longer exists leaves no stale series.
Grouped by job, model and command, so validate's push never replaces drift's.
"""

from __future__ import annotations

import urllib.parse

from mlrel_cli.alerting.http import Outcome, with_retries
from mlrel_cli.report import Report


def grouping_key(report: Report) -> dict[str, str]:
    from mlrel_cli.render.openmetrics import base_labels

    labels = base_labels(report)
    return {"model": labels["model"], "command": labels["command"]}


def push(report: Report, url: str, job: str, timeout: float, retries: int) -> Outcome:
    from prometheus_client import push_to_gateway

    from mlrel_cli.render.openmetrics import registry_for

    registry = registry_for(report)

    def send() -> int:
        push_to_gateway(url, job=job, registry=registry, grouping_key=grouping_key(report), timeout=timeout)
        return 200

    return with_retries(send, retries)


def public_url(url: str) -> str:
    """The URL without any user:password, for the report."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
