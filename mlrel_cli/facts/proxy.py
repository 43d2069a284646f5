"""Proxy (business) metrics' inputs, checked against a log's schema, and their mergeable per-request sums.

A proxy metric per request is a mean, a rate or a ratio of sums, so a
cluster can add partitions' sums (stats/ranking.proxy_sums) and get the same
value and standard error as one pass over the rows. Per query it needs each
query's rows together: the local engine only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.errors import PolicyError
from mlrel_cli.facts.merge import Sums, WindowParts
from mlrel_cli.facts.windows import assign_windows
from mlrel_cli.logs import Log, kind_of_type, timestamps_keeping_rows, to_numpy_float
from mlrel_cli.policy import Policy


def proxy_inputs(policy: Policy, log: Log, name: str) -> dict[str, str]:
    """The columns a proxy metric reads ({'column': ...} or {'numerator': ..., 'denominator': ...}), checked on the
    schema (present, numeric or boolean) before any row is read."""
    spec = policy.proxy_metrics[name]
    needed = (
        {"column": spec.column}
        if spec.kind in ("mean", "rate")
        else {"numerator": spec.numerator, "denominator": spec.denominator}
    )
    for key, column in needed.items():
        if not column:
            raise PolicyError(
                f"proxy_metrics.{name}.{key}: a {spec.kind} metric needs it", policy.source_of(f"proxy_metrics.{name}")
            )
        if not log.has(column):
            raise PolicyError(
                f"proxy_metrics.{name}.{key}: column '{column}' is not in the {log.label}",
                policy.source_of(f"proxy_metrics.{name}.{key}"),
            )
        dtype = log.schema.field(column).type
        if kind_of_type(dtype) != "numeric" and not pa.types.is_boolean(dtype):
            raise PolicyError(
                f"proxy_metrics.{name}.{key}: column '{column}' is {dtype}, not numeric",
                policy.source_of(f"proxy_metrics.{name}.{key}"),
            )
    return needed  # type: ignore[return-value]


def as_float(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A proxy input as float (booleans as 0 and 1, nulls as NaN)."""
    return to_numpy_float(pc.cast(column, pa.float64()) if pa.types.is_boolean(column.type) else column)


def proxy_facts(table: pa.Table, metrics: Mapping[str, tuple[str, Mapping[str, str]]], grid: Any = None) -> dict[str, Any]:
    """Runs on a worker: per-request sums of each proxy metric (kind, inputs) for a row group, and per window."""
    from mlrel_cli.stats.ranking import proxy_sums

    windows = None
    if grid is not None:
        column, where, origin, width, n_windows = grid
        windows = assign_windows(timestamps_keeping_rows(table.column(column), where), origin, width, n_windows)
    out: dict[str, Any] = {}
    for name, (kind, inputs) in metrics.items():
        arrays = {key: as_float(table.column(column)) for key, column in inputs.items()}

        def sums(rows: np.ndarray | None, arrays: dict[str, np.ndarray] = arrays, kind: str = kind) -> Sums:
            picked = {key: (a if rows is None else a[rows]) for key, a in arrays.items()}
            return Sums(proxy_sums(kind, picked.get("column"), picked.get("numerator"), picked.get("denominator")))

        out[f"proxy:{name}"] = sums(None)
        if windows is not None:
            out[f"proxy:{name}@windows"] = WindowParts(
                [sums(windows.order[windows.bounds[i] : windows.bounds[i + 1]]) for i in range(len(windows.starts_us))]
            )
    return out


def per_request(policy: Policy) -> list[str]:
    return [name for name, spec in policy.proxy_metrics.items() if spec.per != "query"]
