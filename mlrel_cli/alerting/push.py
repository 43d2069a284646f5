"""Push a run's metrics to a Prometheus Pushgateway, so a cron job needs no textfile collector.

The group is replaced (HTTP PUT): a check that no longer exists leaves no stale series.
Grouped by job, model and command, so validate's push never replaces drift's.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from mlrel_cli.report import Report

if TYPE_CHECKING:
    from mlrel_cli.alerting.http import Outcome


def grouping_key(report: Report) -> dict[str, str]:
    from mlrel_cli.render.openmetrics import base_labels

    labels = base_labels(report)
    return {"model": labels["model"], "command": labels["command"]}


def push(report: Report, url: str, job: str, timeout: float, retries: int) -> Outcome:
    from prometheus_client import push_to_gateway
    from prometheus_client.exposition import basic_auth_handler, default_handler

    from mlrel_cli.alerting.http import with_retries
    from mlrel_cli.render.openmetrics import registry_for

    registry = registry_for(report)
    parts = urllib.parse.urlsplit(url)
    handler = default_handler
    if parts.username is not None:
        # user:password in the URL: HTTP basic auth, and the URL without them is the one sent (and reported)
        user, password = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")

        def handler(url, method, timeout, headers, data):
            return basic_auth_handler(url, method, timeout, headers, data, user, password)

    def send() -> int:
        push_to_gateway(
            public_url(url), job=job, registry=registry, grouping_key=grouping_key(report), timeout=timeout, handler=handler
        )
        return 200

    return with_retries(send, retries)


def public_url(url: str) -> str:
    """The URL without any user:password, for the report."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
