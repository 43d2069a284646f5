"""Where a windowed metric changed: one shifted segment, found and tested by permutation.

A regression starts at an onset and, once mitigated, may end: the model is
a segment [a, b) of windows whose mean differs from the rest (b may be the
end of the series: a plain change point). For a series x_1..x_T of window
values with row counts w_t, every segment gives the weighted mean-shift
statistic
    S(a, b) = (W_in W_out / W) (m_in - m_out)^2 / s^2,
with W the rows inside and outside, m their weighted means and s^2 the
weighted variance of the windows: the likelihood ratio of a Gaussian mean
shift (the 'epidemic' change-point model; CUSUM's statistic when b = T).
The segment of largest S is the change. Its significance is a permutation
test: the largest S over 199 shuffles of the windows; an onset is reported
only when p < alpha (default 0.01). A series with no change yields no
onset about 99 % of the time, whatever its scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PERMUTATIONS = 199


@dataclass(frozen=True)
class ChangePoint:
    index: int | None  # first window of the changed segment, or None
    end: int | None  # first window after it (None: it lasts to the end of the series)
    p_value: float
    before: float  # mean outside the segment
    after: float  # mean inside it
    statistic: float


def _scan(values: np.ndarray, weights: np.ndarray, min_size: int, row_variance: float | None = None) -> tuple[int, int, float]:
    """The segment [a, b) of largest S. With ``row_variance`` (the variance of one row's value), S is in
    units of it, a chi-square(1) per segment when rows are exchangeable; else in units of the windows' spread."""
    total_w = weights.sum()
    total_x = (values * weights).sum()
    mean = total_x / total_w
    variance = (weights * (values - mean) ** 2).sum() / total_w if row_variance is None else row_variance
    if variance <= 0:
        return -1, -1, 0.0
    t = len(values)
    cum_w = np.concatenate(([0.0], np.cumsum(weights)))
    cum_x = np.concatenate(([0.0], np.cumsum(values * weights)))
    w_in = cum_w[None, :] - cum_w[:, None]  # [a, b)
    x_in = cum_x[None, :] - cum_x[:, None]
    w_out = total_w - w_in
    with np.errstate(invalid="ignore", divide="ignore"):
        m_in = x_in / w_in
        m_out = (total_x - x_in) / w_out
        scale = (t / total_w) if row_variance is None else 1.0
        stat = (w_in * w_out / total_w) * (m_in - m_out) ** 2 / variance * scale
    a = np.arange(t + 1)[:, None]
    b = np.arange(t + 1)[None, :]
    size_in = b - a
    valid = (size_in >= min_size) & (t - size_in >= min_size) & (a >= min_size)
    stat = np.where(valid & np.isfinite(stat), stat, -np.inf)
    flat = int(np.argmax(stat))
    best_a, best_b = divmod(flat, t + 1)
    return best_a, best_b, float(stat[best_a, best_b])


def detect_change(
    values: np.ndarray, weights: np.ndarray | None = None, alpha: float = 0.01, min_size: int = 2, seed: int = 0
) -> ChangePoint:
    values = np.asarray(values, dtype=np.float64)
    weights = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = np.isfinite(values) & (weights > 0)
    index_map = np.flatnonzero(keep)
    x, w = values[keep], weights[keep]
    nothing = ChangePoint(None, None, 1.0, float("nan"), float("nan"), 0.0)
    if len(x) < 2 * min_size + 1:
        return nothing
    a, b, statistic = _scan(x, w, min_size)
    if a < 0 or not np.isfinite(statistic):
        return nothing
    rng = np.random.default_rng(seed)
    exceed = sum(
        _scan(x[order], w[order], min_size)[2] >= statistic for order in (rng.permutation(len(x)) for _ in range(PERMUTATIONS))
    )
    p_value = (exceed + 1) / (PERMUTATIONS + 1)
    inside = np.zeros(len(x), dtype=bool)
    inside[a:b] = True
    before = float(np.average(x[~inside], weights=w[~inside]))
    after = float(np.average(x[inside], weights=w[inside]))
    if p_value >= alpha:
        return ChangePoint(None, None, p_value, before, after, statistic)
    end = int(index_map[b]) if b < len(x) else None
    return ChangePoint(int(index_map[a]), end, p_value, before, after, statistic)


ROW_PERMUTATION_MAX_ROWS = 200_000


def detect_change_rows(
    values: np.ndarray, windows: np.ndarray, alpha: float = 0.01, min_size: int = 2, seed: int = 0
) -> ChangePoint:
    """The shifted segment of windows, tested on the rows: power that does not depend on the window count.

    ``values`` holds one value per row (a per-row loss, in time order) and
    ``windows`` each row's window index. The segments scanned are the
    windows' (S as in ``detect_change``), but S is measured against the
    variance of one row, and the p-value comes from shuffling the rows
    among the windows (199 times; window sizes kept), so 8 windows of a
    two-hour incident give as small a p-value as 96 would: the evidence is
    the thousands of rows, not the handful of windows. Above 200,000 rows
    the shuffles are replaced by window means drawn from their normal
    approximation (mean, variance / rows), which the shuffles converge to.
    Rows exchangeable over time (no change) yield an onset at most
    ``alpha`` of the time.
    """
    values = np.asarray(values, dtype=np.float64)
    windows = np.asarray(windows, dtype=np.int64)
    keep = np.isfinite(values) & (windows >= 0)
    values, windows = values[keep], windows[keep]
    nothing = ChangePoint(None, None, 1.0, float("nan"), float("nan"), 0.0)
    if len(values) < 2:
        return nothing
    n_windows = int(windows.max()) + 1
    counts_all = np.bincount(windows, minlength=n_windows).astype(np.float64)
    index_map = np.flatnonzero(counts_all > 0)
    dense = np.searchsorted(index_map, windows)  # windows with rows, renumbered 0..T-1
    counts = counts_all[index_map]
    t = len(counts)
    if t < 2 * min_size + 1:
        return nothing
    variance = float(values.var())
    if not variance > 0:
        return nothing

    def means(x: np.ndarray) -> np.ndarray:
        return np.bincount(dense, weights=x, minlength=t) / counts

    observed = means(values)
    a, b, statistic = _scan(observed, counts, min_size, variance)
    if a < 0 or not np.isfinite(statistic):
        return nothing
    rng = np.random.default_rng(seed)
    if len(values) <= ROW_PERMUTATION_MAX_ROWS:
        draws = (means(rng.permutation(values)) for _ in range(PERMUTATIONS))
    else:
        mean = float(values.mean())
        draws = (mean + rng.standard_normal(t) * np.sqrt(variance / counts) for _ in range(PERMUTATIONS))
    exceed = sum(_scan(draw, counts, min_size, variance)[2] >= statistic for draw in draws)
    p_value = (exceed + 1) / (PERMUTATIONS + 1)
    inside = np.zeros(t, dtype=bool)
    inside[a:b] = True
    before = float(np.average(observed[~inside], weights=counts[~inside]))
    after = float(np.average(observed[inside], weights=counts[inside]))
    if p_value >= alpha:
        return ChangePoint(None, None, p_value, before, after, statistic)
    end = int(index_map[b]) if b < t else None
    return ChangePoint(int(index_map[a]), end, p_value, before, after, statistic)
