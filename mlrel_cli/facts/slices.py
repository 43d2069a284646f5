"""The weak-segment search's facts: each row's loss, both sides of a comparison binned alike, and the per-slice sums
(``stats.regressions.RegressionSums``) compare's search judges, built the same way from rows on every engine.

From the rows in this process (``regressions_of_rows``: every row, exact bins, a pair summed when the search asks
for it so its time budget can stop it), or on a cluster from row groups: a sample of each model's searched columns
(``sample_pass``), bins from the samples (``bins_of_samples``) and every row group's sums (``sums_pass``), merged.
Both bin as ``bin_alike`` does: numeric edges at the baseline's quantiles, categories the most frequent of both
sides together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.facts.merge import Sums, TableSample
from mlrel_cli.facts.models import SLICE_PREFIX, version_rows
from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.stats.ranking import Queries, group_queries, ndcg_per_query
from mlrel_cli.stats.regressions import RegressionSums, regression_sums
from mlrel_cli.stats.slices import (
    Binned,
    Condition,
    SliceSums,
    add_pair_sums,
    bin_categories,
    bin_numeric,
    numeric_edges,
    single_sums,
)
from mlrel_cli.tasks import per_query, task_of

if TYPE_CHECKING:
    from mlrel_cli.facts.models import ModelRows
    from mlrel_cli.policy import Policy

EPS = 1e-15
SAMPLE_ROWS = 200_000  # on a cluster, the bins come from a uniform sample of about this many labelled rows
RANKING_METRIC = "ndcg_loss"  # 1 - NDCG@k of a query


def per_row_loss(
    task: str, truth: np.ndarray, predicted: np.ndarray, metric: str | None = None
) -> tuple[str, np.ndarray, np.ndarray | None]:
    """The loss the search compares, its metric name, and the positives (binary) for ``min_positives``.

    Log loss for binary scores, squared error for regression, 1 - accuracy for classes (and for a binary
    model that logs a class, whose log loss would only count mistakes at the clip).
    """
    record = task_of(task)
    loss = record.weak_segment_loss if record is not None else None
    if loss == "log_loss":  # a score: log loss, or the mistakes of a model that logs a class
        positives = truth.astype(bool)
        if metric == "error_rate" or (metric is None and np.isin(predicted, (0.0, 1.0)).all()):
            return "error_rate", (predicted.astype(bool) != positives).astype(np.float64), positives
        p = np.clip(predicted.astype(np.float64), EPS, 1 - EPS)
        return "log_loss", -np.log(np.where(positives, p, 1 - p)), positives
    if loss == "error_rate":
        return "error_rate", (truth != predicted).astype(np.float64), None
    if loss == "squared_error":
        return "squared_error", (truth.astype(np.float64) - predicted.astype(np.float64)) ** 2, None
    raise ValueError(f"no per-row loss for task {task!r}")


@dataclass(frozen=True)
class QueryRows:
    """A ranking log's labelled results grouped into queries, and each query's loss."""

    queries: Queries
    order: np.ndarray  # the kept rows (indices into the log) in (query, position) order
    loss: np.ndarray  # per query: 1 - NDCG@k, NaN without engagement

    @classmethod
    def of(cls, query: np.ndarray, position: np.ndarray, gain: np.ndarray, keep: np.ndarray, k: int) -> QueryRows:
        rows = np.flatnonzero(keep)
        order = rows[np.lexsort((position[rows], query[rows]))]
        queries = group_queries(query[rows], position[rows], gain[rows])
        return cls(queries, order, 1.0 - ndcg_per_query(queries, k))

    def values(self, column: pa.ChunkedArray | pa.Array) -> pa.Array | None:
        """Each query's value of a column (its first result's), or None when the column varies within a query."""
        array = column.take(pa.array(self.order))
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if kind_of_type(array.type) == "numeric":
            codes = to_numpy_float(array)
        else:
            codes = pc.dictionary_encode(array).indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.float64)
        first = codes[self.queries.starts][self.queries.query]
        same = (codes == first) | (np.isnan(codes) & np.isnan(first))
        return array.take(pa.array(self.queries.starts)) if bool(same.all()) else None


# ---------------------------------------------------------------- both sides binned alike


def _categories_of_both(base: pa.ChunkedArray, cand: pa.ChunkedArray) -> pa.DictionaryArray:
    """Both sides' values in one dictionary (compared as text when their types differ)."""
    both = pa.chunked_array([*base.chunks, *cand.chunks], type=base.type) if base.type == cand.type else None
    if both is None:
        both = pa.chunked_array([pc.cast(base, pa.string()).combine_chunks(), pc.cast(cand, pa.string()).combine_chunks()])
    array = both.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return pc.dictionary_encode(array)


def _categories(name: str, base: pa.ChunkedArray, cand: pa.ChunkedArray, top: int) -> Binned:
    """Both sides' codes, concatenated, over the most frequent categories of both together."""
    encoded = _categories_of_both(base, cand)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return bin_categories(name, codes, encoded.dictionary.to_pylist(), top)


