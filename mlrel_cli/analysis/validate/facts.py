"""What validate's checks judge, as the engine gathered it (plan.py): nothing here reads the log again."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlrel_cli.facts.columns import LabelCount, NumericFacts, PredictionFacts, TimeFacts, WindowCounts
from mlrel_cli.policy import Policy
from mlrel_cli.stats.summaries import CategoricalSummary, TooManyCategories


class Facts:
    """The gathered facts, read by the checks; nothing here reads the log again."""

    def __init__(
        self, reference: dict[str, Any], current: dict[str, Any], task: str | None, policy: Policy, rows_here: bool
    ) -> None:
        self._reference = reference
        self._current = current
        self.task = task  # the policy's, else inferred from a sample; with the rows here, labelled.py infers it
        self.rows_here = rows_here  # the engine reads whole columns in this process (labelled.checks_from_rows)
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

    def duplicates(self) -> tuple[int, int, list[dict[str, Any]]]:
        """Ids present, rows repeating an id, and the most repeated ids."""
        return self._current["duplicates"]

    def proxy(self, name: str) -> float:
        from mlrel_cli.stats.ranking import mean_and_se, proxy_from_sums

        if f"proxy:{name}" in self._current.get("per_query", {}):
            return mean_and_se(self._current["per_query"][f"proxy:{name}"])[0]
        return proxy_from_sums(self._policy_kinds[name], self._current[f"proxy:{name}"].values)[0]

    def ranking(self, k: int) -> tuple[dict[str, float], int]:
        """The ranking metrics (means over queries) and how many queries have labels."""
        from mlrel_cli.stats.ranking import mean_and_se

        sums = self._current["per_query"]
        names = [f"ndcg@{k}", "mrr", f"ctr@{k}", "no_engagement"]
        return {name: mean_and_se(sums[name])[0] for name in names}, int(sums["mrr"]["n"])

    def positive_rates(self) -> dict[str, Any] | None:
        """Without labels: per group of the fairness column, finite scores and those at or above the threshold."""
        return self._current.get("positive_rates")

    def performance(self) -> dict[str, Any]:
        """metrics and rows of all labelled rows; per (segment, value) the same; a uniform sample for standard errors."""
        return self._current["performance"]

    def weak_segments(self) -> dict[str, Any] | None:
        return self._current.get("weak_segments")
