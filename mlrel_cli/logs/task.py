"""The model task (binary, multiclass, regression) inferred from a log's prediction and label values."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.stats.names import BINARY, MULTICLASS, REGRESSION


def _distinct(values: pa.Array | pa.ChunkedArray) -> int:
    """Distinct non-null values; pc.count_distinct has no kernel for dictionary columns (pandas' category)."""
    return len(pc.drop_null(pc.unique(values)))


def infer_task(prediction: pa.ChunkedArray, label: pa.Array | pa.ChunkedArray | None) -> str:
    """binary, multiclass or regression from the prediction (and label) values; see docs/policy.md."""
    ptype = prediction.type
    if kind_of_type(ptype) == "categorical":
        return MULTICLASS if _distinct(prediction) > 2 or label is None else BINARY
    values = to_numpy_float(prediction)
    values = values[np.isfinite(values)]
    if label is not None and len(label) - label.null_count > 0:
        label_kind = kind_of_type(label.type)
        if label_kind == "categorical" and not pa.types.is_boolean(label.type):
            # a probability against two label values ('yes' / 'no') is a binary classifier
            two_values = _distinct(pc.drop_null(label)) <= 2
            is_probability = len(values) > 0 and values.min() >= 0.0 and values.max() <= 1.0
            return BINARY if two_values and is_probability else MULTICLASS
        distinct = pc.unique(pc.drop_null(label))
        distinct = distinct.combine_chunks() if isinstance(distinct, pa.ChunkedArray) else distinct
        label_values = set(distinct.to_pylist()) if len(distinct) <= 50 else None
        if label_values is not None and label_values <= {0, 1}:
            return BINARY
        if label_values is not None and all(float(v).is_integer() for v in label_values if v is not None):
            integral_pred = len(values) > 0 and np.all(np.equal(np.mod(values, 1), 0))
            return MULTICLASS if integral_pred else REGRESSION
        return REGRESSION
    if len(values) and values.min() >= 0.0 and values.max() <= 1.0:
        return BINARY
    return REGRESSION
