"""Every metric against scikit-learn, on random data and on edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlrel_cli.stats.inference import bootstrap_se
from mlrel_cli.stats.metrics import binary_metrics, multiclass_metrics, regression_metrics, roc_auc


def _binary_case(seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    score = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    return y, np.round(score, 2)  # rounding makes ties, which AUC must count half


@pytest.mark.parametrize("seed", range(5))
def test_binary_metrics_match_sklearn(seed: int) -> None:
    y, score = _binary_case(seed)
    got = binary_metrics(y, score, threshold=0.5)
    pred = score >= 0.5
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, zero_division=0))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, np.clip(score, 1e-15, 1 - 1e-15)))
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, score))
    assert got["positive_rate"] == pytest.approx(pred.mean())


def test_auc_by_hand() -> None:
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4) (0.8>0.1) (0.4=0.4 -> 1/2) (0.4>0.1) -> 3.5 / 4
    assert roc_auc(np.array([1, 1, 0, 0], bool), np.array([0.8, 0.4, 0.4, 0.1])) == pytest.approx(0.875)


def test_auc_undefined_with_one_class() -> None:
    assert np.isnan(roc_auc(np.array([True, True]), np.array([0.2, 0.9])))


def test_no_predicted_positive_gives_zero_precision_like_sklearn() -> None:
    y = np.array([True, False, True])
    got = binary_metrics(y, np.array([0.1, 0.2, 0.3]))
    assert got["precision"] == 0.0 and got["f1"] == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.choice(["a", "b", "c", "d"], size=400)
    pred = np.where(rng.random(400) < 0.6, y, rng.choice(["a", "b", "c", "e"], size=400))
    got = multiclass_metrics(y, pred)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert got[name] == pytest.approx(fn(y, pred, average="macro", zero_division=0)), name


@pytest.mark.parametrize("seed", range(3))
def test_regression_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, 300)
    y[:5] = 0.0  # MAPE skips rows whose label is 0
    pred = y + rng.normal(0, 1, 300)
    got = regression_metrics(y, pred)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred))
    nz = y != 0
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y[nz], pred[nz]))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.floats(0, 1, allow_nan=False)), min_size=2, max_size=60).filter(
        lambda rows: 0 < sum(r[0] for r in rows) < len(rows)
    )
)
def test_auc_property_matches_sklearn(rows: list[tuple[bool, float]]) -> None:
    y = np.array([r[0] for r in rows])
    score = np.array([r[1] for r in rows])
    assert roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score))


def test_bootstrap_se_of_a_mean_matches_the_formula() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, 5000)
    se = bootstrap_se(lambda a: float(a.mean()), (x,), resamples=400)
    assert se == pytest.approx(2 / np.sqrt(5000), rel=0.15)


def test_bootstrap_se_scales_from_a_subsample() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 200_000)
    se = bootstrap_se(lambda a: float(a.mean()), (x,), resamples=300, max_rows=10_000)
    assert se == pytest.approx(1 / np.sqrt(200_000), rel=0.2)
