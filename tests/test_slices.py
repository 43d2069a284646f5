"""The slice finder: its statistics against scipy and a hand-worked example, its power on planted slices of a
real scikit-learn dataset, and its false discoveries on clean data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn.datasets import load_digits
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import cross_val_predict

from mlrel_cli.stats.drift import adjust_p_values
from mlrel_cli.stats.regressions import RegressionSums, judge_regressions, regression_sums, search_regressions
from mlrel_cli.stats.slices import (
    Budget,
    Config,
    SliceSums,
    add_pair_sums,
    bin_categories,
    bin_numeric,
    interval,
    judge_sums,
    numeric_edges,
    search,
    single_sums,
    welch_from_sums,
)


def _sums(values: np.ndarray) -> np.ndarray:
    return np.array([[len(values)], [values.sum()], [(values**2).sum()], [0.0]])


def test_welch_by_hand() -> None:
    # inside 1, 2, 3: mean 2, variance 1; outside 0, 0, 1, 1: mean 0.5, variance 1/3
    # se = sqrt(1/3 + 1/12) = sqrt(5/12); t = 1.5 / se = 2.3238; df = (5/12)² / ((1/3)²/2 + (1/12)²/3) = 3
    w = welch_from_sums(_sums(np.array([1.0, 2, 3])), _sums(np.array([0.0, 0, 1, 1])))
    assert w.delta[0] == pytest.approx(1.5)
    assert w.se[0] == pytest.approx(np.sqrt(5 / 12))
    assert w.df[0] == pytest.approx(3.0)
    assert w.p_value[0] == pytest.approx(stats.t.sf(1.5 / np.sqrt(5 / 12), 3))


@pytest.mark.parametrize("seed", range(5))
def test_welch_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.exponential(1.0 + 0.2 * seed, size=rng.integers(20, 300))
    b = rng.exponential(1.0, size=rng.integers(20, 3000))
    w = welch_from_sums(_sums(a), _sums(b))
    ref = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert w.p_value[0] == pytest.approx(ref.pvalue, rel=1e-9)
    assert w.delta[0] / w.se[0] == pytest.approx(ref.statistic, rel=1e-9)
    assert w.df[0] == pytest.approx(ref.df, rel=1e-9)
    margin = 0.3 * np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    shifted = stats.ttest_ind(a, b + margin, equal_var=False, alternative="greater")
    assert welch_from_sums(_sums(a), _sums(b), margin=0.3).p_value[0] == pytest.approx(shifted.pvalue, rel=1e-9)
    low, high = interval(w, 0.95)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (low[0], high[0]) == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(3).uniform(size=500) ** 3
    np.testing.assert_allclose(adjust_p_values(p, "benjamini_hochberg"), stats.false_discovery_control(p), rtol=1e-12)


def _columns(rng: np.random.Generator, n: int, numeric: int = 3, categorical: int = 2) -> list[Any]:
    cols = []
    for k in range(numeric):
        x = rng.normal(size=n)
        cols.append(bin_numeric(f"x{k}", x, numeric_edges(x, 5)))
    for k in range(categorical):
        cols.append(bin_categories(f"c{k}", rng.integers(0, 6, size=n), [f"v{v}" for v in range(6)], 20))
    return cols


def test_reported_slice_statistics_are_scipy_on_the_rows() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    cols = _columns(rng, n)
    loss = rng.exponential(0.4, size=n)
    planted = (cols[0].codes == 4) & (cols[3].codes == cols[3].conditions.index(next(c for c in cols[3].conditions if c)))
    loss[planted] += 0.6
    found = search(cols, loss, None, Config())
    top = found.slices[0]
    assert {c.column for c in top.conditions} == {"x0", "c0"}
    inside = planted
    assert top.rows == int(inside.sum())
    # tested against a gap of min_effect: delta <= 0.2 * sqrt((var in + var out) / 2), the spread taken as known
    margin = 0.2 * np.sqrt((loss[inside].var(ddof=1) + loss[~inside].var(ddof=1)) / 2)
    ref = stats.ttest_ind(loss[inside], loss[~inside] + margin, equal_var=False, alternative="greater")
    assert top.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    assert top.inside == pytest.approx(loss[inside].mean())
    assert top.outside == pytest.approx(loss[~inside].mean())
    # the parent x0 >= q80 holds the planted rows too, but the pair explains it: only the pair is reported
    assert all(len(s.conditions) == 2 or s.conditions[0].column not in ("x0", "c0") for s in found.slices)
    assert top.adjusted_p >= top.p_value


def test_sums_merge_to_the_sums_of_the_whole() -> None:
    rng = np.random.default_rng(1)
    n = 5000
    cols = _columns(rng, n)
    codes = [c.codes for c in cols]
    sizes = tuple(len(c.conditions) for c in cols)
    loss = rng.exponential(size=n)
    pos = rng.random(n) < 0.3
    pairs = [(0, 3), (1, 2)]

    def part(rows: slice) -> SliceSums:
        sums = single_sums([c[rows] for c in codes], sizes, loss[rows], pos[rows])
        add_pair_sums(sums, [c[rows] for c in codes], loss[rows], pos[rows], pairs)
        return sums

    whole, merged = part(slice(None)), part(slice(0, 1234)).merge(part(slice(1234, None)))
    np.testing.assert_allclose(merged.total, whole.total)
    for a, b in zip(merged.singles, whole.singles, strict=True):
        np.testing.assert_allclose(a, b)
    for key in pairs:
        np.testing.assert_allclose(merged.pairs[key], whole.pairs[key])


def test_sums_merged_from_parts_find_the_same_slices() -> None:
    """As a cluster would: each part sums every pair, the parts merge, and the judging is the local search's."""
    rng = np.random.default_rng(8)
    n = 30_000
    cols = _columns(rng, n)
    loss = rng.exponential(0.4, size=n)
    loss[(cols[1].codes == 2) & (cols[4].codes == 1)] += 0.7
    pos = rng.random(n) < 0.4
    codes = [c.codes for c in cols]
    sizes = tuple(len(c.conditions) for c in cols)
    pairs = [(i, j) for i in range(len(cols)) for j in range(i + 1, len(cols))]
    merged = None
    for part in (slice(0, 7000), slice(7000, 19000), slice(19000, None)):
        sums = single_sums([c[part] for c in codes], sizes, loss[part], pos[part])
        add_pair_sums(sums, [c[part] for c in codes], loss[part], pos[part], pairs)
        merged = sums if merged is None else merged.merge(sums)
    assert merged is not None
    config = Config(min_positives=5)
    local = search(cols, loss, pos, config)
    cluster = judge_sums([c.conditions for c in cols], merged, config)
    assert local.slices and [s.conditions for s in cluster.slices] == [s.conditions for s in local.slices]
    assert [s.adjusted_p for s in cluster.slices] == pytest.approx([s.adjusted_p for s in local.slices], rel=1e-9)
    assert cluster.tried == local.tried


