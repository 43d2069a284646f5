"""Labelled-rows parts: what a label metric and its bootstrap need from some labelled rows, as sums that merge.

validate, drift and compare on a cluster all judge label metrics from these:
score cells by label (binary), the confusion matrix (multiclass), error sums
and error-size cells (regression), overall and per segment value. The
engine runs the builders next to the data; part_metrics reads the merged
parts back as the local metric functions would name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.facts.merge import Keyed, Sums, TableSample
from mlrel_cli.stats import resampling as rs
from mlrel_cli.stats.metrics import BINARY_METRICS, regression_from_sums, regression_sums
from mlrel_cli.stats.sketch import QuantileSketch
from mlrel_cli.stats.summaries import CategoricalSummary
from mlrel_cli.tasks import TASK_BY_NAME


def confusion_counts(truth: np.ndarray, predicted: np.ndarray) -> CategoricalSummary:
    """Counts of each (true class, predicted class) pair: a confusion matrix that merges by adding."""
    pairs = pa.table({"t": pa.array(truth, type=pa.string()), "p": pa.array(predicted, type=pa.string())})
    grouped = pairs.group_by(["t", "p"]).aggregate([([], "count_all")])
    keys: list[object] = list(zip(grouped.column("t").to_pylist(), grouped.column("p").to_pylist(), strict=True))
    return CategoricalSummary.from_counts(keys, grouped.column("count_all").to_numpy(), 0)


def multiclass_from_pairs(confusion: CategoricalSummary) -> dict[str, float]:
    from mlrel_cli.stats.metrics import multiclass_from_confusion

    pairs: dict[Any, int] = confusion.as_dict()  # (true class, predicted class) -> rows
    classes = sorted({t for t, _ in pairs} | {p for _, p in pairs})
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for (t, p), n in pairs.items():
        matrix[index[t], index[p]] += n
    return multiclass_from_confusion(matrix)


def labelled_part(task: str, truth: np.ndarray, predicted: np.ndarray, edges: dict[str, np.ndarray], version: str) -> Sums:
    """What a label metric and its bootstrap need from some labelled rows, as sums: score cells (binary), the
    confusion matrix (multiclass), error sums and error-size cells (regression); the task's ``parts`` says which."""
    part: dict[str, Any] = {"n": len(truth)}
    part.update(_PARTS[TASK_BY_NAME[task].parts][0](truth, predicted, edges, version))
    return Sums(part)


