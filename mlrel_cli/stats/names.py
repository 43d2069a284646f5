"""The names the policy may use for metrics and drift methods, with what the code needs to know of each.

Kept free of numpy so that loading a policy (for ``mlrel rollback`` at 3 a.m.)
imports nothing heavy; the implementations live in ``metrics.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

# The names as types, for the policy's schema (a Literal cannot be built from a tuple where mypy sees it); the
# tuples are read from them, and tests/test_vocabulary.py checks the task constants below spell the same names.
TaskName = Literal["binary_classification", "multiclass_classification", "regression", "ranking"]
DriftMethodName = Literal["psi", "ks", "wasserstein", "jensen_shannon", "chi2"]

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"
RANKING = "ranking"
TASKS: tuple[str, ...] = get_args(TaskName)


@dataclass(frozen=True)
class MetricInfo:
    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool
    description: str


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("accuracy", (BINARY, MULTICLASS), True, "share of correct predicted classes"),
    MetricInfo("precision", (BINARY, MULTICLASS), True, "binary: of predicted positives; multiclass: macro"),
    MetricInfo("recall", (BINARY, MULTICLASS), True, "binary: of actual positives; multiclass: macro"),
    MetricInfo("f1", (BINARY, MULTICLASS), True, "harmonic mean of precision and recall (macro for multiclass)"),
    MetricInfo("roc_auc", (BINARY,), True, "area under the ROC curve of the score, ties counted half"),
    MetricInfo("log_loss", (BINARY,), False, "mean negative log-likelihood, scores clipped to [1e-15, 1-1e-15]"),
    MetricInfo("brier", (BINARY,), False, "mean squared error of the score against the 0/1 label"),
    MetricInfo("positive_rate", (BINARY,), True, "share of predictions at or above the decision threshold"),
    MetricInfo("rmse", (REGRESSION,), False, "root mean squared error"),
    MetricInfo("mae", (REGRESSION,), False, "mean absolute error"),
    MetricInfo("mape", (REGRESSION,), False, "mean absolute percentage error over rows whose label is not 0"),
    MetricInfo("r2", (REGRESSION,), True, "coefficient of determination"),
    MetricInfo("ndcg", (RANKING,), True, "NDCG@k over queries with engagement (k: validate.performance.k)"),
    MetricInfo("mrr", (RANKING,), True, "mean reciprocal rank of the first engaged result (0 when none)"),
    MetricInfo("ctr", (RANKING,), True, "share of the top-k results engaged with, averaged over queries"),
    MetricInfo("no_engagement", (RANKING,), False, "share of queries with no engagement at all"),
)
METRIC_BY_NAME = {m.name: m for m in METRICS}

# What compare judges besides the label and proxy metrics (from every model's rows, labelled or not); a policy may
# name them in compare.primary_metric and compare.max_regression.
COMPARE_EXTRAS: tuple[MetricInfo, ...] = (
    MetricInfo("latency_p50", TASKS, False, "median latency"),
    MetricInfo("latency_p95", TASKS, False, "95th percentile of latency"),
    MetricInfo("latency_p99", TASKS, False, "99th percentile of latency"),
    MetricInfo("error_rate", TASKS, False, "share of null, NaN, infinite or out-of-range outputs"),
    MetricInfo("mean_score", TASKS, True, "mean prediction"),
)
COMPARE_EXTRA_BY_NAME = {m.name: m for m in COMPARE_EXTRAS}

DRIFT_METHODS: tuple[str, ...] = get_args(DriftMethodName)
