"""Proxy (business) metrics' inputs, checked against a log's schema, and their mergeable per-request sums.

A proxy metric per request is a mean, a rate or a ratio of sums, so a
cluster can add partitions' sums (stats/ranking.proxy_sums) and get the same
value and standard error as one pass over the rows. Per query it needs each
query's rows together: the local engine only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.errors import PolicyError
from mlrel_cli.facts.merge import Sums, WindowParts
from mlrel_cli.facts.windows import WindowGrid
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.values import timestamps_keeping_rows, to_numpy_float
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
    checked: dict[str, str] = {}
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
        checked[key] = column
    return checked


def as_float(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A proxy input as float (booleans as 0 and 1, nulls as NaN)."""
    return to_numpy_float(pc.cast(column, pa.float64()) if pa.types.is_boolean(column.type) else column)


def proxy_facts(
    table: pa.Table, metrics: Mapping[str, tuple[str, Mapping[str, str]]], grid: WindowGrid | None = None
) -> dict[str, Sums | WindowParts]:
    """Runs on a worker: per-request sums of each proxy metric (kind, inputs) for a row group (``proxy:<name>``),
    and per window of ``grid`` (``proxy:<name>@windows``). Keyed mergeables, as ``Engine.reduce`` merges them (and
    as a profile answers this builder by its name)."""
    from mlrel_cli.stats.ranking import proxy_sums

    windows = grid.assign(timestamps_keeping_rows(table.column(grid.column), grid.where)) if grid is not None else None
    out: dict[str, Sums | WindowParts] = {}
    for name, (kind, inputs) in metrics.items():
        arrays = {key: as_float(table.column(column)) for key, column in inputs.items()}

        def sums(rows: np.ndarray | None, arrays: dict[str, np.ndarray] = arrays, kind: str = kind) -> Sums:
            picked = {key: (a if rows is None else a[rows]) for key, a in arrays.items()}
            return Sums(proxy_sums(kind, picked.get("column"), picked.get("numerator"), picked.get("denominator")))

        out[f"proxy:{name}"] = sums(None)
        if windows is not None:
            out[f"proxy:{name}@windows"] = WindowParts([sums(rows) for rows in windows.rows()])
    return out


def per_request(policy: Policy) -> list[str]:
    return [name for name, spec in policy.proxy_metrics.items() if spec.per != "query"]


@dataclass(frozen=True)
class ProxyFacts:
    """A proxy metric on a log: its value and standard error, and per window (rows, value, standard error)."""

    value: float
    standard_error: float
    windows: list[tuple[int, float, float]]


def proxy_values(log: Log, policy: Policy, name: str, rows: np.ndarray | None, query: np.ndarray | None) -> tuple[float, float]:
    """The proxy metric on these rows of the whole log (read column by column, exact), and its standard error."""
    from mlrel_cli.stats.ranking import proxy_standard_error, proxy_value

    spec = policy.proxy_metrics[name]

    def column(col: str | None) -> np.ndarray | None:
        if not col:
            return None
        if not log.has(col):
            raise PolicyError(
                f"proxy_metrics.{name}: column '{col}' is not in the {log.label}", policy.source_of(f"proxy_metrics.{name}")
            )
        values = log.column(col)
        if pa.types.is_boolean(values.type):
            values = pc.cast(values, pa.float64())
        if kind_of_type(values.type) != "numeric":
            raise PolicyError(
                f"proxy_metrics.{name}: column '{col}' is {values.type}, not numeric", policy.source_of(f"proxy_metrics.{name}")
            )
        array = to_numpy_float(values)
        return array if rows is None else array[rows]

    q = None
    if spec.per == "query":
        q = query if rows is None or query is None else query[rows]
    inputs = (spec.kind, column(spec.column), column(spec.numerator), column(spec.denominator), q)
    return proxy_value(*inputs), proxy_standard_error(*inputs)


def query_codes(log: Log, policy: Policy) -> np.ndarray | None:
    """Each row's query as an integer code (-1 without one), or None when the log has no query column."""
    if not policy.columns.query or not log.has(policy.columns.query):
        return None
    encoded = pc.dictionary_encode(log.column(policy.columns.query)).combine_chunks()
    return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def proxies_of_rows(log: Log, policy: Policy, grid: WindowGrid | None) -> dict[str, ProxyFacts]:
    """Every proxy metric of the policy over the whole log's rows, exactly, and per window of ``grid``."""
    windows = grid.assign(timestamps_keeping_rows(log.column(grid.column), grid.where)) if grid is not None else None
    out = {}
    for name, spec in policy.proxy_metrics.items():
        query = query_codes(log, policy)
        if spec.per == "query" and query is None:
            raise PolicyError(
                f"proxy_metrics.{name}: per query needs columns.query in both logs", policy.source_of(f"proxy_metrics.{name}")
            )
        value, se = proxy_values(log, policy, name, None, query)
        per_window = []
        for rows in windows.rows() if windows is not None else []:
            w_value, w_se = proxy_values(log, policy, name, rows, query) if len(rows) else (np.nan, np.nan)
            per_window.append((len(rows), w_value, w_se))
        out[name] = ProxyFacts(value, se, per_window)
    return out


def query_units(
    table: pa.Table, codes: np.ndarray, metrics: dict[str, tuple[str, dict[str, str]]], grid: WindowGrid | None
) -> dict[str, np.ndarray]:
    """Per-query values of each per-query proxy metric, over whole queries and within each window (the ``units``
    of engine.per_query_sums)."""
    from mlrel_cli.stats.ranking import per_query_proxy

    windows = grid.assign(timestamps_keeping_rows(table.column(grid.column), grid.where)) if grid is not None else None
    units: dict[str, np.ndarray] = {}
    for name, (kind, inputs) in metrics.items():
        arrays = {key: as_float(table.column(column)) for key, column in inputs.items()}

        def per_query(rows: Any, arrays: dict[str, np.ndarray] = arrays, kind: str = kind) -> np.ndarray:
            column, num, den = (arrays[key][rows] if key in arrays else None for key in ("column", "numerator", "denominator"))
            return per_query_proxy(kind, column, num, den, codes[rows])

        units[f"proxy:{name}"] = per_query(slice(None))
        for i, rows in enumerate(windows.rows() if windows is not None else []):
            units[f"proxy:{name}@{i}"] = per_query(rows) if len(rows) else np.empty(0)
            units[f"rows@{i}"] = np.ones(len(rows))
    return units
