"""Labelled-rows parts: what a label metric and its bootstrap need from some labelled rows, as sums that merge.

validate, drift and compare on a cluster all judge label metrics from these:
score cells by label (binary), the confusion matrix (multiclass), error sums
and error-size cells (regression), overall and per segment value. The
engine runs the builders next to the data; part_metrics reads the merged
parts back as the local metric functions would name them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from mlrel_cli.facts.merge import Keyed, Sums, TableSample
from mlrel_cli.stats import resampling as rs
from mlrel_cli.stats.metrics import BINARY_METRICS, regression_from_sums, regression_sums
from mlrel_cli.stats.names import BINARY, MULTICLASS
from mlrel_cli.stats.sketch import QuantileSketch
from mlrel_cli.stats.summaries import CategoricalSummary


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
    confusion matrix (multiclass), error sums and error-size cells (regression)."""
    part: dict[str, Any] = {"n": len(truth)}
    if task == BINARY:
        part.update(rs.binary_cell_sums(truth, predicted, edges["score"]))
    elif task == MULTICLASS:
        part["confusion"] = confusion_counts(truth, predicted)
    else:
        part.update(regression_sums(truth, predicted))
        if f"{version}|error" not in edges:  # validate reads the metrics only; compare also resamples error cells
            return Sums(part)
        err = predicted - truth
        index = np.searchsorted(edges[f"{version}|error"], np.abs(err), side="right")
        k = len(edges[f"{version}|error"]) + 1
        part["error_count"] = np.bincount(index, minlength=k).astype(np.float64)
        part["error_abs"] = np.bincount(index, weights=np.abs(err), minlength=k)
        part["error_sq"] = np.bincount(index, weights=err**2, minlength=k)
    return Sums(part)


def part_metrics(task: str, part: dict[str, Any], edges: dict[str, np.ndarray], threshold: float) -> dict[str, float]:
    """The label metrics of a labelled_part, named and ordered as the local metric functions return them."""
    if task == BINARY:
        cells = rs.cells_from_sums(part, edges["score"], threshold)
        point = rs.binary_metrics_from_counts(cells, cells.positives[None, :], cells.negatives[None, :])
        return {name: float(point[name][0]) for name in BINARY_METRICS}
    if task == MULTICLASS:
        return multiclass_from_pairs(part["confusion"])
    return regression_from_sums(part)


Prepare = Callable[[pa.Table], tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]


def labelled_sample(table: pa.Table, seed: int, prepare: Prepare, task: str, fraction: float) -> dict[str, Any]:
    truth, predicted, segments = prepare(table)
    keep = np.random.default_rng(seed).random(len(truth)) < fraction
    sample = pa.table(
        {"truth": truth[keep], "predicted": predicted[keep], **{f"segment:{s}": pa.array(v[keep]) for s, v in segments.items()}}
    )
    out: dict[str, Any] = {"sample": TableSample(sample)}
    if task == BINARY:
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
