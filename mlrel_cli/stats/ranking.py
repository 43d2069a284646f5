"""Ranking metrics over a log of shown results, and proxy metrics over any columns.

A ranking log has one row per shown result: a query (or session) id, the
position shown (1 = top), the model's score and an engagement label (0/1
click, or a graded gain). Metrics judge what users saw, so results are
ordered by position within each query; the score is not needed for them.
All functions are vectorised over the rows: queries are runs of one sorted
code array, never a Python loop over queries. Definitions: docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Queries:
    """Rows sorted by (query, position), with each row's query index and rank within its query (1-based)."""

    query: np.ndarray  # int64 query index per row, non-decreasing
    rank: np.ndarray  # int64 rank within the query, 1-based, by position
    gain: np.ndarray  # float64 engagement (0 = none)
    starts: np.ndarray  # first row of each query
    count: int  # number of queries


def group_queries(query_codes: np.ndarray, position: np.ndarray, gain: np.ndarray) -> Queries:
    """Sort rows by query then position; ranks count the results shown, whatever the position numbers."""
    order = np.lexsort((position, query_codes))
    q = np.asarray(query_codes)[order]
    g = np.asarray(gain, dtype=np.float64)[order]
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]]) if len(q) else np.empty(0, dtype=np.int64)
    sizes = np.diff(np.r_[starts, len(q)])
    query_index = np.repeat(np.arange(len(starts)), sizes)
    rank = np.arange(len(q)) - np.repeat(starts, sizes) + 1
    return Queries(query_index, rank, g, starts, len(starts))


def _per_query_sum(queries: Queries, values: np.ndarray) -> np.ndarray:
    return np.bincount(queries.query, weights=values, minlength=queries.count)


