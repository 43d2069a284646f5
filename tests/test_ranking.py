"""Ranking metrics against scikit-learn and hand-worked examples; proxy metrics by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score

from mlrel_cli.stats.ranking import (
    ctr_at_k_per_query,
    group_queries,
    ndcg_per_query,
    no_engagement_per_query,
    proxy_from_sums,
    proxy_standard_error,
    proxy_sums,
    proxy_value,
    ranking_metrics,
    reciprocal_rank_per_query,
)


def _queries(rows):
    q = np.array([r[0] for r in rows])
    pos = np.array([r[1] for r in rows])
    gain = np.array([r[2] for r in rows], dtype=float)
    return group_queries(q, pos, gain)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [3, 10])
def test_ndcg_matches_sklearn(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n_queries, per = 30, 12
    gains = rng.integers(0, 4, size=(n_queries, per)).astype(float)
    gains[gains.sum(axis=1) == 0, 0] = 1.0  # sklearn scores an all-zero query 0; we leave those out (tested below)
    q = np.repeat(np.arange(n_queries), per)
    pos = np.tile(np.arange(1, per + 1), n_queries)
    order = rng.permutation(len(q))  # rows in any order
    ours = ndcg_per_query(group_queries(q[order], pos[order], gains.ravel()[order]), k)
    # the shown order is the ranking: scores decreasing with position
    scores = np.tile(np.arange(per, 0, -1), (n_queries, 1)).astype(float)
    expected = [ndcg_score(gains[i : i + 1], scores[i : i + 1], k=k) for i in range(n_queries)]
    assert ours == pytest.approx(expected)


def test_hand_worked_query() -> None:
    # one query, positions 1..4, clicks at 2 and 4
    queries = _queries([("a", 1, 0), ("a", 2, 1), ("a", 3, 0), ("a", 4, 1)])
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    ideal = 1 / np.log2(2) + 1 / np.log2(3)
    assert ndcg_per_query(queries, 10)[0] == pytest.approx(dcg / ideal)
    assert reciprocal_rank_per_query(queries)[0] == pytest.approx(0.5)
    assert ctr_at_k_per_query(queries, 3)[0] == pytest.approx(1 / 3)


def test_query_without_engagement() -> None:
    queries = _queries([("a", 1, 1), ("a", 2, 0), ("b", 1, 0), ("b", 2, 0)])
    assert np.isnan(ndcg_per_query(queries, 10)[1])  # no ideal ranking: left out of the mean
    assert reciprocal_rank_per_query(queries).tolist() == [1.0, 0.0]
    assert no_engagement_per_query(queries).tolist() == [0.0, 1.0]
    metrics = ranking_metrics(queries, 10)
    assert metrics["ndcg@10"] == pytest.approx(1.0) and metrics["mrr"] == pytest.approx(0.5)
    assert metrics["no_engagement"] == pytest.approx(0.5)


def test_positions_need_not_be_contiguous() -> None:
    # positions 3, 7, 9 are ranks 1, 2, 3
    queries = _queries([("a", 9, 0), ("a", 3, 0), ("a", 7, 1)])
    assert reciprocal_rank_per_query(queries)[0] == pytest.approx(0.5)


def test_proxy_metrics_by_hand() -> None:
    revenue = np.array([10.0, 0.0, 5.0, 0.0])
    orders = np.array([1.0, 0.0, 1.0, 0.0])
    sessions = np.array([1.0, 1.0, 1.0, 1.0])
    assert proxy_value("mean", revenue, None, None) == pytest.approx(3.75)
    assert proxy_value("rate", orders, None, None) == pytest.approx(0.5)
    assert proxy_value("ratio", None, orders, sessions) == pytest.approx(0.5)
    q = np.array(["a", "a", "a", "b"])  # per query: a = 2/3, b = 0/1 -> mean 1/3
    assert proxy_value("rate", orders, None, None, q) == pytest.approx(1 / 3)
    assert np.isnan(proxy_value("ratio", None, orders, np.zeros(4)))


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["mean", "rate", "ratio"]),
    values=st.lists(st.one_of(st.floats(-100, 100), st.just(float("nan"))), min_size=0, max_size=40),
    cut=st.integers(0, 40),
)
def test_proxy_sums_add_up_to_the_direct_value_and_error(kind, values, cut) -> None:
    """What a cluster adds up (per-request sums of two partitions) gives proxy_value and proxy_standard_error."""
    a = np.array(values, dtype=float)
    b = np.roll(a, 1) + 1.0  # a denominator for ratios
    column, num, den = (a, None, None) if kind != "ratio" else (None, a, b)

    def part(sl: slice) -> dict:
        return proxy_sums(kind, None if column is None else column[sl], None if num is None else num[sl],
                          None if den is None else den[sl])  # fmt: skip

    left, right = part(slice(0, cut)), part(slice(cut, None))
    merged = {key: left[key] + right[key] for key in left}
    value, se = proxy_from_sums(kind, merged)
    expected_value = proxy_value(kind, column, num, den)
    expected_se = proxy_standard_error(kind, column, num, den)
    assert np.isnan(value) == np.isnan(expected_value) and (
        np.isnan(value) or value == pytest.approx(expected_value, rel=1e-9, abs=1e-12)
    )
    assert np.isfinite(se) == np.isfinite(expected_se)
    if np.isfinite(expected_se):
        assert se == pytest.approx(expected_se, rel=1e-6, abs=1e-9)
