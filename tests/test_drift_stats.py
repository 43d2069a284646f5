"""Drift statistics against scipy and hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlrel_cli.stats.drift import (
    METHOD_BY_NAME,
    adjust_p_values,
    chi2_from_counts,
    js_distance_from_counts,
    ks_sorted,
    null_quantile,
    psi_from_counts,
    wasserstein_sorted,
)
from mlrel_cli.stats.summaries import CategoricalSummary, NumericSummary

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def test_psi_by_hand() -> None:
    # p = (0.5, 0.5), q = (0.25, 0.75):
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 ln 2 + 0.25 ln 1.5 = 0.27465...
    assert psi_from_counts(np.array([50, 50]), np.array([25, 75])) == pytest.approx(0.25 * np.log(2) + 0.25 * np.log(1.5))


def test_psi_empty_bin_uses_epsilon() -> None:
    # a category absent from the reference: p = 1e-4 there, not 0, so PSI stays finite and large
    value = psi_from_counts(np.array([100, 0]), np.array([90, 10]))
    expected = (0.9 - 1.0) * np.log(0.9 / 1.0) + (0.1 - 1e-4) * np.log(0.1 / 1e-4)
    assert value == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(4))
def test_js_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 50, 12), rng.integers(0, 50, 12)
    a[3] = 0
    assert js_distance_from_counts(a, b) == pytest.approx(jensenshannon(a, b))


@settings(max_examples=80, deadline=None)
@given(st.lists(finite, min_size=1, max_size=40), st.lists(finite, min_size=1, max_size=40))
def test_wasserstein_matches_scipy(a: list[float], b: list[float]) -> None:
    x, y = np.sort(a), np.sort(b)
    assert wasserstein_sorted(x, y) == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-9, abs=1e-6)


@settings(max_examples=80, deadline=None)
@given(st.lists(finite, min_size=1, max_size=40), st.lists(finite, min_size=1, max_size=40))
def test_ks_matches_scipy(a: list[float], b: list[float]) -> None:
    x, y = np.sort(a), np.sort(b)
    expected = stats.ks_2samp(x, y)  # the default users check against: exact at these sizes
    d, p = ks_sorted(x, y)
    assert d == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue, abs=1e-9)


def test_ks_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    x, y = np.sort(rng.integers(0, 5, 300).astype(float)), np.sort(rng.integers(0, 6, 200).astype(float))
    d, p = ks_sorted(x, y)
    expected = stats.ks_2samp(x, y)
    assert d == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)


@pytest.mark.parametrize(("n", "m"), [(569, 569), (9_000, 400), (10_000, 10_000), (12_000, 3_000)])
def test_ks_p_value_is_scipys_default_exact_below_10k_asymptotic_above(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    x, y = np.sort(rng.normal(0, 1, n)), np.sort(rng.normal(0.08, 1, m))
    d, p = ks_sorted(x, y)
    expected = stats.ks_2samp(x, y)  # method='auto'
    assert d == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue, rel=1e-9)
    if max(n, m) <= 10_000:  # where the asymptotic formula would be off
        assert expected.pvalue != pytest.approx(stats.ks_2samp(x, y, method="asymp").pvalue, rel=1e-3)


def test_ks_on_a_sketch_uses_the_rows_it_stands_for() -> None:
    rng = np.random.default_rng(3)
    x, y = np.sort(rng.normal(0, 1, 400_000)), np.sort(rng.normal(0.01, 1, 300_000))
    picks = lambda v: v[np.linspace(0, len(v) - 1, 10_000).round().astype(int)]  # noqa: E731
    d, p = ks_sorted(picks(x), picks(y), len(x), len(y))
    expected = stats.ks_2samp(x, y)
    assert d == pytest.approx(expected.statistic, abs=2e-4) and p == pytest.approx(expected.pvalue, rel=0.5)


def test_chi2_matches_scipy() -> None:
    ref, cur = np.array([120, 80, 40, 0]), np.array([100, 90, 30, 5])
    statistic, p = chi2_from_counts(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert statistic == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)


def test_normalised_wasserstein_of_a_shift_is_the_shift_in_sds() -> None:
    rng = np.random.default_rng(0)
    ref = NumericSummary.from_values(rng.normal(0, 2, 200_000))
    cur = NumericSummary.from_values(rng.normal(0.4, 2, 200_000))  # 0.2 sd
    assert METHOD_BY_NAME["wasserstein"].compute(ref, cur, 10).score == pytest.approx(0.2, abs=0.01)


def test_numeric_bins_are_reference_deciles() -> None:
    ref = NumericSummary.from_values(np.arange(1000, dtype=float))
    assert list(ref.bin_counts(ref.quantile_edges(10))) == [101, 100, 100, 100, 100, 100, 100, 100, 100, 99]


def test_summaries_merge_like_the_whole() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=1000)
    x[::17] = np.nan
    whole = NumericSummary.from_values(x)
    merged = NumericSummary.from_values(x[:300]).merge(NumericSummary.from_values(x[300:]))
    assert np.array_equal(whole.sorted_values, merged.sorted_values) and whole.missing == merged.missing
    a = CategoricalSummary.from_counts(["x", "y"], np.array([3, 4]), 1)
    b = CategoricalSummary.from_counts(["y", "z"], np.array([1, 2]), 0)
    assert a.merge(b).as_dict() == {"x": 3, "y": 5, "z": 2} and a.merge(b).missing == 1


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.002, 0.2])
    assert np.allclose(adjust_p_values(p, "benjamini_hochberg"), stats.false_discovery_control(p, method="bh"))
    assert np.allclose(adjust_p_values(p, "bonferroni"), np.minimum(p * 6, 1))


def test_null_quantile_shrinks_with_sample_size() -> None:
    ref = NumericSummary.from_values(np.random.default_rng(2).normal(size=50_000))
    method = METHOD_BY_NAME["wasserstein"]
    small = null_quantile(method, ref, 100, 0.99, 10)
    large = null_quantile(method, ref, 10_000, 0.99, 10)
    assert small > large > 0
    # at 100 rows the 99th percentile of an unchanged sample sits near 0.2 sd: the 0.1 threshold is noise
    assert small > 0.1


@pytest.mark.parametrize(("n", "m"), [(5000, 100), (20_000, 37), (300, 299), (1000, 1000)])
def test_wasserstein_paths_match_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    ref, cur = np.sort(rng.lognormal(0, 1, n)), np.sort(rng.lognormal(0.3, 1.2, m))
    assert wasserstein_sorted(ref, cur) == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-9)


def test_wasserstein_in_blocks_is_the_same() -> None:
    rng = np.random.default_rng(11)
    ref, cur = np.sort(rng.normal(0, 1, 500)), np.sort(rng.normal(0.5, 2, 333))
    assert wasserstein_sorted(ref, cur, block=7) == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-9)