def bin_alike(name: str, kind: str, base: pa.ChunkedArray, cand: pa.ChunkedArray, top: int, bins: int) -> tuple[Binned, Binned]:
    """Both sides binned alike: the baseline's quantile edges, categories from one dictionary."""
    if kind == "numeric" and kind_of_type(base.type) == "numeric":
        b, c = to_numpy_float(base), to_numpy_float(cand)
        edges = numeric_edges(b, bins)
        return bin_numeric(name, b, edges), bin_numeric(name, c, edges)
    binned = _categories(name, base, cand, top)
    n = len(base)
    return Binned(name, binned.codes[:n], binned.conditions), Binned(name, binned.codes[n:], binned.conditions)


# ---------------------------------------------------------------- from the rows in this process


def _loss(task: str, model: ModelRows, rows: np.ndarray) -> tuple[str, np.ndarray]:
    predicted = model.predicted(task)
    assert predicted is not None and model.truth is not None
    metric, loss, _ = per_row_loss(task, model.truth[rows], predicted[rows])
    return metric, loss


def regressions_of_rows(task: str, base: ModelRows, cand: ModelRows, policy: Policy, mode: str) -> RegressionSums | None:
    """A candidate's and the baseline's per-slice sums from their rows, or None when the search cannot run (no
    labels, a task without a loss, no column to search)."""
    if not base.slice_columns or task_of(task) is None or base.truth is None or cand.truth is None:
        return None
    if per_query(task):
        return _ranking(base, cand, policy, mode)
    if mode == "shadow":
        return _shadow(task, base, cand, policy)
    cfg = policy.validate_.weak_segments
    base_rows, cand_rows = np.flatnonzero(base.labelled), np.flatnonzero(cand.labelled)
    metric, base_loss = _loss(task, base, base_rows)
    _, cand_loss = _loss(task, cand, cand_rows)
    columns, cand_codes = [], []
    for name, (kind, values) in base.slice_columns.items():
        if name not in cand.slice_columns:
            continue
        of_cand = cand.slice_columns[name][1].take(pa.array(cand_rows))
        b, c = bin_alike(name, kind, values.take(pa.array(base_rows)), of_cand, cfg.top_categories, cfg.bins)
        columns.append(b)
        cand_codes.append(c.codes)
    return regression_sums(columns, base_loss, cand_loss, cand_codes, metric)


def _shadow(task: str, base: ModelRows, cand: ModelRows, policy: Policy) -> RegressionSums | None:
    """The requests both models answered, paired on the id: each request's loss difference per slice."""
    if base.ids is None or cand.ids is None:
        return None
    cfg = policy.validate_.weak_segments
    in_base = pc.index_in(cand.ids, value_set=base.ids).fill_null(-1).to_numpy(zero_copy_only=False)
    cand_rows = np.flatnonzero((in_base >= 0) & cand.labelled)
    base_rows = in_base[cand_rows]
    keep = base.labelled[base_rows]
    cand_rows, base_rows = cand_rows[keep], base_rows[keep]
    metric, base_loss = _loss(task, base, base_rows)
    _, cand_loss = _loss(task, cand, cand_rows)
    columns = []
    for name, (kind, values) in base.slice_columns.items():
        picked = values.take(pa.array(base_rows))
        columns.append(bin_alike(name, kind, picked, picked, cfg.top_categories, cfg.bins)[0])
    return regression_sums(columns, base_loss, cand_loss, None, metric)


def _ranking(base: ModelRows, cand: ModelRows, policy: Policy, mode: str) -> RegressionSums | None:
    """The slices of queries on the query-level columns of both logs, each query's loss its 1 - NDCG@k
    (docs/segments.md, "Ranking logs"). Canary mode only: in shadow mode the two models ranked the same queries, but
    their results pair on no id."""
    if mode == "shadow" or base.query is None or cand.query is None or base.position is None or cand.position is None:
        return None
    cfg = policy.validate_.weak_segments
    sides = []
    for query, position, model in ((base.query, base.position, base), (cand.query, cand.position, cand)):
        keep = model.labelled & (query >= 0) & np.isfinite(position)
        assert model.truth is not None
        sides.append(QueryRows.of(query, position, model.truth, keep, policy.validate_.performance.k))
    judged = [np.isfinite(side.loss) for side in sides]
    columns, cand_codes = [], []
    for name, (kind, values) in base.slice_columns.items():
        if name not in cand.slice_columns:
            continue
        of_base, of_cand = sides[0].values(values), sides[1].values(cand.slice_columns[name][1])
        if of_base is None or of_cand is None:  # not a query-level column
            continue
        b, c = (pa.chunked_array([of.filter(pa.array(keep))]) for of, keep in ((of_base, judged[0]), (of_cand, judged[1])))
        binned_b, binned_c = bin_alike(name, kind, b, c, cfg.top_categories, cfg.bins)
        columns.append(binned_b)
        cand_codes.append(binned_c.codes)
    if not columns:
        return None
    return regression_sums(columns, sides[0].loss[judged[0]], sides[1].loss[judged[1]], cand_codes, RANKING_METRIC)


