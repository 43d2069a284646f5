"""Weak segments of a ranking log: the slices of queries where NDCG is low (docs/segments.md, "Ranking logs").

The unit is the query: its loss is 1 - NDCG@k (queries without engagement have no NDCG and are left out), and a
slice is a condition on a **query-level** column, one that holds a single value within each query (a device, a
country, the query's length). A column whose value changes within a query (a result's price, its score) describes
results, not queries, and is not searched. Each query's value is read from its rows at once (the query's first
result), then the search is the same as for rows (``stats.slices``): the same bins, test, correction and budget,
``min_rows`` counting queries.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrel_cli.analysis import weak_segments
from mlrel_cli.facts.slices import RANKING_METRIC, QueryRows
from mlrel_cli.logs import Log
from mlrel_cli.logs.roles import kind_of_type
from mlrel_cli.logs.values import to_numpy_float
from mlrel_cli.policy import WeakSegmentsCheck
from mlrel_cli.report import Check, Status
from mlrel_cli.stats.names import RANKING
from mlrel_cli.stats.slices import Binned, bin_categories, bin_numeric, numeric_edges

METRIC = RANKING_METRIC


def _binned(name: str, kind: str, values: pa.Array, edges_from: np.ndarray | None, cfg: WeakSegmentsCheck) -> Binned:
    if kind == "numeric" and kind_of_type(values.type) == "numeric":
        numbers = to_numpy_float(values)
        return bin_numeric(name, numbers, numeric_edges(numbers if edges_from is None else edges_from, cfg.bins))
    encoded = pc.dictionary_encode(values)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
    return bin_categories(name, codes, encoded.dictionary.to_pylist(), cfg.top_categories)


def check(
    log: Log,
    reference: Log | None,
    features: dict[str, str],
    segments: tuple[str, ...],
    query: np.ndarray,
    position: np.ndarray,
    gain: np.ndarray,
    keep: np.ndarray,
    k: int,
    cfg: WeakSegmentsCheck,
    source: str | None,
) -> Check:
    """validate's ``weak_segments`` check on a ranking log: the slices of queries with a low NDCG@k."""
    from mlrel_cli.stats.slices import search

    rows = QueryRows.of(query, position, gain, keep, k)
    judged = np.isfinite(rows.loss)
    binned, skipped = [], []
    for name, kind in weak_segments.searched_columns(log, features, segments, cfg).items():
        values = rows.values(log.column(name))
        if values is None:
            skipped.append(name)
            continue
        edges_from = None
        numeric_reference = (
            reference is not None and reference.has(name) and kind_of_type(reference.schema.field(name).type) == "numeric"
        )
        if kind == "numeric" and reference is not None and numeric_reference:
            profiled = getattr(reference, "sorted_values", None)  # a profile: its exact values or sketch points
            edges_from = profiled(name) if profiled is not None else to_numpy_float(reference.column(name))
        found = _binned(name, kind, values.filter(pa.array(judged)), edges_from, cfg)
        binned.append(found)
    if not binned:
        why = f" ({', '.join(skipped)} {'varies' if len(skipped) == 1 else 'vary'} within a query)" if skipped else ""
        return Check(weak_segments.NAME, Status.SKIPPED, message=f"no query-level column to slice on{why}")
    result = search(binned, rows.loss[judged], None, weak_segments.config_of(cfg, RANKING))
    edges = "reference" if reference is not None else "log"
    out = weak_segments.judge(result, METRIC, cfg, source, [b.name for b in binned], edges_from=edges)
    if skipped:
        out.details["not_query_level"] = skipped
    return out


def _numeric_in(log: Log, name: str) -> bool:
    return log.has(name) and kind_of_type(log.schema.field(name).type) == "numeric"
