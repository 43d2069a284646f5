"""The generic mergeables: values built per partition and merged, in any order, to what one pass would give.

Sums add, samples concatenate, keyed and windowed parts merge key by key and
window by window. Every engine's reduction is a tree of these merges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.stats.summaries import capped


@dataclass(frozen=True)
class Sums:
    """Numbers and arrays that merge by adding (and summaries held inside, by their own merge)."""

    values: dict[str, Any]

    def merge(self, other: Sums) -> Sums:
        def add(a: Any, b: Any) -> Any:
            return a.merge(b) if hasattr(a, "merge") else a + b  # counts held inside (a confusion matrix) merge

        return Sums({key: add(self.values[key], other.values[key]) for key in self.values})


@dataclass(frozen=True)
class TableSample:
    """A uniform sample of rows (each partition's own Bernoulli draw), merged by concatenation."""

    table: pa.Table

    def merge(self, other: TableSample) -> TableSample:
        return TableSample(pa.concat_tables([self.table, other.table]))


def sample_rows(table: pa.Table, seed: int, columns: list[str], fraction: float) -> dict[str, Any]:
    """Runs on a worker: a uniform (Bernoulli) sample of a row group's rows, seeded by the row group."""
    keep = np.random.default_rng(seed).random(table.num_rows) < fraction
    return {"sample": TableSample(table.select(columns).filter(pa.array(keep)))}


@dataclass(frozen=True)
class WindowParts:
    """One summary per time window (the same windows on every row group), merged window by window."""

    parts: list[Any]

    def merge(self, other: WindowParts) -> WindowParts:
        return WindowParts([capped(a.merge(b)) for a, b in zip(self.parts, other.parts, strict=True)])


@dataclass(frozen=True)
class Keyed:
    """Mergeable values by key (a segment's value), keys appearing in some partitions only."""

    parts: dict[Any, Any]

    def merge(self, other: Keyed) -> Keyed:
        merged = dict(self.parts)
        for key, value in other.parts.items():
            merged[key] = merged[key].merge(value) if key in merged else value
        return Keyed(merged)


@dataclass(frozen=True)
class DistinctUpTo:
    """The distinct values of a column while there are at most ``limit`` of them; None beyond."""

    values: frozenset[Any] | None
    limit: int

    def merge(self, other: DistinctUpTo) -> DistinctUpTo:
        if self.values is None or other.values is None or len(self.values | other.values) > self.limit:
            return DistinctUpTo(None, self.limit)
        return DistinctUpTo(self.values | other.values, self.limit)
