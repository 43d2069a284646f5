"""The quantile sketch and the validate facts merge to what one pass over all the rows gives."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlrel_cli.facts.columns import NumericFacts, PredictionFacts, TimeFacts, WindowCounts, category_counts
from mlrel_cli.stats.sketch import QuantileSketch


def _sketch_of(parts: list[np.ndarray], size: int) -> QuantileSketch:
    """Partitions sketched one by one and merged in a tree, as the Dask engine does."""
    layer = [QuantileSketch.from_sorted(np.sort(p), size=size) for p in parts]
    while len(layer) > 1:
        merged = [layer[i].merge(layer[i + 1], size=size) for i in range(0, len(layer) - 1, 2)]
        layer = merged + ([layer[-1]] if len(layer) % 2 else [])
    return layer[0]


def _rank_error(sketch: QuantileSketch, values: np.ndarray) -> float:
    """Largest distance, in rank, between a sketch point's nominal rank and its true rank range."""
    ordered = np.sort(values)
    n, m = len(ordered), len(sketch.points)
    nominal = (np.arange(m) + 0.5) / m
    below = np.searchsorted(ordered, sketch.points, side="left") / n
    at_or_below = np.searchsorted(ordered, sketch.points, side="right") / n
    return float(np.max(np.maximum(below - nominal, nominal - at_or_below).clip(min=0)))


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 3_000), min_size=1, max_size=12),
    seed=st.integers(0, 2**32 - 1),
    heavy_ties=st.booleans(),
)
def test_sketch_rank_error_within_the_documented_bound(sizes, seed, heavy_ties) -> None:
    rng = np.random.default_rng(seed)
    parts = [np.round(rng.normal(0, 1, n), 1) if heavy_ties else rng.lognormal(0, 1, n) for n in sizes]
    size = 200
    sketch = _sketch_of(parts, size)
    everything = np.concatenate(parts)
    depth = int(np.ceil(np.log2(len(parts)))) + 1
    assert sketch.rows == len(everything)
    assert sketch.total == pytest.approx(everything.sum()) and sketch.total_sq == pytest.approx(np.square(everything).sum())
    assert sketch.low == everything.min() and sketch.high == everything.max()  # the extremes are exact
    assert _rank_error(sketch, everything) <= depth / size + 1e-9


def test_small_partitions_stay_exact() -> None:
    parts = [np.array([3.0, 1.0]), np.array([2.0, 2.0, 5.0])]
    sketch = _sketch_of(parts, size=100)
    assert sketch.points.tolist() == [1.0, 2.0, 2.0, 3.0, 5.0]


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32)), min_size=1, max_size=60),
    cut=st.integers(0, 60),
    lo=st.one_of(st.none(), st.floats(-10, 0)),
    hi=st.one_of(st.none(), st.floats(0, 10)),
)
def test_numeric_facts_merge_like_one_pass(values, cut, lo, hi) -> None:
    whole = NumericFacts.of(pa.array(values, type=pa.float64()), lo, hi, keep=5)
    a = NumericFacts.of(pa.array(values[:cut], type=pa.float64()), lo, hi, keep=5)
    b = NumericFacts.of(pa.array(values[cut:], type=pa.float64()), lo, hi, keep=5)
    merged = a.merge(b)
    assert (merged.rows, merged.missing, merged.below, merged.above) == (whole.rows, whole.missing, whole.below, whole.above)
    assert np.array_equal([merged.low, merged.high], [whole.low, whole.high], equal_nan=True)
    assert sorted(merged.distances.tolist()) == sorted(whole.distances.tolist())  # the same farthest offenders


def test_numeric_facts_by_hand() -> None:
    facts = NumericFacts.of(pa.array([None, 1.0, float("nan"), -4.0, 12.0, float("inf"), 5.0]), lo=0, hi=10, keep=2)
    assert (facts.rows, facts.missing, facts.present) == (7, 2, 5)
    assert (facts.low, facts.high, facts.below, facts.above) == (-4.0, float("inf"), 1, 2)
    assert facts.offenders.tolist() == [float("inf"), -4.0]  # farthest first: inf, then 4 below, then 2 above


def test_other_facts_merge() -> None:
    a = pa.array(["a", None, "b", "a"])
    b = pa.array(["c", "a", None])
    merged = category_counts(a).merge(category_counts(b))
    assert merged.as_dict() == {"a": 3, "b": 1, "c": 1} and merged.missing == 2
    assert category_counts(pa.array([1, 1, None])).as_dict() == {1: 2}  # values keep their type

    p = PredictionFacts.of(pa.array([0.2, None, float("nan"), 1.5])).merge(PredictionFacts.of(pa.array([float("inf"), 0.2])))
    assert (p.rows, p.null, p.nan, p.inf, p.outside_0_1, p.finite, p.low, p.high) == (6, 1, 1, 1, 1, 3, 0.2, 1.5)
    assert not p.constant and PredictionFacts.of(pa.array([0.3, 0.3])).merge(PredictionFacts.of(pa.array([0.3]))).constant
    labels = PredictionFacts.of(pa.array(["yes", "yes"])).merge(PredictionFacts.of(pa.array(["no"])))
    assert not labels.constant

    ts = pa.array([10, 5, None, 40], type=pa.timestamp("us"))
    t = TimeFacts.of(ts[:2], "t").merge(TimeFacts.of(ts[2:], "t"))
    assert (t.count, t.oldest, t.newest) == (3, 5, 40)
    w = WindowCounts.of(ts[:2], "t", origin=5, width=10, windows=4).merge(
        WindowCounts.of(ts[2:], "t", origin=5, width=10, windows=4)
    )
    assert w.counts.tolist() == [2, 0, 0, 1]  # (10-5)//10 = (5-5)//10 = 0, (40-5)//10 = 3
