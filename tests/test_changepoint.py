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
