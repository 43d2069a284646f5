"""Concept drift's facts: the performance metric on a log's labelled rows, overall and per window.

``labelled_rows`` encodes a row group's (prediction, label) pairs as the
metric functions take them (binary: truth as bool and a finite score;
multiclass: classes as text; regression: finite pairs) and, with a window
grid, which window each kept row falls in. An engine turns these into
``MetricRows``: the metric's value, how many rows it is over, and the rows
(or a uniform sample of them) for its standard error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.facts.windows import WindowGrid
from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.values import timestamps_keeping_rows, to_numpy_float
from mlrel_cli.tasks import TASK_BY_NAME


@dataclass(frozen=True)
class MetricRows:
    """A metric on some labelled rows: its value, the row count, and the rows it was computed on (all of them, or
    a uniform sample standing for ``population`` rows) for the bootstrap of its standard error."""

    value: float
    rows: int
    truth: np.ndarray
    predicted: np.ndarray
    population: int | None = None


def labelled_arrays(
    task: str, prediction: pa.Array, label: pa.Array, positive_label: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, predicted) of the rows the metric can use, and their positions among the input rows, read as the
    task's record says (tasks.Task.reads)."""
    keep = pc.and_(pc.is_valid(prediction), pc.is_valid(label))
    kept = np.flatnonzero(keep.to_numpy(zero_copy_only=False)) if len(keep) else np.zeros(0, dtype=np.int64)
    read = _READERS[TASK_BY_NAME[task].reads]
    truth, predicted, ok = read(pc.filter(prediction, keep), pc.filter(label, keep), positive_label)
    return truth, predicted, kept[ok]


def _scores(prediction: pa.Array, label: pa.Array, positive_label: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth as bool (the positive class or not), the score as float; rows with a finite score."""
    if kind_of_type(label.type) == "numeric" and not pa.types.is_boolean(label.type):
        truth = to_numpy_float(label) == float(positive_label)
    else:
        # the label as written ('M' is not 'm'), as validate and compare read it
        truth = pc.cast(label, pa.string()).to_numpy(zero_copy_only=False).astype(str) == str(positive_label)
        if pa.types.is_boolean(label.type):
            truth = to_numpy_float(pc.cast(label, pa.int8())) == 1.0
    score = to_numpy_float(prediction)
    ok = np.isfinite(score)
    return truth[ok], score[ok], ok


def _classes(prediction: pa.Array, label: pa.Array, positive_label: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sides as text; every row."""
    as_text = [pc.cast(side, pa.string()).to_numpy(zero_copy_only=False).astype(str) for side in (label, prediction)]
    return as_text[0], as_text[1], np.ones(len(label), dtype=bool)


def _values(prediction: pa.Array, label: pa.Array, positive_label: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sides as float; rows where both are finite (a ranking's gains read the same way)."""
    y, p = to_numpy_float(label), to_numpy_float(prediction)
    ok = np.isfinite(y) & np.isfinite(p)
    return y[ok], p[ok], ok


_READERS = {"score": _scores, "classes": _classes, "values": _values, "gains": _values}


def labelled_rows(
    table: pa.Table, prediction: str, label: str, task: str, positive_label: Any, grid: WindowGrid | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """A row group's labelled rows (engine.labelled_summary's ``prepare``); with ``grid``, segment ``window`` is
    each kept row's window (-1 outside the grid)."""
    truth, predicted, kept = labelled_arrays(
        task, table.column(prediction).combine_chunks(), table.column(label).combine_chunks(), positive_label
    )
    if grid is None:
        return truth, predicted, {}
    ts = timestamps_keeping_rows(table.column(grid.column), grid.where)[kept]
    index = np.where(ts >= 0, (ts - grid.origin) // grid.width_us, -1)
    index[index >= grid.n_windows] = -1
    return truth, predicted, {"window": index}
