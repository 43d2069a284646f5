"""Where the reference's facts come from: the run's engine over the reference log, or a profile's summaries.

``reference_facts`` is the one seam, for drift and validate alike: every fact
taken from the reference (validate's column facts; drift's column summaries,
the few-values test of the outputs, the text-like test, the labelled metric,
proxy metrics) is asked of the object it returns, so a new kind of reference
is one more class here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from mlrel_cli.engine.interface import Engine
from mlrel_cli.errors import LogError
from mlrel_cli.facts.columns import FEW_VALUES, Plan
from mlrel_cli.facts.concept import MetricRows, labelled_arrays, labelled_rows
from mlrel_cli.facts.profile_log import ProfileLog
from mlrel_cli.facts.proxy import ProxyFacts
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import Roles
from mlrel_cli.logs.task import infer_task
from mlrel_cli.policy import Policy

# (task, metric) -> the metric on the reference's labelled rows; None when the reference has no labels
ReferenceMetric = Callable[[str, str], MetricRows] | None


@dataclass(frozen=True)
class LogReference:
    """The reference as a log: its facts built by the run's engine."""

    engine: Engine
    log: Log

    def column_facts(self, plan: Plan) -> dict[str, Any]:
        """validate's column facts (facts/columns.py) of the reference, built by the engine."""
        return self.engine.column_facts(self.log, plan)

    def summaries(self, kinds: dict[str, str]) -> Callable[[str], Any]:
        lookup = self.engine.column_summaries(self.log, kinds)
        return lambda name: lookup(name)[0]

    def few_values(self, name: str) -> bool:
        return self.engine.few_values(self.log, name, FEW_VALUES)

    def distinct_and_present(self, name: str, summary: Any) -> tuple[int, int]:
        return len(summary.categories), summary.count

    def labelled_metric(self, roles: Roles, policy: Policy) -> tuple[str | None, ReferenceMetric]:
        from mlrel_cli.stats.inference import SE_MAX_ROWS

        task, label = policy.task, roles.label
        if task is None:  # from every row locally, from a uniform sample on a cluster
            columns = [c for c in (roles.prediction, label) if c is not None]
            sample = self.engine.sample(self.log, columns, 2 * SE_MAX_ROWS)
            task = infer_task(sample.column(roles.prediction), sample.column(label) if label else None)
        if label is None:
            return task, None

        def rows(task: str, metric: str) -> MetricRows:
            prepare = partial(
                labelled_rows,
                prediction=roles.prediction,
                label=label,
                task=task,
                positive_label=policy.validate_.performance.positive_label,
            )
            threshold = policy.validate_.performance.decision_threshold
            return self.engine.labelled_metric(self.log, [roles.prediction, label], prepare, task, metric, threshold)[0]

        return task, rows

    def proxy_metrics(self, policy: Policy) -> dict[str, ProxyFacts]:
        return self.engine.proxy_metrics(self.log, policy)


@dataclass(frozen=True)
class ProfileReference:
    """The reference as a profile (facts/profile.py): the summaries, distinct counts and labelled cells it kept."""

    log: ProfileLog

    def column_facts(self, plan: Plan) -> dict[str, Any]:
        """validate's column facts of the reference from what the profile kept: a numeric column's missing count and
        extremes, a categorical one's category counts; any other fact needs the reference's rows."""
        found: dict[str, Any] = {}
        for key, (builder, column, _) in plan.items():
            if builder == "numeric":
                found[key] = self.log.numeric_facts(column)
            elif builder == "categorical":
                found[key] = self.log.categorical_counts(column)
            else:
                raise LogError(
                    f"the reference is a profile (summaries, not rows): '{key}' needs the raw reference log", self.log.path
                )
        return found

    def summaries(self, kinds: dict[str, str]) -> Callable[[str], Any]:
        return lambda name: self.log.summary(name, kinds[name])

    def few_values(self, name: str) -> bool:
        distinct = self.log.column_profile(name).distinct  # counted for the outputs, the columns this is asked of
        return distinct is not None and distinct <= FEW_VALUES

    def distinct_and_present(self, name: str, summary: Any) -> tuple[int, int]:
        profiled = self.log.column_profile(name)
        assert profiled.distinct is not None  # counted for every categorical column
        return profiled.distinct, profiled.present

    def labelled_metric(self, roles: Roles, policy: Policy) -> tuple[str | None, ReferenceMetric]:
        from mlrel_cli.stats.metrics import metric_value

        task, prediction, label = self.log.concept_inputs(roles, policy)  # the labelled cells kept, the task inferred
        if prediction is None or label is None:
            return task, None

        def rows(task: str, metric: str) -> MetricRows:
            performance = policy.validate_.performance
            truth, predicted, _ = labelled_arrays(task, prediction, label, performance.positive_label)
            kept = self.log.reference_metric(metric)
            if kept is not None:  # a sketch profile: the metric of all rows, the cells a sample of them
                return MetricRows(kept[0], kept[1], truth, predicted, kept[1])
            value = metric_value(task, metric, truth, predicted, performance.decision_threshold)
            return MetricRows(value, len(truth), truth, predicted)

        return task, rows

    def proxy_metrics(self, policy: Policy) -> dict[str, ProxyFacts]:
        # the reference's value from the sums the profile stored; its standard error and windows are not judged
        return {name: ProxyFacts(self.log.proxy_value(policy, name), float("nan"), []) for name in policy.proxy_metrics}


def reference_facts(engine: Engine, reference: Log) -> LogReference | ProfileReference:
    """The reference's facts: from its profile when it is one, else built by ``engine`` over the log."""
    if isinstance(reference, ProfileLog):
        return ProfileReference(reference)
    return LogReference(engine, reference)
