"""The change-point detector on series with known change points, and without one."""

from __future__ import annotations

import numpy as np
import pytest

from mlrel_cli.stats.changepoint import detect_change


@pytest.mark.parametrize(("length", "at", "shift"), [(48, 30, 1.0), (96, 20, 0.8), (24, 12, 2.0), (60, 55, 3.0)])
def test_finds_a_known_change_within_one_window(length: int, at: int, shift: float) -> None:
    rng = np.random.default_rng(length + at)
    series = rng.normal(0, 0.3, length)
    series[at:] += shift
    found = detect_change(series)
    assert found.index is not None and abs(found.index - at) <= 1
    assert found.after - found.before == pytest.approx(shift, abs=0.3)


@pytest.mark.parametrize("seed", range(20))
def test_no_change_no_onset(seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert detect_change(rng.normal(5, 2, 64)).index is None


def test_finds_a_pulse_that_ended() -> None:
    """A bad release rolled back after four windows: onset and end both found."""
    rng = np.random.default_rng(9)
    series = rng.normal(0.12, 0.04, 96)
    series[52:56] += 0.15
    found = detect_change(series)
    assert found.index == 52 and found.end == 56


def test_weights_count_rows() -> None:
    rng = np.random.default_rng(3)
    series = np.r_[rng.normal(0, 0.1, 15), rng.normal(1, 0.1, 15)]
    rows = np.full(30, 100)
    series[8], rows[8] = 9.0, 1  # a one-row outlier window barely counts
    assert detect_change(series, rows).index == 15


def test_too_short_or_constant() -> None:
    assert detect_change(np.array([1.0, 2.0])).index is None
    assert detect_change(np.ones(30)).index is None
    assert detect_change(np.array([np.nan] * 10)).index is None


def _incident_rows(windows: int, rows_per_window: int, seed: int, drop_from: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-row correctness (accuracy 0.9) in time order; from window ``drop_from`` on it falls by a third."""
    rng = np.random.default_rng(seed)
    window = np.repeat(np.arange(windows), rows_per_window)
    accuracy = np.where(drop_from is not None and window >= (drop_from or 0), 0.6, 0.9) if drop_from is not None else 0.9
    return (rng.random(len(window)) < accuracy).astype(float), window


@pytest.mark.parametrize("windows", [8, 96])
def test_rows_find_the_onset_of_a_short_or_long_incident(windows: int) -> None:
    from mlrel_cli.stats.changepoint import detect_change_rows

    values, window = _incident_rows(windows, 200, windows, drop_from=windows // 2)
    found = detect_change_rows(values, window)
    assert found.index == windows // 2 and found.p_value <= 0.005
    assert found.before == pytest.approx(0.9, abs=0.03) and found.after == pytest.approx(0.6, abs=0.03)
    # the window-level test cannot on 8 windows: its evidence is the windows, not the rows
    if windows == 8:
        means = np.bincount(window, weights=values) / np.bincount(window)
        assert detect_change(means, np.bincount(window)).index is None


@pytest.mark.parametrize("windows", [8, 96])
def test_rows_false_onset_rate_at_most_1_percent(windows: int) -> None:
    """400 unchanged series: an onset in at most 1 % of them (binomial: P(X > 8 | p = 0.01) < 3 %)."""
    from mlrel_cli.stats.changepoint import detect_change_rows

    onsets = sum(
        detect_change_rows(*_incident_rows(windows, 100, seed, None), seed=seed).index is not None for seed in range(400)
    )
    assert onsets <= 8


def test_rows_s_statistic_by_hand() -> None:
    """Two windows of 2 rows, [0, 0] then [1, 1]: no segment satisfies min_size 1 with a >= 1 except [1, 2),
    S = (2 * 2 / 4) (1 - 0)^2 / 0.25 = 4."""
    from mlrel_cli.stats.changepoint import _scan

    a, b, s = _scan(np.array([0.0, 1.0, 1.0]), np.array([2.0, 2.0, 2.0]), 1, row_variance=0.25)
    assert (a, b) == (1, 3) and s == pytest.approx((2 * 4 / 6) * 1.0 / 0.25)