# ---------------------------------------------------------------- on a cluster: a sample's bins, row groups' sums


@dataclass(frozen=True)
class Bins:
    """The bins both sides share: per column, numeric edges or category values (``cast``: compared as text)."""

    columns: tuple[tuple[str, str, tuple[Any, ...], bool], ...]  # name, numeric or categorical, edges or values, cast
    conditions: tuple[tuple[Condition | None, ...], ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.conditions)


def _labelled(table: pa.Table, columns: dict[str, str], version: str, policy: Policy, task: str) -> ModelRows:
    (_, model) = version_rows(table, columns, [version], policy, task)[version]
    return model


def sample_pass(
    table: pa.Table, seed: int, columns: dict[str, str], version: str, policy: Policy, task: str, fraction: float
) -> dict[str, Any]:
    """Runs on a worker: a sample of the model's labelled rows' searched columns, and its outputs that are not 0/1."""
    model = _labelled(table, columns, version, policy, task)
    rows = np.flatnonzero(model.labelled)
    keep = pa.array(rows[np.random.default_rng(seed).random(len(rows)) < fraction])
    sample = pa.table({f"{SLICE_PREFIX}{kind}:{name}": values.take(keep) for name, (kind, values) in model.slice_columns.items()})
    predicted = model.score[rows] if model.score is not None else np.empty(0)
    return {"sample": TableSample(sample), "counts": Sums({"not_0_1": int((~np.isin(predicted, (0.0, 1.0))).sum())})}


def codes_of(values: pa.ChunkedArray, kind: str, spec: tuple[Any, ...], cast: bool = False) -> np.ndarray:
    """A column's codes over bins fixed beforehand: numeric edges, or category values (then the rest, then missing)."""
    if kind == "numeric":
        numbers = to_numpy_float(values)
        codes = np.searchsorted(np.asarray(spec, dtype=np.float64), numbers, side="right").astype(np.int32)
        codes[~np.isfinite(numbers)] = len(spec) + 1
        return codes
    array = values.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if cast:
        array = pc.cast(array, pa.string())
    index = pc.index_in(array, value_set=pa.array(list(spec), type=array.type))
    codes = index.fill_null(len(spec)).to_numpy(zero_copy_only=False).astype(np.int32)
    codes[array.is_null().to_numpy(zero_copy_only=False)] = len(spec) + 1
    return codes


def sums_pass(
    table: pa.Table, columns: dict[str, str], sides: tuple[tuple[str, str, str], ...], policy: Policy, task: str, bins: Bins
) -> dict[str, SliceSums]:
    """Runs on a worker: per side (key, version, loss metric), the slice sums of its labelled rows."""
    out: dict[str, SliceSums] = {}
    pairs = [(i, j) for i in range(len(bins.columns)) for j in range(i + 1, len(bins.columns))]
    for key, version, metric in sides:
        model = _labelled(table, columns, version, policy, task)
        rows = np.flatnonzero(model.labelled)
        predicted = model.predicted(task)
        assert model.truth is not None and predicted is not None
        _, loss, _ = per_row_loss(task, model.truth[rows], predicted[rows], metric)
        picked = pa.array(rows)
        codes = [codes_of(model.slice_columns[name][1].take(picked), kind, spec, cast) for name, kind, spec, cast in bins.columns]
        sums = single_sums(codes, bins.sizes, loss, None)
        add_pair_sums(sums, codes, loss, None, pairs)
        out[key] = sums
    return out


def bins_of_samples(base: pa.Table, cand: pa.Table, top: int, bins: int) -> Bins:
    """Both sides binned from their samples as ``bin_alike`` bins their rows; "missing" always a condition (a
    sample may lack the rows' nulls; a slice without baseline rows is never tried)."""
    specs, conditions = [], []
    for key in base.column_names:
        kind, name = key.removeprefix(SLICE_PREFIX).split(":", 1)
        b, c = base.column(key), cand.column(key)
        if kind == "numeric" and kind_of_type(b.type) == "numeric":
            edges = numeric_edges(to_numpy_float(b), bins)
            specs.append((name, "numeric", tuple(float(e) for e in edges), False))
            conditions.append((*bin_numeric(name, np.empty(0), edges).conditions[:-1], Condition(name, "missing")))
            continue
        binned = _categories(name, b, c, top)
        specs.append(
            (name, "categorical", tuple(cond.value for cond in binned.conditions[:-2] if cond is not None), b.type != c.type)
        )
        conditions.append((*binned.conditions[:-1], Condition(name, "missing")))
    return Bins(tuple(specs), tuple(conditions))