def test_budget_bounds_the_search_and_says_so() -> None:
    rng = np.random.default_rng(2)
    cols = _columns(rng, 3000, numeric=6, categorical=3)
    loss = rng.exponential(size=3000)
    found = search(cols, loss, None, Config(min_rows=20, budget=Budget(max_slices=200)))
    assert found.tried <= 200 and found.stopped_by == "max_slices" and found.pairs_searched < found.pairs_possible
    found = search(cols, loss, None, Config(min_rows=20, budget=Budget(seconds=0.0)))
    assert found.stopped_by == "seconds" and found.pairs_searched == 0
    assert search(cols, loss, None, Config(min_rows=20)).stopped_by is None


def test_min_rows_and_positives_limit_the_slices_tried() -> None:
    rng = np.random.default_rng(4)
    cols = _columns(rng, 2000, numeric=2, categorical=0)
    loss = rng.exponential(size=2000)
    few_positives = np.zeros(2000, dtype=bool)
    assert search(cols, loss, few_positives, Config(min_rows=50, min_positives=1)).tried == 0
    assert search(cols, loss, None, Config(min_rows=5000)).tried == 0


# ---------------------------------------------------------------- power and false discoveries on real data


@pytest.fixture(scope="module")
def digits() -> tuple[list[Any], np.ndarray, np.ndarray]:
    """The digits dataset, a ridge classifier's out-of-fold predictions, and its 16 most varied pixels binned."""
    X, y = load_digits(return_X_y=True)
    predicted = cross_val_predict(RidgeClassifier(), X, y, cv=5)
    columns = [bin_numeric(f"px{k}", X[:, k], numeric_edges(X[:, k], 5)) for k in np.argsort(-X.var(0))[:16]]
    return columns, y, predicted


