"""A profile in place of a reference log: it answers the facts the analyses ask of a reference from its
summaries, and refuses, naming the step, what needs the reference's rows (duplicate ids, distinct times)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.errors import LogError
from mlrel_cli.facts.columns import NumericFacts
from mlrel_cli.facts.profile import ColumnProfile, Profile, is_profile, policy_hash, read_profile, relevant_policy
from mlrel_cli.logs import LazyDataset, Log
from mlrel_cli.policy import Policy
from mlrel_cli.stats.summaries import CategoricalSummary, NumericSummary, TooManyCategories


@dataclass(frozen=True)
class ProfileLog(Log):
    """A profile standing in for the reference: its schema and row count as the log's, no rows."""

    profile: Profile | None = field(default=None, repr=False, compare=False)

    def read(self, columns: list[str]) -> pa.Table:
        raise LogError(
            f"the reference is a profile (summaries, not rows); reading column(s) {', '.join(columns)} needs the "
            "raw reference log",
            self.path,
        )

    def summary(self, name: str, kind: str) -> NumericSummary | CategoricalSummary | TooManyCategories:
        return self.column_profile(name).summary(kind)

    def concept_inputs(self, roles: Any, policy: Policy) -> tuple[str | None, pa.Array | None, pa.Array | None]:
        """The task (the policy's, else the one inferred from the whole reference) and the labelled cells."""
        assert self.profile is not None
        task = policy.task or self.profile.meta.get("task")
        prediction = self.profile.columns.get(roles.prediction)
        label = self.profile.columns.get(policy.columns.label)
        if prediction is None or label is None or prediction.cells is None or label.cells is None:
            return task, None, None
        return task, prediction.cells, label.cells

    def numeric_facts(self, name: str) -> NumericFacts:
        """validate's reference facts of a numeric column: rows, missing count, extremes."""
        c = self.column_profile(name)
        if c.numeric is None:
            raise LogError(f"the profile holds no numeric summary of column '{name}'", self.path)
        return NumericFacts(c.rows, c.numeric.missing, *c.extremes)

    def categorical_counts(self, name: str) -> CategoricalSummary:
        """validate's known categories (as text: validate compares categories as text)."""
        summary = self.column_profile(name).categorical
        if not isinstance(summary, CategoricalSummary):
            raise LogError(f"the profile holds no category counts of column '{name}'", self.path)
        return summary

    def sorted_values(self, name: str) -> np.ndarray:
        """The column's finite values (exact mode) or its sketch's points, for quantile edges."""
        numeric = self.column_profile(name).numeric
        if numeric is None:
            raise LogError(f"the profile holds no numeric summary of column '{name}'", self.path)
        return numeric.sorted_values

    def reference_metric(self, metric: str) -> tuple[float, int] | None:
        """A sketch profile's metric on all the reference's labelled rows, and their count; None when exact."""
        assert self.profile is not None
        labelled = self.profile.meta.get("labelled") or {}
        if labelled.get("metrics") is None:
            return None
        value = labelled["metrics"].get(metric)
        return (float("nan") if value is None else float(value)), int(labelled["rows"])

    def proxy_sums(self, name: str, kind: str, inputs: dict[str, str], per: str) -> dict[str, Any]:
        """The reference's sums of a proxy metric (proxy_sums per request; n, sum, sum2 of the per-query values),
        refused when the profile was built without it or with other inputs."""
        assert self.profile is not None
        stored = (self.profile.meta.get("proxy") or {}).get(name)
        wanted = {"kind": kind, "inputs": dict(inputs), "per": per}
        if stored is None or {key: stored.get(key) for key in wanted} != wanted:
            held = "none" if stored is None else json.dumps({key: stored.get(key) for key in wanted})
            raise LogError(
                f"the profile holds no reference sums of proxy metric '{name}' as the policy defines it "
                f"({json.dumps(wanted)}; the profile: {held}): build the profile again with this policy",
                self.path,
            )
        return dict(stored["sums"])

    def proxy_value(self, policy: Policy, name: str) -> float:
        """A proxy metric's value on the reference, from its stored sums (as the cluster computes it)."""
        from mlrel_cli.facts.proxy import proxy_inputs
        from mlrel_cli.stats.ranking import mean_and_se, proxy_from_sums

        spec = policy.proxy_metrics[name]
        sums = self.proxy_sums(name, spec.kind, proxy_inputs(policy, self, name), spec.per)
        return float(mean_and_se(sums)[0] if spec.per == "query" else proxy_from_sums(spec.kind, sums)[0])

    # ------------------------------------------------ the engine's questions about the reference, answered here

    def answer(self, columns: list[str], build: Any, seeded: bool = False) -> dict[str, Any]:
        """What ``Engine.reduce(reference, columns, build)`` returns, from the summaries the profile holds: the
        builders it knows by name (drift's summaries, validate's column facts, a sample, distinct values, proxy
        sums); any other step needs the reference's rows and is refused."""
        func = getattr(build, "func", build)
        kwargs = dict(getattr(build, "keywords", {}))
        answers = {
            "drift_summaries": self._drift_summaries,
            "build": self._column_facts,
            "distinct_values": self._distinct_values,
            "proxy_facts": self._proxy_facts,
            "sample_rows": self._sample_rows,
        }
        handler: Any = answers.get(getattr(func, "__name__", ""))
        if handler is None:
            raise self._needs_rows(columns)
        return handler(**kwargs)

    def _needs_rows(self, columns: list[str]) -> LogError:
        return LogError(
            f"the reference is a profile (summaries, not rows): this step over column(s) {', '.join(columns)} needs "
            "the raw reference log",
            self.path,
        )

    def _drift_summaries(self, kinds: dict[str, str], grid: Any = None) -> dict[str, Any]:
        if grid is not None:
            raise self._needs_rows(list(kinds))  # windows cut the current log, never the reference
        out: dict[str, Any] = {}
        for name, kind in kinds.items():
            c = self.column_profile(name)
            summary = c.sketch if kind == "numeric" else c.categorical
            if summary is None:
                c.summary(kind)  # raises, naming what is missing
            out[name] = summary
        return out

    def _column_facts(self, plan: dict[str, tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (builder, column, kwargs) in plan.items():
            if builder == "numeric" and not kwargs:
                out[key] = self.numeric_facts(column)
            elif builder == "categorical":
                out[key] = self.categorical_counts(column)
            else:
                raise self._needs_rows([column])
        return out

    def _distinct_values(self, column: str, limit: int) -> dict[str, Any]:
        from mlrel_cli.facts.merge import DistinctUpTo

        c = self.column_profile(column)
        values = None  # more than ``limit`` distinct values, or none counted
        if c.distinct is not None and c.distinct <= limit and isinstance(c.categorical, CategoricalSummary):
            values = frozenset(c.categorical.categories)
        return {"values": DistinctUpTo(values, limit)}

    def _proxy_facts(self, metrics: dict[str, tuple[str, dict[str, str]]], grid: Any = None) -> dict[str, Any]:
        from mlrel_cli.facts.merge import Sums

        if grid is not None:
            raise self._needs_rows([c for _, inputs in metrics.values() for c in inputs.values()])
        return {f"proxy:{name}": Sums(self.proxy_sums(name, kind, inputs, "request")) for name, (kind, inputs) in metrics.items()}

    def _sample_rows(self, columns: list[str], fraction: float) -> dict[str, Any]:
        """A profile's stand-in for a uniform sample: its labelled cells when the outputs are asked (the task's
        inference), else each numeric column's values at evenly spaced ranks (quantile edges need no row)."""
        from mlrel_cli.facts.merge import TableSample

        assert self.profile is not None
        held = {name: self.column_profile(name) for name in columns}
        if all(c.cells is not None for c in held.values()):
            return {"sample": TableSample(pa.table({name: c.cells for name, c in held.items()}))}
        numeric = {name: c.numeric for name, c in held.items() if c.numeric is not None}
        if len(numeric) == len(held):
            size = min(len(n.sorted_values) for n in numeric.values())
            table = {}
            for name, n in numeric.items():
                values = n.sorted_values
                ranks = ((np.arange(size) + 0.5) * len(values) / max(size, 1)).astype(np.int64)
                table[name] = pa.array(values[np.minimum(ranks, len(values) - 1)] if size else np.empty(0))
            return {"sample": TableSample(pa.table(table))}
        raise self._needs_rows(columns)

    def labelled_summary(self, columns: list[str], prepare: Any, task: str, threshold: float) -> dict[str, Any]:
        """Engine.labelled_summary of the reference: the metrics of every labelled row (a sketch profile's stored
        ones, else computed from the cells, which are then all of them) and the prepared cells as the sample."""
        from mlrel_cli.stats.metrics import metric_value
        from mlrel_cli.stats.names import METRIC_BY_NAME

        assert self.profile is not None
        held = {name: self.column_profile(name) for name in columns}
        if any(c.cells is None for c in held.values()):
            raise self._needs_rows(columns)
        truth, predicted, segments = prepare(pa.table({name: c.cells for name, c in held.items()}))
        if segments:
            raise self._needs_rows(list(segments))
        labelled = self.profile.meta.get("labelled") or {}
        metrics = labelled.get("metrics")
        if metrics is None or self.profile.meta.get("task") != task:
            metrics = {
                name: float(metric_value(task, name, truth, predicted, threshold))
                for name, metric in METRIC_BY_NAME.items()
                if task in metric.tasks
            }
        return {
            "metrics": {name: (float("nan") if value is None else float(value)) for name, value in metrics.items()},
            "rows": int(labelled.get("rows", len(truth))) if labelled.get("metrics") is not None else len(truth),
            "sample": pa.table({"truth": truth, "predicted": predicted}),
            "segments": {},
        }

    def per_query_sums(self, names: list[str], units: Any) -> dict[str, dict[str, float]]:
        """Engine.per_query_sums of the reference, for its per-query proxy metrics (the metrics ``units`` computes)."""
        keywords = getattr(units, "keywords", {})
        metrics = keywords.get("metrics") or keywords.get("proxies") or {}
        out = {}
        for name in names:
            metric = name.removeprefix("proxy:")
            if not name.startswith("proxy:") or metric not in metrics:
                raise self._needs_rows([name])
            kind, inputs = metrics[metric]
            out[name] = self.proxy_sums(metric, kind, inputs, "query")
        return out

    def column_profile(self, name: str) -> ColumnProfile:
        assert self.profile is not None
        if name not in self.profile.columns:
            raise LogError(f"the profile holds no summary of column '{name}' (build it with this policy)", self.path)
        return self.profile.columns[name]


def open_profile(path: str, label: str, policy: Policy) -> ProfileLog:
    """The profile as a reference, refused (exit 2) when built under another column mapping."""
    profile = read_profile(path)
    ours, theirs = relevant_policy(policy), profile.meta["policy"]
    if policy_hash(ours) != profile.meta["policy_hash"]:
        differ = []
        for key in ("columns", "features", "ignore", "performance"):
            a, b = theirs.get(key), ours.get(key)
            if key == "columns" and isinstance(a, dict) and isinstance(b, dict):
                differ += [
                    f"columns.{k}: '{a.get(k)}' in the profile, '{b.get(k)}' in the policy"
                    for k in sorted(set(a) | set(b))
                    if a.get(k) != b.get(k)
                ]
            elif a != b:
                differ.append(f"{key}: {json.dumps(a)} in the profile, {json.dumps(b)} in the policy")
        raise LogError("the profile was built with another policy: " + "; ".join(differ or ["policy hash differs"]), path)

    def empty() -> Any:  # never read: ProfileLog.read refuses
        import pyarrow.dataset as ds

        return ds.dataset(profile.log_schema.empty_table())

    return ProfileLog(
        label=label,
        path=path,
        files=(path,),
        schema=profile.log_schema,
        num_rows=int(profile.meta["rows"]),
        row_groups=0,
        partition_columns=frozenset(),
        dataset=LazyDataset(empty),
        profile=profile,
    )


def open_reference(path: str, label: str, policy: Policy) -> Log:
    """A reference log, or a profile in its place (told from the file's footer)."""
    from mlrel_cli.logs import open_log

    return open_profile(path, label, policy) if is_profile(path) else open_log(path, label)
