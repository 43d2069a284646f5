"""Mergeable summaries of one column, built per row group, file or window and merged.

- ``NumericSummary`` keeps the exact sorted finite values (merging is a merge
  of sorted arrays), plus counts of missing values. KS and Wasserstein need
  the whole distribution; keeping it exactly costs 8 bytes a value, one
  column at a time, and gives exact statistics. Bin counts, moments and
  quantiles are derived from it.
- ``CategoricalSummary`` keeps the count of every category (merging adds).

Both are plain frozen dataclasses over numpy arrays: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np

from mlrel_cli.stats.sketch import QuantileSketch


@dataclass(frozen=True)
class NumericSummary:
    sorted_values: np.ndarray  # finite values, ascending (or, from a sketch, values at evenly spaced ranks)
    missing: int  # nulls and NaN
    infinite: int = 0
    rows: int | None = None  # finite values stood for, when sorted_values is a sketch's points
    # drift's noise draws against this summary (stats/drift.null_scores), kept so each is drawn once per run
    # and stored in a profile: filled on first use, never part of the summary's value
    null_draws: dict[tuple[str, int, int, int, int], np.ndarray] = field(
        default_factory=dict, compare=False, repr=False, kw_only=True
    )
    # the sketch whose points these are (from_sketch), with its exact sums and extremes
    source: QuantileSketch | None = field(default=None, compare=False, repr=False, kw_only=True)

    @classmethod
    def from_sketch(cls, sketch: QuantileSketch) -> NumericSummary:
        """A summary whose values are a sketch's points: the same distribution at bounded rank error."""
        return cls(sketch.points, sketch.missing, sketch.infinite, rows=sketch.rows, source=sketch)

    def sketch(self) -> QuantileSketch:
        """This summary as a quantile sketch: the one it was read from, else one of its exact sorted values."""
        if self.source is not None:
            return self.source
        return QuantileSketch.from_sorted(self.sorted_values, self.missing, self.infinite)

    @classmethod
    def from_values(cls, values: np.ndarray, nulls: int = 0, in_place: bool = False) -> NumericSummary:
        """``values`` as float64 with NaN for missing; ``nulls`` counts missing values not in the array.

        One sort does it all: NaN sorts last and infinities next to it, so the
        finite values are a slice of the sorted array. ``in_place`` sorts the
        caller's array instead of a copy (it must be writable and not needed).
        """
        if in_place:
            values.sort()
            ordered = values
        else:
            ordered = np.sort(values)
        end = len(ordered)
        if end and np.isnan(ordered[-1]):
            end = int(np.searchsorted(np.isnan(ordered), True))
        start = int(np.searchsorted(ordered[:end], -np.inf, side="right"))
        stop = int(np.searchsorted(ordered[:end], np.inf, side="left"))
        nan = len(ordered) - end
        return cls(ordered[start:stop], missing=nulls + nan, infinite=(start + end - stop))

    @property
    def count(self) -> int:
        return self.rows if self.rows is not None else len(self.sorted_values)

    @property
    def total(self) -> int:
        return self.count + self.missing + self.infinite

    @property
    def missing_rate(self) -> float:
        return self.missing / self.total if self.total else 0.0

    @cached_property
    def prefix_sums(self) -> np.ndarray:
        """prefix_sums[k] = sum of the k smallest values; lets W1 against this sample cost O(m log n)."""
        return np.concatenate(([0.0], np.cumsum(self.sorted_values, dtype=np.float64)))

    def mean(self) -> float:
        return float(self.sorted_values.mean()) if self.count else float("nan")

    @cached_property
    def _std(self) -> float:
        return float(self.sorted_values.std()) if self.count else float("nan")

    def std(self) -> float:
        """Population standard deviation (cached: the noise estimate asks for it a hundred times)."""
        return self._std

    def quantile_edges(self, bins: int) -> np.ndarray:
        """Interior edges at the 1/bins, ..., (bins-1)/bins quantiles, duplicates removed."""
        n = len(self.sorted_values)
        if n == 0:
            return np.empty(0)
        positions = (np.arange(1, bins) * n) // bins
        return np.unique(self.sorted_values[positions])

    def bin_counts(self, edges: np.ndarray) -> np.ndarray:
        """Counts in (-inf, e0], (e0, e1], ..., (e_last, inf): a value equal to an edge goes left."""
        n = len(self.sorted_values)
        cuts = np.searchsorted(self.sorted_values, edges, side="right")
        counts = np.diff(np.concatenate(([0], cuts, [n])))
        if self.rows is not None and n:  # a sketch's points each stand for rows / n values
            return np.round(counts * (self.rows / n)).astype(np.int64)
        return counts.astype(np.int64)

    def merge(self, other: NumericSummary) -> NumericSummary:
        merged = np.concatenate([self.sorted_values, other.sorted_values])
        merged.sort(kind="stable")  # two sorted runs: a linear merge
        return NumericSummary(merged, self.missing + other.missing, self.infinite + other.infinite)


