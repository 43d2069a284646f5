"""Sampling uncertainty: how far a metric may move by chance alone."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SE_RESAMPLES = 200
SE_MAX_ROWS = 20_000


def bootstrap_se(
    statistic: Callable[..., float],
    arrays: tuple[np.ndarray, ...],
    seed: int = 0,
    resamples: int = SE_RESAMPLES,
    max_rows: int = SE_MAX_ROWS,
    population: int | None = None,
) -> float:
    """Standard error of ``statistic(*arrays)`` by the bootstrap.

    On more than ``max_rows`` rows it bootstraps a random subsample of
    ``max_rows`` and scales the result by sqrt(m / n): the error of a smooth
    statistic shrinks as 1/sqrt(n), and this keeps the cost bounded on a
    day of logs. Resamples where the statistic is undefined are dropped.
    ``population``: the rows the arrays are a uniform sample of (a cluster
    sends a sample, not the rows), for the same scaling.
    """
    n = len(arrays[0])
    if n < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    m = min(n, max_rows)
    if m < n:
        pick = rng.choice(n, size=m, replace=False)
        arrays = tuple(a[pick] for a in arrays)
    values = np.empty(resamples)
    for i in range(resamples):
        idx = rng.integers(0, m, size=m)
        values[i] = statistic(*(a[idx] for a in arrays))
    values = values[np.isfinite(values)]
    if len(values) < resamples // 2:
        return float("nan")
    return float(values.std(ddof=1) * np.sqrt(m / (population or n)))


def quantile_ranks(n: int, p: float, confidence: float) -> tuple[int, int]:
    """1-based ranks (l, u) of the order statistics that bound the ``p`` quantile of n values at ``confidence``.

    Distribution-free (the binomial interval of a quantile, as scipy.stats.quantile_test gives): each side
    misses with probability at most (1 - confidence) / 2 whatever the distribution. ``l`` is 0 where no order
    statistic is low enough and ``u`` is n + 1 where none is high enough: n values cannot bound the quantile
    on that side (100 values cannot bound their 99th percentile from above).
    """
    from scipy.stats import binom

    if n < 1:
        return 0, n + 1
    tail = (1 - confidence) / 2
    k = binom.ppf(tail, n, p)  # the smallest k with P(B <= k) >= tail, B ~ Binomial(n, p)
    low = int(k + (binom.cdf(k, n, p) <= tail))
    high = int(binom.ppf(1 - tail, n, p) + 1)
    return low, min(high, n + 1)


def quantile_bounds_from_counts(counts: np.ndarray, edges: np.ndarray, p: float, confidence: float) -> tuple[float, float]:
    """The distribution-free interval of the ``p`` quantile of the values a histogram counts (``quantile_ranks``).

    The order statistics are read as the outer edges of the bins holding them, so the interval holds the one
    of the values themselves; a side n values cannot bound is infinite.
    """
    cumulative = np.cumsum(counts)
    n = int(np.rint(cumulative[-1])) if len(cumulative) else 0
    low_rank, high_rank = quantile_ranks(n, p, confidence)
    low = float(edges[np.searchsorted(cumulative, low_rank)]) if low_rank >= 1 else -np.inf
    high = float(edges[np.searchsorted(cumulative, high_rank) + 1]) if high_rank <= n else np.inf
    return low, high
