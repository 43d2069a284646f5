"""What validate's checks judge, as the engine gathered it (plan.py): nothing here reads the log again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrel_cli.facts.columns import LabelCount, NumericFacts, PredictionFacts, TimeFacts, WindowCounts
from mlrel_cli.facts.labelled import LabelledEvidence
from mlrel_cli.policy import Policy
from mlrel_cli.stats.summaries import CategoricalSummary, TooManyCategories


@dataclass(frozen=True)
class QueryRows:
    """A ranking log's labelled results, every one of them (the weak-segment search groups them into queries)."""

    query: np.ndarray  # each row's query as an integer code (-1: no query)
    position: np.ndarray
    gain: np.ndarray
    keep: np.ndarray  # rows with a query, a position and a gain


class Facts:
    """The gathered facts, read by the checks; nothing here reads the log again."""

    def __init__(
        self, reference: dict[str, Any], current: dict[str, Any], task: str | None, label: str | None, policy: Policy
    ) -> None:
        self._reference = reference
        self._current = current
        self.task = task  # the policy's, else inferred from the predictions (and labels): every row locally, a sample on Dask
        self.label = label  # the label column the label checks read (the log's, or joined from --labels); None: no labels
        self._policy_kinds = {name: spec.kind for name, spec in policy.proxy_metrics.items()}

    def reference_numeric(self, name: str) -> NumericFacts | None:
        return self._reference.get(f"numeric:{name}")

    def reference_categorical(self, name: str) -> CategoricalSummary | TooManyCategories | None:
        return self._reference.get(f"categorical:{name}")

    def numeric(self, name: str) -> NumericFacts:
        return self._current[f"numeric:{name}"]

    def categorical(self, name: str) -> CategoricalSummary | TooManyCategories:
        return self._current[f"categorical:{name}"]

    def prediction(self) -> PredictionFacts:
        return self._current["prediction"]

    def time(self) -> TimeFacts:
        return self._current["time"]

    def windows(self) -> np.ndarray:
        windows = self._current["windows"]
        return windows.counts if isinstance(windows, WindowCounts) else windows

    def latency(self) -> tuple[np.ndarray, float]:
        """The finite latency values (on Dask, a sketch's points) and the exact maximum."""
        sketch = self._current["latency"]
        return sketch.points, sketch.high

    def labels(self) -> LabelCount:
        return self._current["labels"]

    def label_lag(self) -> np.ndarray | None:
        """Seconds from serving to the label's arrival, per row whose both times are known (--labels with times)."""
        return self._current.get("label_lag")

    def duplicates(self) -> tuple[int, int, list[dict[str, Any]]]:
        """Ids present, rows repeating an id, and the most repeated ids."""
        return self._current["duplicates"]

    def proxy(self, name: str) -> float:
        return self._current["proxies"][name].value

    def ranking(self, k: int) -> tuple[dict[str, float], int]:
        """The ranking metrics (means over queries) and how many queries have labels."""
        from mlrel_cli.stats.ranking import mean_and_se

        sums = self._current["per_query"]
        names = [f"ndcg@{k}", "mrr", f"ctr@{k}", "no_engagement"]
        return {name: mean_and_se(sums[name])[0] for name in names}, int(sums["mrr"]["n"])

    def query_rows(self) -> QueryRows | None:
        """Every labelled result of a ranking log, when the engine sent them all (None: a sample of them)."""
        return self._current.get("query_rows")

    def positive_rates(self) -> dict[str, Any] | None:
        """Without labels: per group of the fairness column, finite scores and those at or above the threshold."""
        return self._current.get("positive_rates")

    def performance(self) -> LabelledEvidence:
        """The labelled rows' metrics, overall and per segment value, and the rows to bootstrap their errors on."""
        return self._current["performance"]

    def weak_segments(self) -> dict[str, Any] | None:
        return self._current.get("weak_segments")
