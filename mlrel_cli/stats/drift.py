"""Drift methods as data: one immutable table of name, column kinds, default thresholds and function.

Every function compares a reference summary with a current one and returns a
``DriftScore``. Distances (``psi``, ``wasserstein``, ``jensen_shannon``) flag
drift when the score is above the threshold; tests (``ks``, ``chi2``) report a
p-value and flag drift when it is below alpha after correction across
features. Formulas, binning and edge cases: docs/drift.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlrel_cli.stats.summaries import CategoricalSummary, NumericSummary, aligned_counts

PSI_EPS = 1e-4  # proportion given to an empty bin so PSI stays finite
NOISE_RESAMPLES = 200
NOISE_MAX_ROWS = 2000
NOISE_REFERENCE_POINTS = 10_000


@dataclass(frozen=True)
class DriftScore:
    score: float  # the distance, or the p-value for a test
    statistic: float  # the distance again, or the test statistic
    p_value: float | None = None


Summary = NumericSummary | CategoricalSummary


@dataclass(frozen=True)
class Method:
    name: str
    kinds: frozenset[str]
    is_test: bool
    fail: float  # default fail threshold (alpha for tests)
    warn: float | None  # default warn threshold
    noise_rate: float  # the null quantile shrinks as n_eff ** -noise_rate
    compute: Callable[[Summary, Summary, int], DriftScore]
    description: str


# ---------------------------------------------------------------- the statistics


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index: sum (q - p) ln(q / p), empty bins given PSI_EPS."""
    p = np.clip(_proportions(np.asarray(ref_counts, dtype=np.float64)), PSI_EPS, None)
    q = np.clip(_proportions(np.asarray(cur_counts, dtype=np.float64)), PSI_EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance, natural log (as scipy.spatial.distance.jensenshannon): in [0, sqrt(ln 2)]."""
    p = _proportions(np.asarray(ref_counts, dtype=np.float64))
    q = _proportions(np.asarray(cur_counts, dtype=np.float64))
    m = (p + q) / 2.0
    divergence = 0.5 * _kl_terms(p, m) + 0.5 * _kl_terms(q, m)
    return float(np.sqrt(max(divergence, 0.0)))


def _kl_terms(p: np.ndarray, m: np.ndarray) -> float:
    """sum p ln(p / m), with 0 ln 0 = 0 (m > 0 wherever p > 0)."""
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log(p[nonzero] / m[nonzero])))


def wasserstein_sorted(ref: np.ndarray, cur: np.ndarray, ref_prefix: np.ndarray | None = None, block: int = 1 << 20) -> float:
    """Exact 1-Wasserstein distance of two sorted samples: the integral of |Q_ref(u) - Q_cur(u)| du.

    The current's quantile function is the constant c_j on each level
    interval (j/m, (j+1)/m]. On it, Q_ref lies below c_j up to the level
    u* = F_ref(c_j) and above after, so the integral is
    c_j (2u* - u0 - u1) + I(u0) + I(u1) - 2 I(u*), with I(u) the integral
    of Q_ref from 0 to u, read from the reference's prefix sums. Cost
    O(m log n), and the intervals are summed in blocks, so memory stays a
    few megabytes whatever the sizes: a window of a few thousand rows against
    a reference of millions touches only its own m values.
    """
    n, m = len(ref), len(cur)
    if n == 0 or m == 0:
        return float("nan")
    if n == m:  # both quantile functions step at the same levels
        return float(np.abs(ref - cur).mean())
    if m > n:  # the distance is symmetric: walk the shorter side's levels, the longer's prefix sums in one cumsum
        return wasserstein_sorted(cur, ref, None, block)  # (a sketch's 10,000 points against a log of millions)
    prefix = ref_prefix if ref_prefix is not None else np.concatenate(([0.0], np.cumsum(ref, dtype=np.float64)))

    def integral(u: np.ndarray) -> np.ndarray:
        k = np.minimum((u * n).astype(np.int64), n - 1)
        return prefix[k] / n + (u - k / n) * ref[k]

    total = 0.0
    for start in range(0, m, block):
        c = cur[start : start + block]
        j = np.arange(start, start + len(c), dtype=np.float64)
        u0, u1 = j / m, (j + 1) / m
        u_star = np.clip(np.searchsorted(ref, c, side="right") / n, u0, u1)
        total += float(np.sum(c * (2 * u_star - u0 - u1) + integral(u0) + integral(u1) - 2 * integral(u_star)))
    return max(total, 0.0)


KS_EXACT_MAX_ROWS = 10_000  # scipy.stats.ks_2samp's 'auto': the exact p-value up to this many rows a side


def ks_sorted(ref: np.ndarray, cur: np.ndarray, n: int | None = None, m: int | None = None) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value, as scipy.stats.ks_2samp's default.

    Exact up to 10,000 rows a side (scipy's own routine on the values), the
    asymptotic distribution above. ``n`` and ``m`` are the rows the samples
    stand for when they are a sketch's points (then always above 10,000).
    """
    from scipy.stats import kstwo

    n = len(ref) if n is None else n
    m = len(cur) if m is None else m
    if max(n, m) <= KS_EXACT_MAX_ROWS and n == len(ref) and m == len(cur):
        import warnings

        from scipy.stats import ks_2samp

        with warnings.catch_warnings():  # scipy falls back to 'asymp' itself when exact fails, and says so
            warnings.simplefilter("ignore", RuntimeWarning)
            result = ks_2samp(ref, cur)
        return float(result.statistic), float(np.clip(result.pvalue, 0.0, 1.0))
    # both ECDFs at every observed value; the largest gap is at one of them (ties included)
    d1 = np.abs(np.searchsorted(cur, ref, side="right") / len(cur) - np.searchsorted(ref, ref, side="right") / len(ref)).max()
    d2 = np.abs(np.searchsorted(ref, cur, side="right") / len(ref) - np.searchsorted(cur, cur, side="right") / len(cur)).max()
    d = float(max(d1, d2))
    en = max(1.0, float(np.round(n * m / (n + m))))
    return d, float(np.clip(kstwo.sf(d, en), 0.0, 1.0))


def chi2_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-square test of homogeneity on the 2 x K table (no continuity correction)."""
    from scipy.stats import chi2_contingency

    table = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def missing_rate_test(ref_missing: int, ref_total: int, cur_missing: int, cur_total: int) -> tuple[float, float]:
    """The change of the missing rate (current minus reference) and its two-sided p-value.

    The 2 x 2 table (missing, present) x (reference, current): Pearson's
    chi-square without continuity correction (the pooled two-proportion z
    test), or Fisher's exact test where an expected count is below 5.
    """
    if ref_total == 0 or cur_total == 0:
        return float("nan"), 1.0
    change = cur_missing / cur_total - ref_missing / ref_total
    table = np.array([[ref_missing, ref_total - ref_missing], [cur_missing, cur_total - cur_missing]], dtype=np.float64)
    rows, columns, total = table.sum(axis=1), table.sum(axis=0), table.sum()
    if (columns == 0).any():  # nothing missing (or nothing present) on either side
        return change, 1.0
    expected = np.outer(rows, columns) / total
    if expected.min() < 5:
        from scipy.stats import fisher_exact  # rare: scipy.stats costs a drift run half a second to import

        return change, float(fisher_exact(table.astype(np.int64)).pvalue)
    # Pearson's chi-square of a 2 x 2 table has one degree of freedom: its survival function is erfc(sqrt(x / 2))
    statistic = float(total * (table[0, 0] * table[1, 1] - table[0, 1] * table[1, 0]) ** 2 / (rows.prod() * columns.prod()))
    return change, math.erfc(math.sqrt(statistic / 2.0))


# ---------------------------------------------------------------- per summary kind


def _binned(ref: Summary, cur: Summary, bins: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary):
        edges = ref.quantile_edges(bins)
        return ref.bin_counts(edges), cur.bin_counts(edges)
    assert isinstance(ref, CategoricalSummary) and isinstance(cur, CategoricalSummary)
    r, c, _ = aligned_counts(ref, cur)
    return r, c


def _psi(ref: Summary, cur: Summary, bins: int) -> DriftScore:
    score = psi_from_counts(*_binned(ref, cur, bins))
    return DriftScore(score, score)


def _js(ref: Summary, cur: Summary, bins: int) -> DriftScore:
    score = js_distance_from_counts(*_binned(ref, cur, bins))
    return DriftScore(score, score)


def _chi2(ref: Summary, cur: Summary, bins: int) -> DriftScore:
    statistic, p = chi2_from_counts(*_binned(ref, cur, bins))
    return DriftScore(p, statistic, p)


def _wasserstein(ref: Summary, cur: Summary, bins: int) -> DriftScore:
    assert isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary)
    distance = wasserstein_sorted(ref.sorted_values, cur.sorted_values, ref.prefix_sums)
    scale = ref.std()
    if not scale > 0:  # a constant reference: fall back to the current's spread
        scale = cur.std()
    score = (0.0 if distance == 0 else float("inf")) if not scale > 0 else distance / scale
    return DriftScore(score, distance)


def _ks(ref: Summary, cur: Summary, bins: int) -> DriftScore:
    assert isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary)
    d, p = ks_sorted(ref.sorted_values, cur.sorted_values, ref.count, cur.count)
    return DriftScore(p, d, p)


NUMERIC = frozenset({"numeric"})
CATEGORICAL = frozenset({"categorical"})
BOTH = NUMERIC | CATEGORICAL

METHODS: tuple[Method, ...] = (
    Method("psi", BOTH, False, 0.25, 0.1, 1.0, _psi, "population stability index on reference-quantile bins"),
    Method("jensen_shannon", BOTH, False, 0.1, None, 0.5, _js, "Jensen-Shannon distance (natural log)"),
    Method("wasserstein", NUMERIC, False, 0.1, None, 0.5, _wasserstein, "1-Wasserstein / reference std"),
    Method("ks", NUMERIC, True, 0.05, None, 0.5, _ks, "two-sample Kolmogorov-Smirnov test"),
    Method("chi2", CATEGORICAL, True, 0.05, None, 0.5, _chi2, "chi-square test of homogeneity"),
)
METHOD_BY_NAME = {m.name: m for m in METHODS}


def breaches(method: Method, score: float, threshold: float) -> bool:
    return score < threshold if method.is_test else score > threshold


# ---------------------------------------------------------------- noise


def resample_like(ref: Summary, n: int, rng: np.random.Generator) -> Summary:
    """A sample of n rows drawn from the reference: what an unchanged log of n rows looks like."""
    if isinstance(ref, NumericSummary):
        values = ref.sorted_values[rng.integers(0, len(ref.sorted_values), n)]
        values.sort()
        return NumericSummary(values, 0)
    counts = rng.multinomial(n, _proportions(ref.counts.astype(np.float64)))
    return CategoricalSummary(ref.categories, counts, 0)


def tail_quantile(scores: np.ndarray, quantile: float) -> float:
    """The ``quantile`` of a score's null distribution from a few hundred draws of it.

    Up to the 90th percentile, the draws' own quantile. Beyond, where a few
    hundred draws hold too few points, the tail is taken as exponential
    through the median and the 90th percentile: x(q) = x50 + (x90 - x50)
    ln(0.5 / (1 - q)) / ln 5. Distances between two samples have tails at
    most that heavy (Gaussian-like for Wasserstein and KS, chi-square-like
    for PSI and Jensen-Shannon), so the line errs on the high side: towards
    'inconclusive', not towards a false alarm.
    """
    if quantile <= 0.9:
        return float(np.quantile(scores, quantile))
    x50, x90 = np.quantile(scores, [0.5, 0.9])
    return float(x50 + (x90 - x50) * np.log(0.5 / (1.0 - quantile)) / np.log(5.0))


def null_quantile(method: Method, ref: Summary, n: int, quantile: float, bins: int, seed: int = 0) -> float:
    """The score a comparison of n unchanged rows with this reference exceeds with probability 1 - quantile.

    Both sides are samples, so both are drawn: 200 times, a reference of
    min(N, 2000) rows and a current of min(n, 2000) rows, each from the
    reference (the same distribution: no drift), are scored against each
    other; the quantile comes from those scores (``tail_quantile``) and is
    scaled from the drawn sizes' effective size to the real comparison's,
    n_eff = n N / (n + N), at the method's rate (1 for PSI, 1/2 for
    distances whose square is a divergence or that shrink as 1/sqrt(n)).
    """
    if ref.count == 0 or n <= 0:
        return float("inf")
    full_count = ref.count
    n0, big_n0 = min(n, NOISE_MAX_ROWS), min(full_count, NOISE_MAX_ROWS)
    scores = null_scores(method, ref, n0, big_n0, bins, seed)
    scores = scores[np.isfinite(scores)]
    if len(scores) == 0:
        return float("inf")
    drawn_eff = n0 * big_n0 / (n0 + big_n0)
    n_eff = n * full_count / (n + full_count)
    return tail_quantile(scores, quantile) * (drawn_eff / n_eff) ** method.noise_rate


def null_scores(method: Method, ref: Summary, n0: int, big_n0: int, bins: int, seed: int = 0) -> np.ndarray:
    """The NOISE_RESAMPLES scores of a drawn reference of big_n0 rows against a drawn current of n0 rows.

    They depend on the sizes only through n0 and big_n0 (at most NOISE_MAX_ROWS each), so every current of 2,000
    rows or more (each window of a run, each run against a profile) shares one set: kept on the summary (its
    ``null_draws``, filled by a profile when it is built, or here on first use) and drawn once.
    """
    key = (method.name, n0, big_n0, bins, seed)
    kept = ref.null_draws
    if key in kept:
        return kept[key]
    drawn = ref
    if isinstance(ref, NumericSummary) and len(ref.sorted_values) > NOISE_REFERENCE_POINTS:
        # the reference's quantiles at 10,000 levels stand for it here: the noise is an estimate,
        # and drawing from 10,000 points instead of millions makes it cheap
        picks = np.linspace(0, len(ref.sorted_values) - 1, NOISE_REFERENCE_POINTS).round().astype(np.int64)
        drawn = NumericSummary(ref.sorted_values[picks], 0)
    rng = np.random.default_rng(seed)
    kept[key] = np.array(
        [
            method.compute(resample_like(drawn, big_n0, rng), resample_like(drawn, n0, rng), bins).score
            for _ in range(NOISE_RESAMPLES)
        ]
    )
    return kept[key]


def comparison_false_alarm_rate(run_rate: float, feature_rate: float | None, comparisons: int) -> float:
    """The false-alarm rate each comparison is held to.

    An on-call engineer is paged per run, not per feature: with k distance
    comparisons in a run, each at run_rate / k (Bonferroni), the share of
    unchanged runs that flag anything stays at most run_rate whatever k. A
    ``feature_rate`` set in the policy overrides it.
    """
    if feature_rate is not None:
        return feature_rate
    return run_rate / max(1, comparisons)


# ---------------------------------------------------------------- multiple testing


def adjust_p_values(p_values: np.ndarray, correction: str) -> np.ndarray:
    """Benjamini-Hochberg (false discovery rate), Bonferroni (family-wise) or none."""
    p = np.asarray(p_values, dtype=np.float64)
    k = len(p)
    if k == 0 or correction == "none":
        return p.copy()
    if correction == "bonferroni":
        return np.minimum(p * k, 1.0)
    order = np.argsort(p)
    ranked = p[order] * k / np.arange(1, k + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(k)
    out[order] = np.minimum(adjusted, 1.0)
    return out