def test_a_planted_two_condition_slice_is_found_first(digits: tuple[list[Any], np.ndarray, np.ndarray]) -> None:
    """30 seeded plants of an undeclared two-condition slice of 3-5 % of the rows (54-90 of 1,797), wrong half the
    time: found first in at least 26 (measured: 27; the misses report nothing), and never another slice first."""
    columns, y, predicted = digits
    first = wrong_first = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        while True:
            a, b = rng.choice(len(columns), 2, replace=False)
            ca, cb = (int(rng.integers(0, len(columns[i].conditions) - 1)) for i in (a, b))
            inside = (columns[a].codes == ca) & (columns[b].codes == cb)
            if 0.03 <= inside.mean() <= 0.05:
                break
        wrong = predicted.copy()
        broken = inside & (rng.random(len(y)) < 0.5)
        wrong[broken] = (y[broken] + 1) % 10
        found = search(columns, (wrong != y).astype(np.float64), None, Config(min_rows=30))
        if found.slices:
            planted = {str(columns[a].conditions[ca]), str(columns[b].conditions[cb])}
            hit = {str(c) for c in found.slices[0].conditions} == planted
            first += hit
            wrong_first += not hit
    assert first >= 26 and wrong_first == 0


def test_clean_data_reports_a_slice_in_at_most_5_percent_of_runs(digits: tuple[list[Any], np.ndarray, np.ndarray]) -> None:
    """A/A: the model's own errors shuffled over the rows (no slice differs but by chance), 100 seeded runs."""
    columns, y, predicted = digits
    errors = (predicted != y).astype(np.float64)
    shuffled = (np.random.default_rng(seed).permutation(errors) for seed in range(100))
    runs = [bool(search(columns, loss, None, Config(min_rows=30)).slices) for loss in shuffled]
    assert sum(runs) <= 5


def test_clean_log_loss_reports_a_slice_in_at_most_5_percent_of_runs() -> None:
    """Calibrated scores whose loss does not depend on the features: a skewed per-row loss, 100 seeded runs."""
    hits = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        n = 4000
        p = rng.uniform(0.02, 0.98, n)
        y = rng.random(n) < p
        loss = -np.log(np.where(y, p, 1 - p))
        hits += bool(search(_columns(rng, n), loss, y, Config(min_rows=100, min_positives=10, min_effect=0.0)).slices)
    assert hits <= 5


# ---------------------------------------------------------------- a candidate against its baseline


def test_paired_regression_is_the_one_sample_t_on_the_differences() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    cols = _columns(rng, n)
    base = rng.exponential(0.5, n)
    cand = 0.9 * base + rng.normal(0, 0.05, n)  # better overall
    inside = (cols[0].codes == 4) & (cols[3].codes == 0)
    cand[inside] += 0.5
    found = search_regressions(cols, base, Config(), cand)
    top = found.slices[0]
    assert {c.column for c in top.conditions} == {"x0", "c0"} and top.rows == int(inside.sum())
    d = (cand - base)[inside]
    margin = 0.2 * np.sqrt(d.var(ddof=1) / 2)
    ref = stats.ttest_1samp(d - margin, 0.0, alternative="greater")
    assert top.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    assert (top.inside, top.outside) == pytest.approx((cand[inside].mean(), base[inside].mean()))
    # the parent c0 == v? carries the regression only through the pair: it is not reported on its own
    assert all(len(s.conditions) == 2 for s in found.slices)


