"""Classification and regression metrics, vectorised over numpy arrays.

Each returns a float, NaN where the metric is undefined on the data (ROC AUC
with one class only, R² on a constant label). The definitions follow
scikit-learn's (precision of no predicted positive is 0, macro averages over
the classes present in labels or predictions) and are tested against it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlrel_cli.stats.names import BINARY, MULTICLASS, REGRESSION

LOG_LOSS_EPS = 1e-15


# ---------------------------------------------------------------- binary


def _confusion(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.count_nonzero(y_true & y_pred))
    fp = int(np.count_nonzero(~y_true & y_pred))
    fn = int(np.count_nonzero(y_true & ~y_pred))
    tn = len(y_true) - tp - fp - fn
    return tp, fp, fn, tn


def _safe_ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney form of the AUC: ties between a positive and a negative count half.

    Sum of the positives' average ranks, computed per group of tied scores
    from one sort, without building the rank array.
    """
    y_true = np.asarray(y_true, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    n = len(y_true)
    n_pos = int(np.count_nonzero(y_true))
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="quicksort")
    sorted_scores = score[order]
    ends = np.append(np.flatnonzero(np.diff(sorted_scores)) + 1, n)
    starts = np.append(0, ends[:-1])
    positives_before = np.concatenate(([0], np.cumsum(y_true[order], dtype=np.int64)))
    positives = positives_before[ends] - positives_before[starts]
    average_rank = (starts + ends + 1) / 2.0  # ranks start+1 .. end, 1-based
    rank_sum = float(np.dot(average_rank, positives))
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def log_loss(y_true: np.ndarray, score: np.ndarray) -> float:
    p = np.clip(np.asarray(score, dtype=np.float64), LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    y = np.asarray(y_true, dtype=bool)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def brier(y_true: np.ndarray, score: np.ndarray) -> float:
    return float(np.mean((np.asarray(score, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)) ** 2))


BINARY_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier", "positive_rate")  # as reported


def binary_metrics(y_true: np.ndarray, score: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """All binary metrics at once; ``y_true`` is boolean (positive class), ``score`` a probability."""
    y_true = np.asarray(y_true, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    y_pred = score >= threshold
    tp, fp, fn, tn = _confusion(y_true, y_pred)
    precision = _safe_ratio(tp, tp + fp)
    recall = _safe_ratio(tp, tp + fn)
    return {
        "accuracy": (tp + tn) / len(y_true) if len(y_true) else float("nan"),
        "precision": precision,
        "recall": recall,
        "f1": _safe_ratio(2 * precision * recall, precision + recall),
        "roc_auc": roc_auc(y_true, score),
        "log_loss": log_loss(y_true, score),
        "brier": brier(y_true, score),
        "positive_rate": float(np.mean(y_pred)) if len(y_pred) else float("nan"),
    }


# ---------------------------------------------------------------- multiclass


def multiclass_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-averaged precision, recall, F1 over the classes seen in either array."""
    classes, codes = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]), return_inverse=True)
    k = len(classes)
    t = codes[: len(y_true)]
    p = codes[len(y_true) :]
    return multiclass_from_confusion(np.bincount(t * k + p, minlength=k * k).reshape(k, k))


def multiclass_from_confusion(confusion: np.ndarray) -> dict[str, float]:
    """The multiclass metrics from a confusion matrix (rows: true class, columns: predicted), macro-averaged
    over the classes it holds: mergeable, so a cluster can add partitions' matrices and get the same numbers."""
    total = confusion.sum()
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return {
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
    }


# ---------------------------------------------------------------- regression


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    err = p - y
    nonzero = y != 0
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2)) if len(y) else 0.0
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "mape": float(np.mean(np.abs(err[nonzero] / y[nonzero]))) if nonzero.any() else float("nan"),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
    }


def regression_sums(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """What the regression metrics need, as sums: partitions add up to the whole."""
    y = np.asarray(y_true, dtype=np.float64)
    err = np.asarray(y_pred, dtype=np.float64) - y
    nonzero = y != 0
    return {
        "n": len(y),
        "sum_abs": float(np.abs(err).sum()),
        "sum_sq": float((err**2).sum()),
        "sum_y": float(y.sum()),
        "sum_y2": float((y**2).sum()),
        "sum_ape": float(np.abs(err[nonzero] / y[nonzero]).sum()),
        "nonzero": int(nonzero.sum()),
    }


def regression_from_sums(sums: dict[str, float]) -> dict[str, float]:
    """regression_metrics from regression_sums (R² from the sums of y and y², the one-pass form)."""
    n = sums["n"]
    ss_tot = sums["sum_y2"] - sums["sum_y"] ** 2 / n if n else 0.0
    return {
        "rmse": float(np.sqrt(sums["sum_sq"] / n)) if n else float("nan"),
        "mae": sums["sum_abs"] / n if n else float("nan"),
        "mape": sums["sum_ape"] / sums["nonzero"] if sums["nonzero"] else float("nan"),
        "r2": 1.0 - sums["sum_sq"] / ss_tot if ss_tot > 0 else float("nan"),
    }


def metric_value(task: str, name: str, truth: np.ndarray, predicted: np.ndarray, threshold: float = 0.5) -> float:
    """One metric; cheaper than the task's full set where that matters (bootstrap loops)."""
    if task == BINARY:
        if name == "roc_auc":
            return roc_auc(truth, predicted)
        if name == "log_loss":
            return log_loss(truth, predicted)
        if name == "brier":
            return brier(truth, predicted)
        return binary_metrics(truth, predicted, threshold)[name]
    return TASK_METRICS[task](truth, predicted)[name]


TASK_METRICS: dict[str, Callable[..., dict[str, float]]] = {
    BINARY: binary_metrics,
    MULTICLASS: multiclass_metrics,
    REGRESSION: regression_metrics,
}