def ndcg_per_query(queries: Queries, k: int) -> np.ndarray:
    """NDCG@k per query, gain / log2(rank + 1); NaN for a query with no engagement (no ideal ranking to compare)."""
    discount = 1.0 / np.log2(queries.rank + 1.0)
    top = queries.rank <= k
    dcg = _per_query_sum(queries, np.where(top, queries.gain * discount, 0.0))
    # the ideal: each query's gains sorted from the largest, at ranks 1, 2, ...
    order = np.lexsort((-queries.gain, queries.query))
    ideal_gain = queries.gain[order]
    ideal = _per_query_sum(queries, np.where(top, ideal_gain * discount, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ideal > 0, dcg / ideal, np.nan)


def reciprocal_rank_per_query(queries: Queries) -> np.ndarray:
    """1 / rank of the first engaged result; 0 for a query with no engagement."""
    engaged = queries.gain > 0
    first = np.full(queries.count, np.inf)
    np.minimum.at(first, queries.query[engaged], queries.rank[engaged].astype(float))
    return np.where(np.isfinite(first), 1.0 / first, 0.0)


def ctr_at_k_per_query(queries: Queries, k: int) -> np.ndarray:
    """Share of the top-k results shown that were engaged with, per query."""
    top = queries.rank <= k
    shown = np.bincount(queries.query[top], minlength=queries.count)
    engaged = np.bincount(queries.query[top & (queries.gain > 0)], minlength=queries.count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shown > 0, engaged / shown, np.nan)


def no_engagement_per_query(queries: Queries) -> np.ndarray:
    engaged = np.bincount(queries.query[queries.gain > 0], minlength=queries.count)
    return (engaged == 0).astype(float)


def ranking_units(queries: Queries, k: int) -> dict[str, np.ndarray]:
    """Each query's NDCG@k (NaN without engagement), reciprocal rank, CTR@k and no-engagement flag."""
    return {
        f"ndcg@{k}": ndcg_per_query(queries, k),
        "mrr": reciprocal_rank_per_query(queries),
        f"ctr@{k}": ctr_at_k_per_query(queries, k),
        "no_engagement": no_engagement_per_query(queries),
    }


def ranking_metrics(queries: Queries, k: int) -> dict[str, float]:
    """Means over queries: NDCG@k over queries with engagement, the others over all queries."""
    return {
        name: float(np.nanmean(units)) if np.isfinite(units).any() else float("nan")
        for name, units in ranking_units(queries, k).items()
    }


def query_attribute(queries: Queries, query_codes: np.ndarray, position: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each query's value of a row attribute (a segment, as integer ``codes`` per row, unsorted like the rows given
    to ``group_queries``): the value most of its rows carry, the smallest code on a tie. A segment describes the
    query; a query whose rows disagree is counted once, under its majority value."""
    if queries.count == 0:
        return np.empty(0, dtype=np.int64)
    sorted_codes = np.asarray(codes, dtype=np.int64)[np.lexsort((position, query_codes))]
    width = int(sorted_codes.max()) + 1
    cells, counts = np.unique(queries.query * width + sorted_codes, return_counts=True)
    query, value = cells // width, cells % width
    order = np.lexsort((value, -counts, query))  # per query: the most rows first, then the smallest code
    first = np.r_[True, query[order][1:] != query[order][:-1]]
    return value[order][first]


# ---------------------------------------------------------------- proxy metrics


def _column(kind: str, values: np.ndarray | None) -> np.ndarray:
    """A mean's or a rate's column (the policy requires it: facts/proxy.proxy_inputs)."""
    if values is None:
        raise ValueError(f"a {kind} proxy metric reads a column")
    return values


def _sides(numerator: np.ndarray | None, denominator: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A ratio's numerator and denominator as float, a missing value counted 0 (as its sums count it)."""
    if numerator is None or denominator is None:
        raise ValueError("a ratio proxy metric reads a numerator and a denominator")
    return np.nan_to_num(numerator.astype(float)), np.nan_to_num(denominator.astype(float))


def per_query_proxy(
    kind: str,
    values: np.ndarray | None,
    numerator: np.ndarray | None,
    denominator: np.ndarray | None,
    query_codes: np.ndarray,
) -> np.ndarray:
    """The proxy metric of each query (NaN for a query with no value or a zero denominator)."""
    codes, inverse = np.unique(query_codes, return_inverse=True)
    n = len(codes)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind in ("mean", "rate"):
            v = _column(kind, values).astype(np.float64)
            ok = np.isfinite(v)
            x = (v != 0).astype(float) if kind == "rate" else v
            counts = np.bincount(inverse[ok], minlength=n)
            return np.where(counts > 0, np.bincount(inverse[ok], weights=x[ok], minlength=n) / counts, np.nan)
        num_rows, den_rows = _sides(numerator, denominator)
        num, den = np.bincount(inverse, weights=num_rows, minlength=n), np.bincount(inverse, weights=den_rows, minlength=n)
        return np.where(den != 0, num / den, np.nan)


def proxy_value(
    kind: str,
    values: np.ndarray | None,
    numerator: np.ndarray | None,
    denominator: np.ndarray | None,
    query_codes: np.ndarray | None = None,
) -> float:
    """A business metric: mean of a column, rate of non-zero values, or ratio of two sums.

    With ``query_codes`` the metric is computed per query first, then
    averaged over queries (each query counts once, however many results it
    showed); queries whose denominator sums to zero are left out.
    """
    if query_codes is not None:
        per = per_query_proxy(kind, values, numerator, denominator, query_codes)
        return float(np.nanmean(per)) if np.isfinite(per).any() else float("nan")
    if kind in ("mean", "rate"):
        v = _column(kind, values)
        finite = v[np.isfinite(v)]
        if not len(finite):
            return float("nan")
        return float(finite.mean()) if kind == "mean" else float((finite != 0).mean())
    if numerator is None or denominator is None:
        raise ValueError("a ratio proxy metric reads a numerator and a denominator")
    total = float(np.nansum(denominator))
    return float(np.nansum(numerator)) / total if total != 0 else float("nan")


def proxy_standard_error(
    kind: str,
    values: np.ndarray | None,
    numerator: np.ndarray | None,
    denominator: np.ndarray | None,
    query_codes: np.ndarray | None = None,
) -> float:
    """Standard error of ``proxy_value``: of a mean over units (rows, or queries), or of a ratio by the delta method."""
    if query_codes is not None:
        units = per_query_proxy(kind, values, numerator, denominator, query_codes)
    elif kind == "ratio":
        num, den = _sides(numerator, denominator)
        if len(num) < 2 or den.sum() == 0:
            return float("nan")
        ratio = num.sum() / den.sum()
        residual = (num - ratio * den) / den.mean()
        return float(residual.std(ddof=1) / np.sqrt(len(num)))
    else:
        v = _column(kind, values).astype(float)
        units = (v[np.isfinite(v)] != 0).astype(float) if kind == "rate" else v
    units = units[np.isfinite(units)]
    return float(units.std(ddof=1) / np.sqrt(len(units))) if len(units) > 1 else float("nan")


def proxy_sums(
    kind: str, values: np.ndarray | None, numerator: np.ndarray | None, denominator: np.ndarray | None
) -> dict[str, float]:
    """A per-request proxy metric's sufficient statistics: sums that partitions add up (for a cluster)."""
    if kind == "ratio":
        num, den = _sides(numerator, denominator)
        return {
            "rows": len(num),
            "n": len(num),
            "num": float(num.sum()),
            "den": float(den.sum()),
            "num2": float((num**2).sum()),
            "den2": float((den**2).sum()),
            "numden": float((num * den).sum()),
        }
    v = _column(kind, values).astype(float)
    units = v[np.isfinite(v)]
    if kind == "rate":
        units = (units != 0).astype(float)
    return {"rows": len(v), "n": len(units), "sum": float(units.sum()), "sum2": float((units**2).sum())}


def proxy_from_sums(kind: str, sums: dict[str, float]) -> tuple[float, float]:
    """proxy_value and proxy_standard_error of a per-request metric, from proxy_sums."""
    n = sums["n"]
    if kind == "ratio":
        if n < 1 or sums["den"] == 0:
            return float("nan"), float("nan")
        ratio = sums["num"] / sums["den"]
        if n < 2:
            return ratio, float("nan")
        # residuals e = (num - ratio * den) / mean(den) sum to zero, so their variance is sum(e^2) / (n - 1)
        squares = _beyond_rounding(
            sums["num2"] - 2 * ratio * sums["numden"] + ratio**2 * sums["den2"], sums["num2"] + ratio**2 * sums["den2"]
        )
        mean_den = sums["den"] / n
        return ratio, float(np.sqrt(squares / (n - 1)) / abs(mean_den) / np.sqrt(n))
    return mean_and_se(sums)


def mean_and_se(sums: dict[str, float]) -> tuple[float, float]:
    """A mean and its standard error from the count ``n``, ``sum`` and ``sum2`` (sum of squares) of its values."""
    n = sums["n"]
    if n < 1:
        return float("nan"), float("nan")
    mean = sums["sum"] / n
    if n < 2:
        return mean, float("nan")
    return mean, float(np.sqrt(_beyond_rounding(sums["sum2"] - n * mean**2, sums["sum2"]) / (n - 1) / n))


def _beyond_rounding(residual: float, scale: float) -> float:
    """A sum of squared deviations got by subtracting large sums: below the rounding error of ``scale`` it is 0
    (equal values), never the square root of that error, which would pass for a real spread."""
    return residual if residual > 1e-12 * abs(scale) else 0.0
