"""mlrel init: the policy it writes is valid and passes validate on its own reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import binary_log

from mlrel_cli.policy import load_policy


def test_init_then_validate_passes_on_samples(mlrel, samples, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    result = mlrel("init", "--from", samples / "reference.parquet", "-o", policy)
    assert result.exit_code == 0, result.stderr
    loaded = load_policy(policy)
    assert loaded.task == "binary_classification"
    assert loaded.features["country"].allowed and loaded.features["amount"].kind == "numeric"
    assert loaded.columns.id == "prediction_id"
    assert mlrel("validate", samples / "reference.parquet", "-p", policy).exit_code == 0


@pytest.mark.parametrize("kind", ["regression", "multiclass", "duplicates_and_gap"])
def test_init_on_other_shapes_of_log(mlrel, write_log, tmp_path, kind) -> None:
    rng = np.random.default_rng(3)
    n = 3000
    if kind == "regression":
        y = rng.gamma(2, 30, n)
        cols = {"target": y, "score": y * rng.normal(1, 0.1, n), "region": rng.choice(list("abcd"), n)}
    elif kind == "multiclass":
        y = rng.choice(["cat", "dog", "eel"], n)
        cols = {"y": y, "pred": np.where(rng.random(n) < 0.8, y, "cat"), "w": rng.random(n)}
    else:
        cols = binary_log(n=n)
        cols["prediction_id"] = [f"id-{i // 2}" for i in range(n)]
        ts = cols["timestamp"].to_numpy().copy()
        ts[n // 2 :] += np.timedelta64(3, "h")
        cols["timestamp"] = ts
    ref = write_log(cols)
    policy = tmp_path / "p.yaml"
    assert mlrel("init", "--from", ref, "-o", policy).exit_code == 0
    code, report = mlrel.json("validate", ref, "-p", policy)
    assert code == 0, [c for c in report["checks"] if c["status"] not in ("pass", "skipped", "warn")]
    expected = {"regression": "regression", "multiclass": "multiclass_classification"}.get(kind)
    if expected:
        assert report["inputs"]["task"] == expected
    if kind == "duplicates_and_gap":
        text = policy.read_text()
        assert "# note: the reference repeats ids" in text and "# note: downtime check disabled" in text


def test_init_refuses_to_overwrite(mlrel, samples, tmp_path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("mine")
    result = mlrel("init", "--from", samples / "reference.parquet", "-o", policy)
    assert result.exit_code == 2 and policy.read_text() == "mine"
    assert mlrel("init", "--from", samples / "reference.parquet", "-o", policy, "--force").exit_code == 0


def test_init_to_stdout_is_yaml(mlrel, samples) -> None:
    result = mlrel("init", "--from", samples / "reference.parquet")
    data = yaml.safe_load(result.stdout)
    assert data["columns"]["prediction"] == "prediction"
    json.dumps(data)


def test_init_without_a_prediction_column(mlrel, write_log) -> None:
    result = mlrel("init", "--from", write_log({"a": [1.0, 2.0], "b": ["x", "y"]}))
    assert result.exit_code == 2 and result.stderr.startswith("error: cannot tell which column")
