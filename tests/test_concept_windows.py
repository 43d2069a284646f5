"""Concept drift per window: the performance metric of each window against the reference, and its onset."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import mean_squared_error, roc_auc_score

from tests.conftest import check

T0_US = 1_795_392_000 * 1_000_000  # 2026-11-23T00:00:00Z
HOUR_US = 3_600 * 1_000_000
ROWS_PER_HOUR = 800


def _binary(rng: np.random.Generator, n: int, quality: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores; ``quality`` is the share of rows whose score follows the label (the others are noise)."""
    label = rng.random(n) < 0.4
    informed = rng.random(n) < quality
    score = np.where(informed, np.clip(0.5 + np.where(label, 0.25, -0.25) + rng.normal(0, 0.15, n), 0, 1), rng.random(n))
    return label.astype(np.int64), score


def _log(path: Path, rng: np.random.Generator, hours: int, drop_from: int | None, task: str = "binary") -> Path:
    n = hours * ROWS_PER_HOUR
    ts = T0_US + np.sort(rng.integers(0, hours * HOUR_US, n))
    hour = (ts - T0_US) // HOUR_US
    quality = np.where(hour >= drop_from, 0.3, 0.9) if drop_from is not None else np.full(n, 0.9)
    columns: dict[str, object] = {"timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")), "x": rng.normal(0, 1, n)}
    if task == "binary":
        columns["label"], columns["prediction"] = _binary(rng, n, quality)
    else:
        truth = rng.normal(50, 10, n)
        noise = np.where(quality > 0.5, 2.0, 8.0)
        columns["label"], columns["prediction"] = truth, truth + rng.normal(0, 1, n) * noise
    pq.write_table(pa.table(columns), path, row_group_size=3_000)  # several row groups: merged on Dask
    return path


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("concept")
    rng = np.random.default_rng(11)
    return {
        "reference": _log(folder / "reference.parquet", rng, 12, None),
        "dropped": _log(folder / "dropped.parquet", rng, 24, 14),
        "unchanged": _log(folder / "unchanged.parquet", rng, 24, None),
        "reg_reference": _log(folder / "reg_reference.parquet", rng, 12, None, "regression"),
        "reg_dropped": _log(folder / "reg_dropped.parquet", rng, 24, 9, "regression"),
    }


def _window_rows(path: Path, start: str) -> pa.Table:
    table = pq.read_table(path)
    begin = int(dt.datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() * 1_000_000)
    ts = table.column("timestamp").cast(pa.int64()).to_numpy()
    return table.filter(pa.array((ts >= begin) & (ts < begin + HOUR_US)))


def test_onset_where_the_accuracy_drops_and_each_window_as_scikit_learn(mlrel, logs) -> None:
    code, report = mlrel.json("drift", "-r", logs["reference"], "-c", logs["dropped"], "--window", "1h")
    concept = report["concept"]
    assert concept["metric"] == "roc_auc"
    assert concept["onset"] == "2026-11-23T14:00:00Z"
    assert len(concept["windows"]) == 24
    assert all(w["status"] == "pass" for w in concept["windows"][:14])
    assert all(w["status"] == "fail" for w in concept["windows"][14:])
    for w in concept["windows"][::5]:  # the local engine's metric is exact on each window's rows
        rows = _window_rows(logs["dropped"], w["start"])
        assert w["rows"] == rows.num_rows
        expected = roc_auc_score(rows.column("label").to_numpy(), rows.column("prediction").to_numpy())
        assert w["value"] == pytest.approx(expected, rel=1e-12)
        assert w["degradation"] == pytest.approx(concept["reference"] - expected, rel=1e-9)
    found = check(report, "concept:roc_auc")
    assert found["status"] == "fail" and code == 1
    assert found["details"]["onset"] == concept["onset"]
    assert found["details"]["window_status"] == [w["status"] for w in concept["windows"]]
    assert "since 2026-11-23 14:00" in found["message"]


def test_no_onset_on_an_unchanged_labelled_log(mlrel, logs) -> None:
    _, report = mlrel.json("drift", "-r", logs["reference"], "-c", logs["unchanged"], "--window", "1h")
    concept = report["concept"]
    assert concept["onset"] is None and concept["status"] == "pass"
    assert len(concept["windows"]) == 24 and not any(w["status"] == "fail" for w in concept["windows"])


def test_regression_per_window_rmse_against_a_scale_free_threshold(mlrel, logs) -> None:
    """RMSE in target units: the default allowed degradation is 5 % of the reference's RMSE, in every window."""
    _, report = mlrel.json("drift", "-r", logs["reg_reference"], "-c", logs["reg_dropped"], "--window", "1h")
    concept = report["concept"]
    assert concept["metric"] == "rmse" and concept["onset"] == "2026-11-23T09:00:00Z"
    assert concept["threshold"] == pytest.approx(0.05 * concept["reference"])
    assert all(w["status"] != "fail" for w in concept["windows"][:9])
    rows = _window_rows(logs["reg_dropped"], concept["windows"][3]["start"])
    expected = mean_squared_error(rows.column("label").to_numpy(), rows.column("prediction").to_numpy()) ** 0.5
    assert concept["windows"][3]["value"] == pytest.approx(expected, rel=1e-12)


def test_without_window_no_windows_and_no_onset(mlrel, logs) -> None:
    _, report = mlrel.json("drift", "-r", logs["reference"], "-c", logs["dropped"])
    assert report["concept"]["windows"] == [] and report["concept"]["onset"] is None


def test_table_shows_the_metric_per_window(mlrel, logs) -> None:
    result = mlrel("drift", "-r", logs["reference"], "-c", logs["dropped"], "--window", "1h")
    line = next(row for row in result.stdout.splitlines() if "concept:roc_auc" in row)
    assert any(block in line for block in "▁▂▃▄▅▆▇█"), line


def test_same_onset_on_dask(mlrel, logs) -> None:
    pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install 'mlrel[dask]')")
    from distributed import LocalCluster

    args = ("drift", "-r", logs["reference"], "-c", logs["dropped"], "--window", "1h")
    _, local = mlrel.json(*args)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        _, remote = mlrel.json(*args, "--engine", "dask", "--scheduler", cluster.scheduler_address)
        _, calm = mlrel.json(
            "drift", "-r", logs["reference"], "-c", logs["unchanged"], "--window", "1h",
            "--engine", "dask", "--scheduler", cluster.scheduler_address,
        )  # fmt: skip
    assert remote["concept"]["onset"] == local["concept"]["onset"] == "2026-11-23T14:00:00Z"
    a, b = local["concept"]["windows"], remote["concept"]["windows"]
    assert [w["rows"] for w in b] == [w["rows"] for w in a]
    assert [w["status"] for w in b] == [w["status"] for w in a]
    assert [w["value"] for w in b] == pytest.approx([w["value"] for w in a], abs=0.01)  # ROC AUC from score cells
    assert calm["concept"]["onset"] is None
    json.dumps(remote)  # plain JSON values