@dataclass(frozen=True)
class CategoricalSummary:
    categories: tuple[object, ...]
    counts: np.ndarray  # int64, aligned with categories
    missing: int
    null_draws: dict[tuple[str, int, int, int, int], np.ndarray] = field(
        default_factory=dict, compare=False, repr=False, kw_only=True
    )  # as NumericSummary.null_draws

    @classmethod
    def from_counts(cls, categories: list[object], counts: np.ndarray, missing: int) -> CategoricalSummary:
        return cls(tuple(categories), np.asarray(counts, dtype=np.int64), missing)

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    @property
    def total(self) -> int:
        return self.count + self.missing

    @property
    def missing_rate(self) -> float:
        return self.missing / self.total if self.total else 0.0

    def as_dict(self) -> dict[object, int]:
        return dict(zip(self.categories, (int(c) for c in self.counts), strict=True))

    def merge(self, other: CategoricalSummary | TooManyCategories) -> CategoricalSummary | TooManyCategories:
        if isinstance(other, TooManyCategories):
            return other.merge(self)
        merged = self.as_dict()
        for category, count in other.as_dict().items():
            merged[category] = merged.get(category, 0) + count
        return CategoricalSummary.from_counts(
            list(merged), np.fromiter(merged.values(), dtype=np.int64), self.missing + other.missing
        )


@dataclass(frozen=True)
class TooManyCategories:
    """What is left of category counts past ``MAX_CATEGORIES`` values: an id or free text, not categories.

    The cap keeps a cluster's summaries small whatever the column holds; the
    local engine, which has the column at hand, never needs it.
    """

    total: int
    missing: int

    @property
    def missing_rate(self) -> float:
        return self.missing / self.total if self.total else 0.0

    def merge(self, other: CategoricalSummary | TooManyCategories) -> TooManyCategories:
        return TooManyCategories(self.total + other.total, self.missing + other.missing)


MAX_CATEGORIES = 100_000
Fact = TypeVar("Fact")  # any mergeable fact; only category counts are capped


def capped(summary: Fact) -> Fact | TooManyCategories:
    """Category counts past the cap become TooManyCategories; anything else is returned as it is."""
    if isinstance(summary, CategoricalSummary) and len(summary.categories) > MAX_CATEGORIES:
        return TooManyCategories(summary.total, summary.missing)
    return summary


def aligned_counts(reference: CategoricalSummary, current: CategoricalSummary) -> tuple[np.ndarray, np.ndarray, list]:
    """Both sides' counts over the union of categories: the reference's first, then unseen ones."""
    ref = reference.as_dict()
    cur = current.as_dict()
    order = list(ref) + [c for c in cur if c not in ref]
    return (
        np.array([ref.get(c, 0) for c in order], dtype=np.float64),
        np.array([cur.get(c, 0) for c in order], dtype=np.float64),
        order,
    )
