"""The task table (mlrel_cli/tasks.py): one record per task, agreeing with the metric table, computing real metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

from mlrel_cli.stats.names import BINARY, METRIC_BY_NAME, MULTICLASS, RANKING, REGRESSION, TASKS
from mlrel_cli.tasks import TASK_BY_NAME, TASK_TABLE, per_query, row_metrics, task_of


def test_one_record_per_task() -> None:
    assert sorted(t.name for t in TASK_TABLE) == sorted(TASKS)
    assert len(TASK_BY_NAME) == len(TASK_TABLE)


@pytest.mark.parametrize("task", TASK_TABLE, ids=lambda t: t.name)
def test_the_metrics_named_apply_to_the_task(task) -> None:
    assert task.metrics and all(task.name in METRIC_BY_NAME[m].tasks for m in task.metrics)
    assert task.primary_metric in task.metrics
    if task.starting_bound is not None:
        metric, side, margin = task.starting_bound
        assert metric in task.metrics and side in ("min", "max") and margin > 0
        assert (side == "min") == METRIC_BY_NAME[metric].higher_is_better


def test_binary_metrics_by_hand_and_against_scikit_learn() -> None:
    truth = np.array([True, False, True, True])
    score = np.array([0.9, 0.4, 0.3, 0.8])
    found = TASK_BY_NAME[BINARY].compute(truth, score, 0.5)
    assert found["accuracy"] == pytest.approx(0.75)  # predicted 1, 0, 0, 1
    assert found["roc_auc"] == pytest.approx(2 / 3)  # 0.9 and 0.8 above the negative's 0.4, 0.3 below
    assert found["roc_auc"] == pytest.approx(roc_auc_score(truth, score))
    assert TASK_BY_NAME[BINARY].compute(truth, score, 0.85)["accuracy"] == pytest.approx(0.5)  # the threshold is used


def test_multiclass_and_regression_against_scikit_learn() -> None:
    truth, predicted = np.array(["a", "b", "c", "a"]), np.array(["a", "b", "a", "a"])
    assert TASK_BY_NAME[MULTICLASS].compute(truth, predicted)["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    y, p = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0])
    rmse = TASK_BY_NAME[REGRESSION].compute(y, p, 0.9)["rmse"]  # no threshold for a regression: ignored
    assert rmse == pytest.approx(math.sqrt(4 / 3)) and rmse == pytest.approx(math.sqrt(mean_squared_error(y, p)))


def test_helpers() -> None:
    assert per_query(RANKING) and not per_query(BINARY) and not per_query(None)
    assert row_metrics(REGRESSION) and not row_metrics(RANKING) and not row_metrics("unknown") and not row_metrics(None)
    assert task_of(None) is None and task_of("unknown") is None and task_of(BINARY).probability
