"""The Engine in this process: the same builders over the log's row groups, merged in the same tree as on Dask.

What needs rows side by side (duplicate ids, a query's results, distinct
times) is computed over the whole column here, exactly; only counts and sums
are returned, as the Dask engine returns them. What drift needs is exact here
too, one column at a time: each column's sorted values or category counts, the
performance metric over every labelled row (an exact ROC AUC), proxy metrics
over every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from mlrel_cli.engine import common
from mlrel_cli.logs import Log

if TYPE_CHECKING:
    import pyarrow as pa

    from mlrel_cli.facts.concept import MetricRows
    from mlrel_cli.facts.labelled import LabelledEvidence, RowsOf
    from mlrel_cli.facts.models import ModelEvidence, ModelSource
    from mlrel_cli.facts.proxy import ProxyFacts
    from mlrel_cli.facts.windows import WindowGrid
    from mlrel_cli.logs.roles import Roles
    from mlrel_cli.policy import Policy
    from mlrel_cli.stats.regressions import RegressionSums


@dataclass(frozen=True)
class LocalEngine:
    name: str = "local"

    def reduce(self, log: Log, columns: list[str], build: Callable[..., dict[str, Any]], seeded: bool = False) -> dict[str, Any]:
        if (profile := common.profile_of(log)) is not None:
            return profile.answer(columns, build, seeded)
        if not log.files:  # a log held in memory (a drill's copy): one row group, read as the analyses read it
            from mlrel_cli.stats.summaries import capped

            table = log.read(list(dict.fromkeys(columns)))
            whole = build(table, seed=common.seed_of((log.path, 0))) if seeded else build(table)
            return {key: capped(value) for key, value in whole.items()}
        partitions = {name: log.schema.field(name).type for name in log.partition_columns}
        built = [common.run_on_row_group(part, columns, build, seeded, partitions) for part in common.row_groups(log)]
        return common.merge_in_tree(built)

    def labelled_log(self, log: Log, roles: Roles, labels: Log, policy: Policy) -> Log:
        import pyarrow as pa

        from mlrel_cli.engine.interface import LABEL_ARRIVED
        from mlrel_cli.logs.labels import join_labels

        joined = join_labels(log, roles, labels, policy)
        columns = {policy.columns.label: joined.labels}
        if joined.label_times_us is not None:
            columns[LABEL_ARRIVED] = pa.array(joined.label_times_us, type=pa.int64())
        return JoinedLog.of(log, columns)

    def column_facts(self, log: Log, plan: Any, done: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Each fact from its whole column, one column at a time (read once for all of its facts): exact, with every
        latency value kept."""
        from mlrel_cli.facts.columns import BUILDERS

        by_column: dict[str, list[str]] = {}
        for key, (_, column, _) in plan.items():
            by_column.setdefault(column, []).append(key)
        found = {}
        for column, keys in by_column.items():
            values = log.column(column)
            for key in keys:
                builder, _, kwargs = plan[key]
                found[key] = (every_value if builder == "latency" else BUILDERS[builder])(values, **kwargs)
                if done is not None:
                    done(key)
            del values
        return {key: found[key] for key in plan}

    def labelled_summary(
        self, log: Log, columns: list[str], prepare: Callable[..., Any], task: str, threshold: float, sample_rows: int
    ) -> dict[str, Any]:
        return common.labelled_summary(self, log, columns, prepare, task, threshold, sample_rows)

    def labelled_evidence(
        self,
        log: Log,
        columns: list[str],
        rows_of: RowsOf,
        task: str,
        threshold: float,
        segments: list[str],
        sample_rows: int,
    ) -> LabelledEvidence:
        """From every labelled row, read whole: the exact metrics (each segment's when asked), all rows bootstrapped;
        segment values in the order they first appear in the log, with those no labelled row has."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from mlrel_cli.facts.labelled import NO_VALUE, LabelledEvidence, Scope
        from mlrel_cli.tasks import TASK_BY_NAME

        if common.profile_of(log) is not None:
            return common.labelled_evidence(self, log, columns, rows_of, task, threshold, segments, sample_rows)
        table = log.read(list(dict.fromkeys(columns)))
        truth, predicted, kept = rows_of(table)
        compute = TASK_BY_NAME[task].compute
        codes: dict[str, tuple[np.ndarray, dict[str, int]]] = {}
        sizes: dict[str, dict[str, int]] = {}
        for segment in segments:
            values = table.column(segment).combine_chunks()
            if pa.types.is_dictionary(values.type):
                values = values.dictionary_decode()
            encoded = pc.dictionary_encode(values if pa.types.is_string(values.type) else pc.cast(values, pa.string()))
            mine = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)[kept]
            names = [str(v) for v in encoded.dictionary.to_pylist()]
            counts = np.bincount(mine[mine >= 0], minlength=len(names))
            sizes[segment] = {name: int(n) for name, n in zip(names, counts, strict=True)}
            if (missing := int((mine < 0).sum())) > 0:
                sizes[segment][NO_VALUE] = missing
            codes[segment] = (mine, {**{name: i for i, name in enumerate(names)}, NO_VALUE: -1})

        def rows(scope: Scope) -> tuple[np.ndarray, np.ndarray]:
            if scope is None:
                return truth, predicted
            mine, index = codes[scope[0]]
            mask = mine == index[scope[1]]
            return truth[mask], predicted[mask]

        def metrics_of(scope: Scope) -> dict[str, float]:
            return compute(*rows(scope), threshold)

        def rows_of_scope(scope: Scope) -> tuple[np.ndarray, np.ndarray, int]:
            t, p = rows(scope)
            return t, p, len(t)

        return LabelledEvidence(len(truth), sizes, metrics_of, rows_of_scope)

    def few_values(self, log: Log, name: str, limit: int = 20) -> bool:
        return common.few_values(self, log, name, limit)

    def count_duplicates(self, log: Log, column: str, top: int) -> tuple[int, int, list[dict[str, Any]]]:
        import numpy as np
        import pyarrow.compute as pc

        common.refuse_profile(log, "counting duplicate ids")
        ids = pc.drop_null(log.column(column))
        counts = pc.value_counts(ids)
        values, sizes = counts.field("values").to_pylist(), counts.field("counts").to_numpy(zero_copy_only=False)
        order = np.argsort(-sizes, kind="stable")
        most = [{"value": values[i], "count": int(sizes[i])} for i in order[:top] if sizes[i] > 1]
        return len(ids), int((sizes[sizes > 1] - 1).sum()), most

    def per_query_sums(
        self, log: Log, columns: list[str], query: str, units: Callable[..., dict[str, Any]], names: list[str]
    ) -> dict[str, dict[str, float]]:
        import numpy as np
        import pyarrow.compute as pc

        if (profile := common.profile_of(log)) is not None:
            return profile.per_query_sums(names, units)
        table = log.read(list(dict.fromkeys(columns)))
        encoded = pc.dictionary_encode(table.column(query)).combine_chunks()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        found = {name: {"n": 0.0, "sum": 0.0, "sum2": 0.0} for name in names}
        for name, values in units(table, codes).items():
            finite = values[np.isfinite(values)]
            found[name] = {"n": float(len(finite)), "sum": float(finite.sum()), "sum2": float((finite**2).sum())}
        return found

    def distinct_times(self, log: Log, column: str, where: str, width_of: Callable[[Any], int | None]) -> tuple[Any, Any]:
        import numpy as np

        from mlrel_cli.facts.columns import TimeFacts
        from mlrel_cli.logs.values import to_timestamps_us

        common.refuse_profile(log, "counting distinct times")
        unique = np.unique(to_timestamps_us(log.column(column), where))
        facts = TimeFacts(len(unique), int(unique.min()), int(unique.max())) if len(unique) else TimeFacts(0, 0, 0)
        width = width_of(facts) if len(unique) else None
        if width is None:
            return facts, None
        return facts, np.bincount((unique - facts.oldest) // width, minlength=int((facts.newest - facts.oldest) // width) + 1)

    def column_summaries(
        self, log: Log, kinds: dict[str, str], grid: WindowGrid | None = None
    ) -> Callable[[str], tuple[Any, list[Any]]]:
        from functools import partial

        from mlrel_cli.facts.distributions import summarise_column
        from mlrel_cli.logs.values import timestamps_keeping_rows

        windows = None
        if grid is not None:
            windows = grid.assign(timestamps_keeping_rows(log.column(grid.column), grid.where))

        def summarise(name: str) -> tuple[Any, list[Any]]:
            return summarise_column(partial(log.column, name), kinds[name], windows)

        return summarise

    def labelled_metric(
        self,
        log: Log,
        columns: list[str],
        prepare: Callable[..., Any],
        task: str,
        metric: str,
        threshold: float,
        grid: WindowGrid | None = None,
    ) -> tuple[MetricRows, list[MetricRows]]:
        import numpy as np
        import pyarrow as pa

        from mlrel_cli.facts.concept import MetricRows
        from mlrel_cli.stats.metrics import metric_value

        table = pa.table({name: log.column(name) for name in dict.fromkeys(columns)})
        truth, predicted, segments = prepare(table)

        def rows(t: np.ndarray, p: np.ndarray) -> MetricRows:
            return MetricRows(metric_value(task, metric, t, p, threshold), len(t), t, p)

        if grid is None:
            return rows(truth, predicted), []
        index = segments["window"]
        order = np.argsort(index, kind="stable")
        bounds = np.searchsorted(index[order], np.arange(grid.n_windows + 1))
        parts = [order[bounds[i] : bounds[i + 1]] for i in range(grid.n_windows)]
        return rows(truth, predicted), [rows(truth[part], predicted[part]) for part in parts]

    def sample(self, log: Log, columns: list[str], rows: int) -> Any:
        import pyarrow as pa

        if common.profile_of(log) is not None:  # the sample a profile kept
            return common.sample(self, log, columns, rows)
        return pa.table({name: log.column(name) for name in dict.fromkeys(columns)})  # a column at a time, as it is read

    def proxy_metrics(self, log: Log, policy: Policy, grid: WindowGrid | None = None) -> dict[str, ProxyFacts]:
        from mlrel_cli.facts.proxy import proxies_of_rows

        return proxies_of_rows(log, policy, grid)

    def model_evidence(
        self, sources: list[ModelSource], policy: Policy, labels: Log | None = None
    ) -> tuple[list[ModelEvidence], str]:
        from mlrel_cli.engine.evidence import from_rows

        return from_rows(sources, policy, labels)

    def regression_sums(
        self, sources: list[ModelSource], models: list[ModelEvidence], task: str, policy: Policy, mode: str
    ) -> list[RegressionSums | None]:
        from mlrel_cli.engine.evidence import regressions_from_rows

        return regressions_from_rows(models, task, policy, mode)


@dataclass(frozen=True)
class EveryValue:
    """Every finite value of a latency column, in row order, and the largest: the local engine's exact stand-in
    for the quantile sketch the Dask engine keeps (same ``points`` and ``high``)."""

    points: Any  # np.ndarray
    high: float


def every_value(column: Any) -> EveryValue:
    import numpy as np

    from mlrel_cli.logs.values import to_numpy_float

    values = to_numpy_float(column)
    values = values[np.isfinite(values)]
    return EveryValue(values, float(values.max()) if len(values) else float("nan"))


@dataclass(frozen=True)
class JoinedLog(Log):
    """A log with columns joined to its rows in memory (the labels of ``--labels``): read as one table, so the
    engine's builders see the joined columns as any other."""

    base: Log | None = field(default=None, repr=False, compare=False)
    joined: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # name -> pa.Array, one per row

    @classmethod
    def of(cls, log: Log, joined: dict[str, Any]) -> JoinedLog:
        import pyarrow as pa

        schema = log.schema
        for name, array in joined.items():
            at = schema.get_field_index(name)
            schema = schema.set(at, pa.field(name, array.type)) if at >= 0 else schema.append(pa.field(name, array.type))
        own = {f.name: getattr(log, f.name) for f in fields(Log)}
        return cls(**{**own, "files": (), "row_groups": 1, "schema": schema}, base=log, joined=joined)

    def read(self, columns: list[str]) -> pa.Table:
        import pyarrow as pa

        assert self.base is not None  # built by JoinedLog.of
        own = [c for c in columns if c not in self.joined]
        table = self.base.read(own) if own else pa.table({})
        return pa.table({c: pa.chunked_array([self.joined[c]]) if c in self.joined else table.column(c) for c in columns})
