"""The resolved task drives every check: the same verdicts with `task:` declared and inferred, on both engines,
for binary scores, integer classes and string classes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from conftest import T0_US, check

N = 3000


def _classifier(seed: int, classes: str, leak: bool = False, version: str = "v1") -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, N)
    cols: dict[str, Any] = {
        "timestamp": pa.array(T0_US + np.arange(N, dtype=np.int64) * 1_000_000, type=pa.timestamp("us", tz="UTC")),
        "prediction_id": [f"r{seed}-{i}" for i in range(N)],
        "model_version": [version] * N,
        "x": x,
        "latency_ms": rng.lognormal(3, 0.3, N),
    }
    if classes == "binary":
        score = 1 / (1 + np.exp(-2 * x))
        if leak:  # raw scores of 1.2-6 instead of probabilities on 5 % of the rows
            score[: N // 20] = rng.uniform(1.2, 6.0, N // 20)
        cols["prediction"], cols["label"] = score, (rng.random(N) < 1 / (1 + np.exp(-2 * x))).astype(np.int8)
        return cols
    label = np.digitize(x + rng.normal(0, 0.5, N), [-0.5, 0.5])
    prediction = np.where(rng.random(N) < 0.85, np.digitize(x, [-0.5, 0.5]), rng.integers(0, 3, N))
    if classes == "str":
        names = np.array(["low", "mid", "high"])
        label, prediction = names[label], names[prediction]
    cols["prediction"], cols["label"] = prediction.tolist() if classes == "str" else prediction, label
    return cols


def _policy(write_policy: Any, task: str | None) -> Any:
    return write_policy(f"version: 1\ntask: {task}\n" if task else "version: 1\n")


@pytest.mark.parametrize("declared", [None, "binary_classification"])
def test_leaked_raw_scores_fail_the_prediction_check_declared_or_not(declared, mlrel, write_log, write_policy) -> None:
    log = write_log(_classifier(1, "binary", leak=True))
    code, report = mlrel.json("validate", log, "-p", _policy(write_policy, declared))
    found = check(report, "prediction")
    assert code == 1 and found["status"] == "fail" and "outside [0, 1]" in found["message"]
    assert report["inputs"]["task"] == "binary_classification"


@pytest.mark.parametrize("classes", ["int", "str"])
@pytest.mark.parametrize("declared", [None, "multiclass_classification"])
def test_compare_multiclass_with_int_or_str_classes(classes, declared, mlrel, write_log, write_policy) -> None:
    base, cand = write_log(_classifier(2, classes)), write_log(_classifier(3, classes, version="v2"))
    code, report = mlrel.json("compare", "--baseline-log", base, "--candidate-log", cand, "-p", _policy(write_policy, declared))
    assert code in (0, 3), report
    accuracy = report["candidates"][0]["metrics"]["accuracy"]
    assert 0.6 < accuracy["baseline"] < 0.95 and np.isfinite(accuracy["ci_low"])


@pytest.mark.parametrize("classes", ["int", "str"])
@pytest.mark.parametrize("declared", [None, "multiclass_classification"])
def test_drift_compares_classes_as_categories(classes, declared, mlrel, write_log, write_policy) -> None:
    ref, cur = write_log(_classifier(4, classes)), write_log(_classifier(5, classes))
    _, report = mlrel.json("drift", "-r", ref, "-c", cur, "-p", _policy(write_policy, declared))
    outputs = {o["role"]: o for o in report["outputs"]}
    assert outputs["prediction"]["method"] == outputs["label"]["method"] == "jensen_shannon"
    assert outputs["prediction"]["kind"] == "categorical"


def test_compare_counts_leaked_scores_as_errors_when_binary_is_inferred(mlrel, write_log, write_policy) -> None:
    base, cand = write_log(_classifier(6, "binary")), write_log(_classifier(7, "binary", leak=True, version="v2"))
    for declared in (None, "binary_classification"):
        code, report = mlrel.json("compare", "--baseline-log", base, "--candidate-log", cand, "-p",
                                  _policy(write_policy, declared))  # fmt: skip
        assert code == 1 and report["candidates"][0]["metrics"]["error_rate"]["candidate"] == pytest.approx(0.05)


def test_the_dask_engine_resolves_the_task_the_same_way(mlrel, write_log, write_policy) -> None:
    pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install 'mlrel[dask]')")
    from distributed import LocalCluster

    leaked = write_log(_classifier(1, "binary", leak=True))
    ref, cur = write_log(_classifier(4, "int")), write_log(_classifier(5, "int"))
    policy = _policy(write_policy, None)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        engine = ("--engine", "dask", "--scheduler", cluster.scheduler_address)
        code, report = mlrel.json("validate", leaked, "-p", policy, *engine)
        assert code == 1 and "outside [0, 1]" in check(report, "prediction")["message"]
        _, report = mlrel.json("drift", "-r", ref, "-c", cur, "-p", policy, *engine)
        assert {o["role"]: o["method"] for o in report["outputs"]} == {"prediction": "jensen_shannon", "label": "jensen_shannon"}
