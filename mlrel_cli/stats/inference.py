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
