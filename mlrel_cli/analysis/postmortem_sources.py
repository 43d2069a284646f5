"""What the post-mortem reads from another analysis, in one place: drift's typed features and the proxy-metric
values of facts/proxy.py. When drift's payloads (payloads/drift.py) change, this file is the one to change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlrel_cli.logs import Log
from mlrel_cli.payloads.drift import Unseen
from mlrel_cli.policy import Policy
from mlrel_cli.report import Status

if TYPE_CHECKING:
    from mlrel_cli.analysis.drift import FeatureDrift as DriftedFeature


@dataclass(frozen=True)
class FeatureDrift:
    """One feature of drift's ``features`` section, as far as the post-mortem reads it."""

    name: str
    method: str
    failed: bool
    score: float
    threshold: float
    onset: dt.datetime | None  # the first window past its threshold, even if the whole log is not
    window_scores: tuple[tuple[dt.datetime, float | None], ...]
    unseen: Unseen | None


def drifted_features(reference: Log, log: Log, policy: Policy, window: dt.timedelta) -> list[FeatureDrift]:
    """Drift per feature with the drift command's windows."""
    from mlrel_cli.analysis.drift import drift

    report = drift(reference, log, policy, window=window)
    return [_feature(feature) for feature in report.sections["features"]]


def _feature(feature: DriftedFeature) -> FeatureDrift:
    """The post-mortem's view of drift's typed per-feature result (payloads/drift.FeatureDrift)."""
    return FeatureDrift(
        name=feature.name,
        method=feature.method,
        failed=feature.status == Status.FAIL,
        # no score where the values could not be compared (a column all missing fails on its missing share)
        score=feature.score if feature.score is not None else float("nan"),
        threshold=feature.threshold,
        onset=feature.onset,
        window_scores=tuple((w.start, w.score) for w in feature.windows),
        unseen=feature.unseen,
    )


def query_codes(log: Log, policy: Policy) -> np.ndarray | None:
    """The rows' query ids as codes, for the proxy metrics kept per query."""
    from mlrel_cli.facts.proxy import query_codes as codes

    return codes(log, policy)


def proxy_value(log: Log, policy: Policy, name: str, rows: np.ndarray, query: np.ndarray | None) -> float:
    """The proxy metric ``name`` over the given rows of the log."""
    from mlrel_cli.facts.proxy import proxy_values

    value: float = proxy_values(log, policy, name, rows, query)[0]
    return value
