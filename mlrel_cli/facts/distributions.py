"""Distribution summaries of a column, drift's facts: exact sorted values (numeric) or category counts, overall and
per window.

``summarise_column`` reads one column and summarises it exactly (the local
engine, and a profile's build); ``drift_summaries`` is the same per row group
with numeric summaries shrunk to quantile sketches (the Dask engine's builder),
so its results merge.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.facts.windows import WindowGrid, Windows
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.stats.sketch import QuantileSketch
from mlrel_cli.stats.summaries import CategoricalSummary, NumericSummary

Summary = NumericSummary | CategoricalSummary


def summarise_column(
    load: Callable[[], pa.ChunkedArray | pa.Array], kind: str, windows: Windows | None
) -> tuple[NumericSummary | CategoricalSummary, list[NumericSummary | CategoricalSummary]]:
    """Summarise one column; ``load`` reads it here so the Arrow copy can be freed before sorting."""
    column = load()
    if kind == "numeric":
        values = float_values(column)
        del column  # from here on only the numpy copy is held: memory of one column, not two
        parts: list[NumericSummary | CategoricalSummary] = []
        if windows is not None:
            ordered = values[windows.order]
            parts = [
                NumericSummary.from_values(ordered[windows.bounds[i] : windows.bounds[i + 1]])
                for i in range(len(windows.starts_us))
            ]
            del ordered
        return NumericSummary.from_values(values, in_place=True), parts
    if isinstance(column, pa.ChunkedArray) and pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    elif pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    if windows is None:
        counts = pc.value_counts(column)
        counts = counts.combine_chunks() if isinstance(counts, pa.ChunkedArray) else counts
        values_field, counts_field = counts.field("values"), counts.field("counts").to_numpy(zero_copy_only=False)
        present = values_field.is_valid().to_numpy(zero_copy_only=False)
        missing = int(counts_field[~present].sum())
        return CategoricalSummary.from_counts(
            [v for v, ok in zip(values_field.to_pylist(), present, strict=True) if ok], counts_field[present], missing
        ), []
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.unify_dictionaries().combine_chunks()
    del column
    categories = encoded.dictionary.to_pylist()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    k = len(categories)
    counts = np.bincount(codes[codes >= 0], minlength=k)
    whole = CategoricalSummary.from_counts(categories, counts, int(np.count_nonzero(codes < 0)))
    ordered = codes[windows.order]
    n_windows = len(windows.starts_us)
    window_of_row = np.repeat(np.arange(n_windows), np.diff(windows.bounds))
    present = ordered >= 0
    matrix = np.bincount(window_of_row[present] * k + ordered[present], minlength=n_windows * k)
    matrix = matrix.reshape(n_windows, k)
    window_missing = np.bincount(window_of_row[~present], minlength=n_windows)
    parts = [CategoricalSummary.from_counts(categories, matrix[i], int(window_missing[i])) for i in range(n_windows)]
    return whole, parts


def drift_summaries(table: Any, kinds: dict[str, str], grid: WindowGrid | None = None) -> dict[str, Any]:
    """Runs on a worker: the local engine's summary of each column of a row group, numeric ones as quantile sketches;
    with a window grid, also one summary per window."""
    from mlrel_cli.facts.merge import WindowParts
    from mlrel_cli.logs.values import timestamps_keeping_rows
    from mlrel_cli.stats.summaries import capped

    def small(summary: Any) -> Any:
        if isinstance(summary, NumericSummary):
            return QuantileSketch.from_sorted(summary.sorted_values, summary.missing, summary.infinite)
        return summary

    windows = None
    if grid is not None:
        windows = grid.assign(timestamps_keeping_rows(table.column(grid.column), grid.where))
    out: dict[str, Any] = {}
    for name, kind in kinds.items():
        whole, parts = summarise_column(partial(table.column, name), kind, windows)
        out[name] = small(whole)
        if windows is not None:
            out[f"{name}@windows"] = WindowParts([capped(small(part)) for part in parts])
    return out


def from_sketch(summary: Any) -> Any:
    """A merged summary as drift judges it: a quantile sketch becomes a NumericSummary of its points."""
    return NumericSummary.from_sketch(summary) if isinstance(summary, QuantileSketch) else summary


def float_values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A writable float64 copy with NaN for nulls, filled chunk by chunk (no combined Arrow copy)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = np.empty(len(column), dtype=np.float64)
    position = 0
    for chunk in chunks:
        out[position : position + len(chunk)] = to_numpy_float(chunk)
        position += len(chunk)
    return out
