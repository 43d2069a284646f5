"""Column facts: what a check needs to know about a column, built per partition and merged.

The local engine builds each of validate's facts from a whole column; the
Dask engine builds the same fact from every row group next to the data and
merges them (counts add, extremes take the extreme, the farthest offenders
are re-ranked), so both engines judge the same numbers. Latency quantiles
are the one approximation: a quantile sketch on Dask (docs/scale.md), exact
sorted values locally. Builders take Arrow arrays and return small objects:
no I/O here. The generic mergeables are in facts/merge.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.values import to_numpy_float, to_timestamps_us
from mlrel_cli.stats.sketch import QuantileSketch
from mlrel_cli.stats.summaries import CategoricalSummary, NumericSummary


def _low(a: float, b: float) -> float:
    return float(np.fmin(a, b))  # NaN (no values) gives way to a number


def _high(a: float, b: float) -> float:
    return float(np.fmax(a, b))


@dataclass(frozen=True)
class NumericFacts:
    """Missing values, extremes and, given bounds, the values outside them (the farthest kept)."""

    rows: int
    missing: int  # null or NaN
    low: float  # extremes of the non-missing values (infinities included), NaN when none
    high: float
    below: int = 0
    above: int = 0
    offenders: np.ndarray = field(default_factory=lambda: np.empty(0))  # farthest outside the bounds first
    distances: np.ndarray = field(default_factory=lambda: np.empty(0))
    keep: int = 0

    @classmethod
    def of(
        cls, column: pa.Array | pa.ChunkedArray, lo: float | None = None, hi: float | None = None, keep: int = 0
    ) -> NumericFacts:
        values = to_numpy_float(column)
        present = values[~np.isnan(values)]
        low = float(present.min()) if len(present) else float("nan")
        high = float(present.max()) if len(present) else float("nan")
        below = present < lo if lo is not None else np.zeros(len(present), dtype=bool)
        above = present > hi if hi is not None else np.zeros(len(present), dtype=bool)
        outside = present[below | above]
        distance = np.zeros(len(outside))
        if lo is not None:
            distance = np.maximum(distance, lo - outside)
        if hi is not None:
            distance = np.maximum(distance, outside - hi)
        order = np.argsort(-distance, kind="stable")[:keep]
        return cls(
            len(values),
            len(values) - len(present),
            low,
            high,
            int(below.sum()),
            int(above.sum()),
            outside[order],
            distance[order],
            keep,
        )

    @property
    def present(self) -> int:
        return self.rows - self.missing

    def merge(self, other: NumericFacts) -> NumericFacts:
        offenders = np.concatenate([self.offenders, other.offenders])
        distances = np.concatenate([self.distances, other.distances])
        order = np.argsort(-distances, kind="stable")[: self.keep]
        return NumericFacts(
            self.rows + other.rows,
            self.missing + other.missing,
            _low(self.low, other.low),
            _high(self.high, other.high),
            self.below + other.below,
            self.above + other.above,
            offenders[order],
            distances[order],
            self.keep,
        )


def category_counts(column: pa.Array | pa.ChunkedArray) -> CategoricalSummary:
    """Counts of every value in its own type (1 stays 1, not '1'), and of nulls."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    counts = pc.value_counts(column)
    values, sizes = counts.field("values").to_pylist(), counts.field("counts").to_numpy(zero_copy_only=False)
    kept = [i for i, v in enumerate(values) if v is not None]
    return CategoricalSummary.from_counts([values[i] for i in kept], sizes[kept], column.null_count)


FEW_VALUES = 20  # at most this many distinct values: a numeric prediction or label holds classes (drift, profiles)


@dataclass(frozen=True)
class PredictionFacts:
    """Invalid outputs of the model and whether it returns one constant value."""

    rows: int
    null: int
    nan: int = 0
    inf: int = 0
    outside_0_1: int = 0  # finite values outside [0, 1]; invalid only for a probability
    finite: int = 0
    low: float = float("nan")
    high: float = float("nan")
    numeric: bool = True
    examples: frozenset[Any] = frozenset()  # up to FEW_VALUES + 1 distinct values of a text prediction (classes?)

    @classmethod
    def of(cls, column: pa.Array | pa.ChunkedArray) -> PredictionFacts:
        null = column.null_count
        if kind_of_type(column.type) != "numeric":
            distinct = pc.unique(pc.drop_null(column))
            distinct = distinct.combine_chunks() if isinstance(distinct, pa.ChunkedArray) else distinct
            first = distinct.take(pc.sort_indices(distinct)[: FEW_VALUES + 1])  # the smallest, as merge keeps them
            return cls(len(column), null, numeric=False, examples=frozenset(first.to_pylist()))
        values = to_numpy_float(column)
        finite = values[np.isfinite(values)]
        return cls(
            len(values),
            null,
            int(np.isnan(values).sum()) - null,
            int(np.isinf(values).sum()),
            int(((finite < 0) | (finite > 1)).sum()),
            len(finite),
            float(finite.min()) if len(finite) else float("nan"),
            float(finite.max()) if len(finite) else float("nan"),
        )

    @property
    def numbers_as_text(self) -> bool:
        """A text prediction of more distinct values than classes are, every one a number: scores stored as text,
        which a classifier's checks would read as class names (every row wrong, a ROC AUC of 0.5)."""
        if self.numeric or len(self.examples) <= FEW_VALUES:
            return False
        try:
            [float(value) for value in self.examples]
        except (TypeError, ValueError):
            return False
        return True

    @property
    def constant(self) -> bool:
        if not self.numeric:
            return self.rows > 1 and len(self.examples) == 1
        return self.finite > 1 and self.low == self.high

    def merge(self, other: PredictionFacts) -> PredictionFacts:
        return PredictionFacts(
            self.rows + other.rows,
            self.null + other.null,
            self.nan + other.nan,
            self.inf + other.inf,
            self.outside_0_1 + other.outside_0_1,
            self.finite + other.finite,
            _low(self.low, other.low),
            _high(self.high, other.high),
            self.numeric,
            frozenset(sorted(self.examples | other.examples)[: FEW_VALUES + 1]),  # one type: the column's
        )


