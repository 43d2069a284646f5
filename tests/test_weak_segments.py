"""`mlrel validate`'s weak_segments check: a slice the policy never declared is found, listed in every format,
and gated by `max_gap`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import binary_log, check


def _planted(n: int = 6000, seed: int = 0) -> dict:
    """A healthy log, except that the model is wrong half the time for nice with x in its top fifth (~7 %)."""
    cols = binary_log(n=n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    x = np.asarray(cols["x"])
    inside = (np.asarray(cols["city"]) == "nice") & (x >= np.quantile(x, 0.8))
    score = np.asarray(cols["prediction"]).copy()
    flip = inside & (rng.random(n) < 0.5)
    score[flip] = 1 - score[flip]
    cols["prediction"] = score
    cols["device"] = rng.choice(["ios", "android", "web"], size=n).tolist()
    return cols


def test_validate_finds_the_planted_slice_first(mlrel, write_log, write_policy) -> None:
    log = write_log(_planted())
    code, report = mlrel.json("validate", log, "-p", write_policy("validate: {freshness: {enabled: false}}\n"))
    found = check(report, "weak_segments")
    assert found["status"] == "pass" and code == 0  # no max_gap: reported only
    top = report["weak_segments"][0]
    assert {(c["column"], c["op"]) for c in top["conditions"]} == {("city", "=="), ("x", ">=")}
    assert top["metric"] == "log_loss" and top["delta"] > 0.3
    assert top["ci_low"] < top["delta"] < top["ci_high"] and top["p_value"] <= top["adjusted_p"] <= 0.05
    assert set(top) >= {
        "conditions",
        "rows",
        "metric",
        "inside",
        "outside",
        "delta",
        "ci_low",
        "ci_high",
        "p_value",
        "adjusted_p",
    }
    assert found["details"]["weak_segments"] == report["weak_segments"]
    assert found["details"]["tried"] >= len(report["weak_segments"])


def test_max_gap_makes_it_a_gate(mlrel, write_log, write_policy) -> None:
    log = write_log(_planted())
    code, report = mlrel.json(
        "validate", log, "-p", write_policy("validate: {freshness: {enabled: false}, weak_segments: {max_gap: 0.05}}\n")
    )
    assert code == 1 and check(report, "weak_segments")["status"] == "fail"
    assert check(report, "weak_segments")["threshold"] == 0.05
    code, report = mlrel.json(
        "validate", log, "-p", write_policy("validate: {freshness: {enabled: false}, weak_segments: {max_gap: 5}}\n")
    )
    assert code == 0 and check(report, "weak_segments")["status"] == "pass"


def test_a_healthy_log_has_no_weak_segment(mlrel, write_log, write_policy) -> None:
    cols = binary_log(n=6000, seed=3)
    policy = write_policy("validate: {weak_segments: {max_gap: 0.05, columns: [city]}}\n")
    _, report = mlrel.json("validate", write_log(cols), "-p", policy)
    assert check(report, "weak_segments")["status"] == "pass" and report["weak_segments"] == []


def test_log_loss_is_higher_where_the_outcome_is_uncertain(mlrel, write_log, write_policy) -> None:
    """x drives the score: near x = 0 a calibrated model's log loss is highest, and the search says so (docs/segments.md)."""
    _, report = mlrel.json("validate", write_log(binary_log(n=6000, seed=3)), "-p", write_policy("{}\n"))
    assert report["weak_segments"][0]["conditions"][0]["column"] == "x"
    assert report["weak_segments"][0]["conditions"][0]["op"] == "between"


@pytest.mark.parametrize("fmt", ["table", "markdown", "junit", "html"])
def test_every_format_lists_the_slices(mlrel, write_log, write_policy, fmt: str) -> None:
    log = write_log(_planted())
    result = mlrel("validate", log, "-p", write_policy("validate: {freshness: {enabled: false}}\n"), "--format", fmt)
    assert "city == nice" in result.stdout


def test_regression_and_multiclass_losses(mlrel, write_log, write_policy) -> None:
    rng = np.random.default_rng(5)
    n = 5000
    cols = binary_log(n=n, seed=5)
    y = rng.normal(size=n)
    pred = y + rng.normal(0, 0.3, n)
    bad = np.asarray(cols["city"]) == "lyon"
    pred[bad] += rng.normal(0, 1.5, bad.sum())
    cols.update(label=y, prediction=pred)
    _, report = mlrel.json(
        "validate", write_log(cols), "-p", write_policy("task: regression\nvalidate: {freshness: {enabled: false}}\n")
    )
    top = report["weak_segments"][0]
    assert top["metric"] == "squared_error" and top["conditions"] == [{"column": "city", "op": "==", "value": "lyon"}]

    truth = rng.choice(["a", "b", "c"], size=n)
    predicted = truth.copy()
    wrong = bad & (rng.random(n) < 0.4)
    predicted[wrong] = np.where(truth[wrong] == "a", "b", "a")
    cols.update(label=truth.tolist(), prediction=predicted.tolist())
    _, report = mlrel.json(
        "validate",
        write_log(cols),
        "-p",
        write_policy("task: multiclass_classification\nvalidate: {freshness: {enabled: false}}\n"),
    )
    assert report["weak_segments"][0]["metric"] == "error_rate"
    assert report["weak_segments"][0]["conditions"][0]["value"] == "lyon"


def test_a_column_not_in_the_log_is_an_input_error(mlrel, write_log, write_policy) -> None:
    result = mlrel("validate", write_log(binary_log()), "-p", write_policy("validate: {weak_segments: {columns: [nope]}}\n"))
    assert result.exit_code == 2
    assert "validate.weak_segments.columns" in result.stderr and "nope" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("bad", ["max_gap: -1", "bins: 1", "min_effect: x", "time_budget: 10", "unknown: 1"])
def test_bad_policy_values_are_input_errors(mlrel, write_log, write_policy, bad: str) -> None:
    result = mlrel("validate", write_log(binary_log()), "-p", write_policy(f"validate:\n  weak_segments:\n    {bad}\n"))
    assert result.exit_code == 2 and "validate.weak_segments" in result.stderr


def test_disabled_check_is_absent(mlrel, write_log, write_policy) -> None:
    _, report = mlrel.json("validate", write_log(_planted()), "-p", write_policy("validate: {weak_segments: {enabled: false}}\n"))
    assert all(c["name"] != "weak_segments" for c in report["checks"]) and report["weak_segments"] == []
    assert json.dumps(report)