def part_metrics(task: str, part: dict[str, Any], edges: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
    """The label metrics of a labelled_part, named and ordered as the local metric functions return them."""
    return _PARTS[TASK_BY_NAME[task].parts][1](part, edges, threshold)


def needs_score_edges(task: str) -> bool:
    """Whether the task's parts are score cells, whose edges come from a first pass's score sketch."""
    return TASK_BY_NAME[task].parts == "score_cells"


def _score_cells(truth: np.ndarray, predicted: np.ndarray, edges: dict[str, np.ndarray], version: str) -> dict[str, Any]:
    return rs.binary_cell_sums(truth, predicted, edges["score"])


def _score_cells_metrics(part: dict[str, Any], edges: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
    cells = rs.cells_from_sums(part, edges["score"], threshold)
    point = rs.binary_metrics_from_counts(cells, cells.positives[None, :], cells.negatives[None, :])
    return {name: float(point[name][0]) for name in BINARY_METRICS}


def _confusion(truth: np.ndarray, predicted: np.ndarray, edges: dict[str, np.ndarray], version: str) -> dict[str, Any]:
    return {"confusion": confusion_counts(truth, predicted)}


def _confusion_metrics(part: dict[str, Any], edges: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
    return multiclass_from_pairs(part["confusion"])


def _error_sums(truth: np.ndarray, predicted: np.ndarray, edges: dict[str, np.ndarray], version: str) -> dict[str, Any]:
    part: dict[str, Any] = dict(regression_sums(truth, predicted))
    if f"{version}|error" not in edges:  # validate reads the metrics only; compare also resamples error cells
        return part
    err = predicted - truth
    index = np.searchsorted(edges[f"{version}|error"], np.abs(err), side="right")
    k = len(edges[f"{version}|error"]) + 1
    part["error_count"] = np.bincount(index, minlength=k).astype(np.float64)
    part["error_abs"] = np.bincount(index, weights=np.abs(err), minlength=k)
    part["error_sq"] = np.bincount(index, weights=err**2, minlength=k)
    return part


def _error_sums_metrics(part: dict[str, Any], edges: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
    return regression_from_sums(part)


PartBuilder = Callable[[np.ndarray, np.ndarray, dict[str, np.ndarray], str], dict[str, Any]]
PartReader = Callable[[dict[str, Any], dict[str, np.ndarray], float], dict[str, float]]
_PARTS: dict[str, tuple[PartBuilder, PartReader]] = {  # tasks.Task.parts -> how its parts are built and read back
    "score_cells": (_score_cells, _score_cells_metrics),
    "confusion": (_confusion, _confusion_metrics),
    "error_sums": (_error_sums, _error_sums_metrics),
}


Prepare = Callable[[pa.Table], tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]


def labelled_sample(table: pa.Table, seed: int, prepare: Prepare, task: str, fraction: float) -> dict[str, Any]:
    truth, predicted, segments = prepare(table)
    keep = np.random.default_rng(seed).random(len(truth)) < fraction
    sample = pa.table(
        {"truth": truth[keep], "predicted": predicted[keep], **{f"segment:{s}": pa.array(v[keep]) for s, v in segments.items()}}
    )
    out: dict[str, Any] = {"sample": TableSample(sample)}
    if needs_score_edges(task):
        out["score"] = QuantileSketch.from_sorted(np.sort(predicted))
    return out


def labelled_parts(table: pa.Table, prepare: Prepare, task: str, edges: dict[str, Any]) -> dict[str, Any]:
    truth, predicted, segments = prepare(table)
    parts = {}
    for segment, column in segments.items():
        for value in np.unique(column):
            mask = column == value
            parts[(segment, str(value))] = labelled_part(task, truth[mask], predicted[mask], edges, "")
    return {"whole": labelled_part(task, truth, predicted, edges, ""), "segments": Keyed(parts)}


# ---------------------------------------------------------------- the label checks' evidence, on every engine

NO_VALUE = "\x00none"  # a missing segment value, as text that no real value is

Scope = tuple[str, str] | None  # all labelled rows (None), or those of one (segment column, value)
# (table of a row group's columns) -> (truth, predicted, kept): the labelled rows encoded for the task's metric
# function, and which of the table's rows they are
RowsOf = Callable[[pa.Table], tuple[np.ndarray, np.ndarray, np.ndarray]]


def segment_text(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A segment column's values as text, a missing one as NO_VALUE."""
    return pc.fill_null(pc.cast(column, pa.string()), NO_VALUE).to_numpy(zero_copy_only=False).astype(str)


@dataclass(frozen=True)
class LabelledEvidence:
    """What the label metrics are judged from, the same shape on every engine (Engine.labelled_evidence).

    The local engine answers from every labelled row (exact metrics, an exact
    ROC AUC; the rows it bootstraps are all of them), the Dask engine from
    merged labelled parts and a uniform sample of the rows.
    """

    rows: int  # labelled rows
    # per segment column, each value's labelled rows (NO_VALUE: missing), in the engine's order (ties keep it)
    sizes: dict[str, dict[str, int]]
    metrics_of: Callable[[Scope], dict[str, float]]  # every metric of the task over the scope's rows
    # the rows of the scope to bootstrap a standard error on (truth, predicted) and how many rows they stand for
    rows_of: Callable[[Scope], tuple[np.ndarray, np.ndarray, int]]


def with_segments(table: pa.Table, rows_of: RowsOf, segments: list[str]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``rows_of`` as labelled_parts's ``prepare``: the kept rows' segment values as text (runs on the workers)."""
    truth, predicted, kept = rows_of(table)
    return truth, predicted, {s: segment_text(table.column(s))[kept] for s in segments}


def evidence_of_parts(found: dict[str, Any], segments: list[str]) -> LabelledEvidence:
    """The evidence in an engine's labelled_summary (merged parts and a uniform sample): segment values sorted."""
    sample = found["sample"]
    truth, predicted = (sample.column(c).to_numpy(zero_copy_only=False) for c in ("truth", "predicted"))
    parts: dict[tuple[str, str], tuple[int, dict[str, float]]] = found["segments"]
    sizes = {s: {v: parts[(s, v)][0] for v in sorted(v for (c, v) in parts if c == s)} for s in segments}

    def metrics_of(scope: Scope) -> dict[str, float]:
        return found["metrics"] if scope is None else parts[scope][1]

    def rows_of(scope: Scope) -> tuple[np.ndarray, np.ndarray, int]:
        if scope is None:
            return truth, predicted, int(found["rows"])
        mine = sample.column(f"segment:{scope[0]}").to_numpy(zero_copy_only=False) == scope[1]
        return truth[mine], predicted[mine], parts[scope][0]

    return LabelledEvidence(int(found["rows"]), sizes, metrics_of, rows_of)