@dataclass(frozen=True)
class TimeFacts:
    """How many rows have a timestamp, and the oldest and newest (µs since the epoch)."""

    count: int
    oldest: int
    newest: int

    @classmethod
    def of(cls, column: pa.Array | pa.ChunkedArray, where: str) -> TimeFacts:
        ts = to_timestamps_us(column, where)
        if len(ts) == 0:
            return cls(0, np.iinfo(np.int64).max, np.iinfo(np.int64).min)
        return cls(len(ts), int(ts.min()), int(ts.max()))

    def merge(self, other: TimeFacts) -> TimeFacts:
        return TimeFacts(self.count + other.count, min(self.oldest, other.oldest), max(self.newest, other.newest))


@dataclass(frozen=True)
class WindowCounts:
    """Rows per window of ``width`` µs from ``origin``: traffic over time, for the downtime check."""

    counts: np.ndarray

    @classmethod
    def of(cls, column: pa.Array | pa.ChunkedArray, where: str, origin: int, width: int, windows: int) -> WindowCounts:
        ts = to_timestamps_us(column, where)
        return cls(np.bincount((ts - origin) // width, minlength=windows)[:windows])

    def merge(self, other: WindowCounts) -> WindowCounts:
        return WindowCounts(self.counts + other.counts)


@dataclass(frozen=True)
class LabelCount:
    rows: int
    labelled: int

    @classmethod
    def of(cls, column: pa.Array | pa.ChunkedArray) -> LabelCount:
        return cls(len(column), len(column) - column.null_count)

    def merge(self, other: LabelCount) -> LabelCount:
        return LabelCount(self.rows + other.rows, self.labelled + other.labelled)


@dataclass(frozen=True)
class DistinctCount:
    """How many distinct values a column holds (a numeric output: classes, or scores?). Counted over a whole column
    it is exact; merged from parts (a cluster's row groups) it is exact up to ``limit`` and None past it, as the
    values are kept only up to ``limit``."""

    count: int | None
    values: frozenset[Any] | None
    limit: int

    @classmethod
    def of(cls, column: pa.Array | pa.ChunkedArray, limit: int = FEW_VALUES) -> DistinctCount:
        # unique, not count_distinct: it has no kernel for a dictionary column, what pandas' category writes
        unique = pc.drop_null(pc.unique(column))
        return cls(len(unique), frozenset(unique.to_pylist()) if len(unique) <= limit else None, limit)

    def merge(self, other: DistinctCount) -> DistinctCount:
        if self.values is None or other.values is None:
            return DistinctCount(None, None, self.limit)
        values = self.values | other.values
        kept = len(values) <= self.limit
        return DistinctCount(len(values) if kept else None, values if kept else None, self.limit)


def latency_sketch(column: pa.Array | pa.ChunkedArray) -> QuantileSketch:
    exact = NumericSummary.from_values(to_numpy_float(column).copy(), in_place=True)
    return QuantileSketch.from_sorted(exact.sorted_values, exact.missing, exact.infinite)


# A plan names, for each fact wanted, how to build it: (builder, column, keyword arguments).
BUILDERS: dict[str, Callable[..., Any]] = {
    "numeric": NumericFacts.of,
    "categorical": category_counts,
    "prediction": PredictionFacts.of,
    "time": TimeFacts.of,
    "windows": WindowCounts.of,
    "labels": LabelCount.of,
    "distinct": DistinctCount.of,
    "latency": latency_sketch,
}
Plan = dict[str, tuple[str, str, dict[str, Any]]]


def build(table: pa.Table, plan: Plan) -> dict[str, Any]:
    """Every fact of the plan from one table (a row group on a worker)."""
    return {key: BUILDERS[builder](table.column(column), **kwargs) for key, (builder, column, kwargs) in plan.items()}


def columns_of(plan: Plan) -> list[str]:
    return list(dict.fromkeys(column for _, column, _ in plan.values()))