def test_unpaired_regression_is_welch_between_the_sides_in_the_slice() -> None:
    rng = np.random.default_rng(12)
    n = 20_000
    base_x, cand_x = rng.normal(size=n), rng.normal(size=n)
    edges = numeric_edges(base_x, 5)
    base_cols = [bin_numeric("x", base_x, edges)]
    cand_codes = [bin_numeric("x", cand_x, edges).codes]
    base = rng.exponential(0.5, n)
    cand = rng.exponential(0.45, n)
    worse = cand_codes[0] == 0
    cand[worse] += 0.4
    top = search_regressions(base_cols, base, Config(), cand, cand_codes).slices[0]
    assert top.conditions[0].op == "<" and top.rows == int(worse.sum())
    a, b = cand[worse], base[base_cols[0].codes == 0]
    margin = 0.2 * np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    ref = stats.ttest_ind(a, b + margin, equal_var=False, alternative="greater")
    assert top.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)


def test_equal_models_report_no_regression_in_95_percent_of_runs() -> None:
    hits = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        n = 4000
        base = rng.exponential(0.5, n)
        cand = base + rng.normal(0, 0.1, n)  # paired, no slice differs but by chance
        hits += bool(search_regressions(_columns(rng, n), base, Config(min_rows=100, min_effect=0.0), cand).slices)
    assert hits <= 5


def test_regression_sums_merged_from_parts_judge_as_the_rows() -> None:
    """Compare's two ways to the same sums: from the rows (a pair summed when the search reaches it) and merged from
    row groups that each summed every pair (a cluster): the same slices, tests, budget and coverage."""
    rng = np.random.default_rng(21)
    n = 24_000
    cols = _columns(rng, n)
    cand_cols = _columns(rng, n)
    cand_codes = [c.codes for c in cand_cols]
    base = rng.exponential(0.5, n)
    cand = rng.exponential(0.5, n)
    cand[(cand_codes[1] == 2) & (cand_codes[4] == 1)] += 0.8
    sizes = tuple(len(c.conditions) for c in cols)
    pairs = [(i, j) for i in range(len(cols)) for j in range(i + 1, len(cols))]

    def merged_sums(codes: list[np.ndarray], loss: np.ndarray) -> SliceSums:
        parts = []
        for part in (slice(0, 5000), slice(5000, 17000), slice(17000, None)):
            sums = single_sums([c[part] for c in codes], sizes, loss[part], None)
            add_pair_sums(sums, [c[part] for c in codes], loss[part], None, pairs)
            parts.append(sums)
        return parts[0].merge(parts[1]).merge(parts[2])

    merged = [merged_sums(cand_codes, cand), merged_sums([c.codes for c in cols], base)]
    conditions = [c.conditions for c in cols]
    for config in (Config(), Config(budget=Budget(max_slices=60))):
        rows = search_regressions(cols, base, config, cand, cand_codes)
        cluster = judge_regressions(RegressionSums(conditions, merged, False), config)
        assert rows.slices and [(s.conditions, s.rows) for s in cluster.slices] == [(s.conditions, s.rows) for s in rows.slices]
        assert [s.p_value for s in cluster.slices] == pytest.approx([s.p_value for s in rows.slices], rel=1e-9)
        assert (cluster.tried, cluster.pairs_searched, cluster.pairs_possible, cluster.stopped_by) == (
            rows.tried,
            rows.pairs_searched,
            rows.pairs_possible,
            rows.stopped_by,
        )
    assert rows.stopped_by == "max_slices" and rows.pairs_searched < rows.pairs_possible
    # the time budget stops only a search that sums its pairs as it goes; sums merged beforehand are judged whole
    timed = Config(budget=Budget(seconds=0.0))
    lazy = judge_regressions(regression_sums(cols, base, cand, cand_codes), timed)
    assert lazy.stopped_by == "seconds" and lazy.pairs_searched == 0
    assert judge_regressions(RegressionSums(conditions, merged, False), timed).stopped_by is None
